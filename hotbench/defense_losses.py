"""The training losses of the adversarial defenses (declared in `hotbench.defenses`, which names
them: "hotbench.defense_losses:pgd_at"), built on hotbench's own attacks.

The inner maximisation is the attack code hotbench evaluates with, not a copy: PGD-AT crafts its
points with `attacks.patched.seeded_pgd_class` (torchattacks' PGD with a per-sample seeded random
start, the seeds drawn from the training run's generator, so a run is reproducible bit for bit),
TRADES with torchattacks' TPGD (Zhang et al.'s KL inner loss, their 0.001 * N(0, 1) start). Both
attack the output the training minimises cross-entropy on, act(z / T_train): for "tanh T=50 +
PGD-AT" that is tanh(z / 50), which does not saturate, so the inner attack is as strong as on a
plain classifier."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .attacks.patched import seeded_pgd_class
from .attacks.spec import torchattacks
from .config import TrainConfig

# (model, clean batch, labels, the run's generator) -> the batch's mean loss, with a graph
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def pgd_at(cfg: TrainConfig) -> BatchLoss:
    """Madry et al. 2018: minimise the cross-entropy at the PGD point (random start, Linf)."""

    p = cfg.defense_params

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        atk = seeded_pgd_class()(
            model,
            eps=p["train_eps"],
            alpha=p["train_alpha"],
            steps=p["train_steps"],
            random_start=True,
        )
        atk.sample_seeds = torch.randint(0, 2**31 - 1, (x.shape[0],), generator=gen)
        x_adv = atk(x, y)
        return F.cross_entropy(model(x_adv), y)

    return loss


def trades(cfg: TrainConfig) -> BatchLoss:
    """Zhang et al. 2019: CE(clean) + beta * KL(p(clean) || p(adv)) / batch, the adversarial point
    maximising the KL term (TPGD)."""

    p = cfg.defense_params

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        atk = torchattacks().TPGD(
            model, eps=p["train_eps"], alpha=p["train_alpha"], steps=p["train_steps"]
        )
        x_adv = atk(x, y)
        out = model(x)
        kl = F.kl_div(
            F.log_softmax(model(x_adv), dim=1), F.softmax(out, dim=1), reduction="batchmean"
        )
        return F.cross_entropy(out, y) + p["trades_beta"] * kl

    return loss
