"""Attacks (through torchattacks) and the evaluation of one attack config on one model.

What hotbench adds around torchattacks, each for a reason given in ../shared/torchattacks-notes.md:
- only clean-correct samples are attacked (adversarial accuracy = correct after attack / all samples);
- every point an attack queries is checked on the deployed model, and the first one inside the threat
  model that it misclassifies is kept: PGD returns its last iterate, so without this a success found at
  step 10 can be lost by step 40 ("silent success", Pintor et al. 2022);
- the global RNG is forked around every batch and each batch gets its own seed, since several attacks
  reset torch's global seed on every call;
- `on="logits"` attacks z / T_train instead of act(z / T_eval), and the result is judged on the deployed
  model: the attack that does not trust the saturated output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .config import AttackConfig
from .data import Split
from .errors import HotbenchError
from .models import HotNet, LogitView, predict
from .registry import Registry

Norm = Literal["Linf", "L2"]


@dataclass(frozen=True)
class AttackSpec:
    name: str
    build: Callable[[nn.Module, AttackConfig], Any]  # (model view, resolved config) -> torchattacks.Attack
    norm: Norm | None  # threat model; None = minimum-norm attack (cw, deepfool): no eps budget
    description: str
    uses_alpha: bool = False
    uses_steps: bool = False
    targeted: bool = True  # supports --targeted
    gradient: bool = True  # follows the model's gradient (False: black-box)
    defaults: dict[str, Any] = field(default_factory=dict)


ATTACKS: Registry[AttackSpec] = Registry("attack")


def _ta():
    try:
        import torchattacks
    except ImportError:
        raise HotbenchError("torchattacks is not installed",
                            "run `make setup` (it installs torchattacks==3.5.1 with --no-deps)") from None
    return torchattacks


def register(spec: AttackSpec) -> AttackSpec:
    return ATTACKS.add(spec.name, spec)


register(AttackSpec("fgsm", lambda m, c: _ta().FGSM(m, eps=c.eps), "Linf",
                    "Fast Gradient Sign Method (Goodfellow et al. 2015), one step"))
register(AttackSpec("bim", lambda m, c: _ta().BIM(m, eps=c.eps, alpha=c.alpha, steps=c.steps), "Linf",
                    "Basic Iterative Method / I-FGSM (Kurakin et al. 2017)", uses_alpha=True, uses_steps=True))
register(AttackSpec("pgd", lambda m, c: _ta().PGD(m, eps=c.eps, alpha=c.alpha, steps=c.steps,
                                                   random_start=c.params["random_start"]), "Linf",
                    "Projected Gradient Descent, Linf, random start (Madry et al. 2018)",
                    uses_alpha=True, uses_steps=True, defaults={"random_start": True}))
register(AttackSpec("pgdl2", lambda m, c: _ta().PGDL2(m, eps=c.eps, alpha=c.alpha, steps=c.steps,
                                                       random_start=c.params["random_start"]), "L2",
                    "Projected Gradient Descent, L2", uses_alpha=True, uses_steps=True,
                    defaults={"random_start": True}))
register(AttackSpec("mim", lambda m, c: _ta().MIFGSM(m, eps=c.eps, alpha=c.alpha, steps=c.steps,
                                                      decay=c.params["decay"]), "Linf",
                    "Momentum Iterative FGSM (Dong et al. 2018)", uses_alpha=True, uses_steps=True,
                    defaults={"decay": 1.0}))
register(AttackSpec("cw", lambda m, c: _ta().CW(m, c=c.params["c"], kappa=c.params["kappa"], steps=c.steps,
                                                 lr=c.params["lr"]), None,
                    "Carlini-Wagner L2, minimum-norm (Carlini and Wagner 2017)", uses_steps=True,
                    defaults={"c": 1.0, "kappa": 0.0, "lr": 0.01}))
register(AttackSpec("deepfool", lambda m, c: _ta().DeepFool(m, steps=c.steps, overshoot=c.params["overshoot"]),
                    None, "DeepFool, minimum-norm L2 (Moosavi-Dezfooli et al. 2016)", uses_steps=True,
                    targeted=False, defaults={"overshoot": 0.02}))


class _Tracked(nn.Module):
    """The model the attack sees. It also watches every full-batch query the attack makes and keeps, per
    sample, the first point that the deployed model misclassifies inside the threat model."""

    def __init__(self, net: HotNet, cfg: AttackConfig, norm: Norm | None, x0: torch.Tensor, y: torch.Tensor):
        super().__init__()
        self.net = net
        self.on = cfg.on
        self.eval_temp = float(cfg.eval_temp)
        self.eps = cfg.eps
        self.norm = norm
        self.x0, self.y = x0, y
        self.found = torch.zeros_like(y, dtype=torch.bool)
        self.best = x0.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net.logits(x)
        out = z / self.net.train_temp if self.on == "logits" else self.net.head(z, self.eval_temp)
        if self.norm is not None and x.shape == self.x0.shape:
            with torch.no_grad():
                deployed = out if self.on == "output" else self.net.head(z, self.eval_temp)
                hit = (deployed.argmax(1) != self.y) & inside(x, self.x0, self.eps, self.norm) & ~self.found
                if hit.any():
                    self.best[hit] = x[hit].detach()
                    self.found |= hit
        return out


def inside(x: torch.Tensor, x0: torch.Tensor, eps: float, norm: Norm | None) -> torch.Tensor:
    """Per sample: is x a valid adversarial input for x0 under the threat model (tolerance for float error)?"""
    d = (x - x0).flatten(1)
    in_box = (x.flatten(1).amin(1) >= -1e-6) & (x.flatten(1).amax(1) <= 1 + 1e-6)
    if norm is None:
        return in_box
    size = d.abs().amax(1) if norm == "Linf" else d.norm(dim=1)
    return in_box & (size <= eps * (1 + 1e-5) + 1e-6)


@dataclass
class AttackOutcome:
    """Per-sample results of one attack config on one model; the aggregate numbers derive from them."""

    config: AttackConfig
    indices: np.ndarray  # test-set indices of the evaluated samples
    labels: np.ndarray
    clean_pred: np.ndarray
    adv_pred: np.ndarray  # = clean_pred where the sample was not attacked (clean-wrong)
    linf: np.ndarray  # perturbation size per sample (0 where the attack returned the clean input)
    l2: np.ndarray
    time_s: float
    n_invalid: int = 0  # adversarial points outside the threat model, discarded

    @property
    def clean_correct(self) -> np.ndarray:
        return self.clean_pred == self.labels

    @property
    def robust(self) -> np.ndarray:
        return self.adv_pred == self.labels

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def metrics(self) -> dict[str, float | int]:
        correct = self.clean_correct
        broken = correct & ~self.robust
        n_correct = int(correct.sum())
        return {
            "n_samples": self.n,
            "n_clean_correct": n_correct,
            "clean_acc": float(correct.mean()) if self.n else float("nan"),
            "adv_acc": float(self.robust.mean()) if self.n else float("nan"),
            "success_rate": float(broken.sum() / n_correct) if n_correct else 0.0,
            "mean_linf": float(self.linf[broken].mean()) if broken.any() else None,
            "mean_l2": float(self.l2[broken].mean()) if broken.any() else None,
            "median_l2": float(np.median(self.l2[broken])) if broken.any() else None,
            "n_invalid": self.n_invalid,
        }


def attacked_model(net: HotNet, cfg: AttackConfig) -> nn.Module:
    """The view an attack follows: the deployed output act(z / T_eval), or the logits z / T_train."""
    return LogitView(net) if cfg.on == "logits" else net.deployed(cfg.eval_temp)


def _set_target_mode(atk: Any, cfg: AttackConfig, spec: AttackSpec) -> None:
    if cfg.targeted is None:
        return
    if not spec.targeted:
        raise HotbenchError(f"attack '{spec.name}' has no targeted mode",
                            "drop --targeted, or pick one of: " + ", ".join(n for n, s in ATTACKS.items() if s.targeted))
    if cfg.targeted == "random":
        atk.set_mode_targeted_random(quiet=True)
    else:
        atk.set_mode_targeted_least_likely(quiet=True)


def attack_batch(net: HotNet, cfg: AttackConfig, x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[torch.Tensor, int]:
    """Adversarial inputs for one batch of clean-correct samples, and how many were discarded as invalid."""
    spec = ATTACKS.get(cfg.method)
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        tracked = _Tracked(net, cfg, spec.norm, x, y)
        atk = spec.build(tracked, cfg)
        if hasattr(atk, "seed"):
            atk.seed = seed
        _set_target_mode(atk, cfg, spec)
        adv = atk(x, y).detach()
    valid = inside(adv, x, cfg.eps, spec.norm)
    n_invalid = int((~valid).sum())
    adv = torch.where(valid.view(-1, 1, 1, 1), adv, x)
    if spec.norm is not None:
        adv = torch.where(tracked.found.view(-1, 1, 1, 1), tracked.best, adv)
    return adv, n_invalid


def run_attack(net: HotNet, test: Split, cfg: AttackConfig, device: torch.device,
               on_batch: Callable[[int], None] | None = None) -> AttackOutcome:
    """Evaluate one resolved attack config on the first `cfg.n_samples` test images."""
    start = time.perf_counter()
    net.eval()
    data = test.head(cfg.n_samples)
    deployed = net.deployed(cfg.eval_temp)
    clean_pred = predict(deployed, data.x)
    adv_pred = clean_pred.clone()
    linf = torch.zeros(len(data))
    l2 = torch.zeros(len(data))
    todo = (clean_pred == data.y).nonzero().flatten()
    n_invalid = 0
    for b, i in enumerate(range(0, todo.numel(), cfg.batch_size)):
        idx = todo[i:i + cfg.batch_size]
        x, y = data.x[idx].to(device), data.y[idx].to(device)
        adv, bad = attack_batch(net, cfg, x, y, seed=cfg.seed * 100_003 + b)
        n_invalid += bad
        with torch.inference_mode():
            adv_pred[idx] = deployed(adv).argmax(1).cpu()
        d = (adv - x).flatten(1).cpu()
        linf[idx] = d.abs().amax(1)
        l2[idx] = d.norm(dim=1)
        if on_batch is not None:
            on_batch(idx.numel())
    n = len(data)
    return AttackOutcome(cfg, np.arange(n), data.y.numpy(), clean_pred.numpy(), adv_pred.numpy(),
                         linf.numpy(), l2.numpy(), time.perf_counter() - start, n_invalid)
