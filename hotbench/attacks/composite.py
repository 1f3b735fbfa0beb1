"""Attacks composed of others: AutoAttack (an ensemble run on the samples still robust) and transfer
(PGD crafted on a surrogate model, handed to the target unchanged)."""

from __future__ import annotations

from typing import Any

import torch

from ..config import MAX_SEED, AttackConfig, TrainConfig
from ..data import DATASETS
from ..errors import HotbenchError
from ..models import LogitView
from ..user_arch import is_import_path
from .patched import seeded_pgd_class
from .spec import ATTACKS, Norm, torchattacks
from .tracking import Tracked, inside, need_classes


class Ensemble:
    """Run attacks in order on the samples that are still robust; keep each sample's first valid
    success.

    Used for AutoAttack instead of torchattacks' MultiAttack for two reasons: a success only counts
    if it lies inside the threat model (FAB is a minimum-norm attack and may return points beyond
    eps, which MultiAttack would count and then stop attacking that sample), and `seed` reaches
    every sub-attack (MultiAttack and torchattacks' AutoAttack fix the sub-attacks' seeds at
    construction, AutoAttack to time.time() by default).
    """

    def __init__(self, model: Tracked, attacks: list[Any], eps: float, norm: Norm) -> None:
        self.model, self.attacks, self.eps, self.norm = model, attacks, eps, norm

    @property
    def seed(self) -> int:
        return self.attacks[0].seed

    @seed.setter
    def seed(self, value: int) -> None:
        for k, atk in enumerate(
            self.attacks
        ):  # distinct per sub-attack, as the original's seeds are
            atk.seed = value + k

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        final = x.clone()
        todo = torch.arange(x.shape[0], device=x.device)
        for atk in self.attacks:
            adv = atk(x[todo], y[todo]).detach()
            with torch.no_grad():
                # judged on the deployed model (on a randomized one, its mean over the EOT passes)
                pred = self.model.predict(adv)
                broke = inside(adv, x[todo], self.eps, self.norm) & (pred != y[todo])
            final[todo[broke]] = adv[broke]
            todo = todo[~broke]
            if todo.numel() == 0:
                break
        return final


def autoattack(m: Tracked, c: AttackConfig) -> Ensemble:
    """AutoAttack "standard" (Croce and Hein 2020) with the ORIGINAL parameters, composed here.

    The original (fra31/auto-attack, version='standard', Linf) runs APGD-CE (100 iterations, 1
    restart), APGD-T (DLR-targeted, 100 iterations, 9 target classes, 1 restart each), FAB-T (100
    iterations, 9 target classes, 1 restart) and Square (5000 queries, 1 restart), each on the
    samples still robust. torchattacks' AutoAttack builds APGD and FAB with steps=10, so we compose
    the same four with params apgd_steps=100, fab_steps=100, n_queries=5000 (every target class:
    n_classes - 1, which is 9 on 10-class data).
    """
    ta = torchattacks()
    n = need_classes(m, 4, "AutoAttack (APGD-T)")
    p = c.params
    attacks = [
        ta.APGD(
            m, norm="Linf", eps=c.eps, steps=p["apgd_steps"], n_restarts=1, loss="ce", seed=c.seed
        ),
        ta.APGDT(
            m,
            norm="Linf",
            eps=c.eps,
            steps=p["apgd_steps"],
            n_restarts=1,
            n_classes=n,
            seed=c.seed + 1,
        ),
        ta.FAB(
            m,
            norm="Linf",
            eps=c.eps,
            steps=p["fab_steps"],
            n_restarts=1,
            multi_targeted=True,
            n_classes=n,
            seed=c.seed + 2,
        ),
        ta.Square(
            m, norm="Linf", eps=c.eps, n_queries=p["n_queries"], n_restarts=1, seed=c.seed + 3
        ),
    ]
    return Ensemble(m, attacks, c.eps, "Linf")


class Transfer:
    """PGD crafted on a surrogate model's logits, then handed to the target unchanged (it never
    queries it)."""

    def __init__(self, m: Tracked, c: AttackConfig) -> None:
        if m.surrogate is None:
            raise HotbenchError(
                "the transfer attack needs a surrogate model",
                "run it through `hotbench attack` (it trains the surrogate if missing)",
            )
        # the per-sample seeded PGD (see seeded_pgd_class): a sample's start does not depend on its
        # batch
        self.pgd = seeded_pgd_class()(
            LogitView(m.surrogate),
            eps=c.eps,
            alpha=c.alpha,
            steps=c.steps,
            random_start=c.params["random_start"],
        )

    @property
    def sample_seeds(self) -> torch.Tensor | None:
        return self.pgd.sample_seeds

    @sample_seeds.setter
    def sample_seeds(self, seeds: torch.Tensor) -> None:  # set per batch by attack_batch
        self.pgd.sample_seeds = seeds

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.pgd(x, y)


def surrogate_config(target: TrainConfig, cfg: AttackConfig) -> TrainConfig:
    """The surrogate a transfer attack crafts on, independent of the target: the dataset's built-in
    architecture (param surrogate_arch=builtin; `target` keeps the target's), trained with another
    seed (the target's + 1) on the target's data, epochs and optimiser, with the output activation
    of `cfg.params` (default none at T=1, a plain softmax classifier) and no training-time defense.

    Why independent: a surrogate with the target's own config is the target itself for an
    undefended network, so "transfer" was a white-box self-attack that inherited whatever masks the
    target's gradient (a user's network that corrupts its input gradient passed as robust), and a
    user's module ran inside the attack. Why undefended: the surrogate of an adversarially trained
    target is the undefended model, whose gradients transfer to the target's weaknesses, not its
    defense's."""
    p = {**ATTACKS.get("transfer").defaults, **cfg.params}
    t = target.resolved()
    arch = t.arch if p["surrogate_arch"] == "target" else DATASETS.get(t.dataset).default_arch
    return t.model_copy(
        update={
            "arch": arch,
            "seed": (t.seed + 1) % (MAX_SEED + 1),
            "act": p["surrogate_act"],
            "temp": float(p["surrogate_temp"]),
            "defense": "none",
            "defense_params": {},
        }
    )


def independent(target: TrainConfig, surrogate: TrainConfig) -> bool:
    """Whether a surrogate shares no code and no weights with the target: another seed or config,
    and one of hotbench's own architectures (never a user's module)."""
    s = surrogate.resolved()
    return not is_import_path(s.arch) and s.run_id != target.resolved().run_id
