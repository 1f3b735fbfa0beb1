"""Named attack suites: a list of attack configs for a given eps, so that one flag runs a whole
evaluation.

- "paper": the attacks of Tuna et al. (FGSM, BIM, PGD, MIM, Carlini-Wagner L2, DeepFool), all
  following the deployed output's gradient. This is the evaluation whose numbers the paper reports.
- "adaptive": attacks that do not trust a saturated output: PGD and APGD on the pre-activation
  logits, scale-invariant margin losses (APGD-DLR, APGD-T, CW), a black-box attack (Square), a
  transfer attack from an undefended surrogate, and AutoAttack. Its per-sample worst case is the
  robust accuracy the report shows.

Suites are ordered cheap-first (a fast path that skips samples already broken then saves the most
work). Options the user sets (n_samples, batch size, seed, eval temperature) apply to every config
of the suite; `steps` overrides the suite's iteration counts only when given (for quick, weaker
runs).

`AttackRequest` is what `hotbench attack` (and `hotbench.attack`) ask for: attack methods or a
suite, at every eps and eval temperature, validated and expanded into attack configs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..attacks.spec import (
    ATTACKS,
    check_options,
    check_params,
    check_targeted,
    check_targeted_mode,
)
from ..config import AttackConfig
from ..eps import parse_eps
from ..errors import HotbenchError
from ..registry import Registry

# (method, on, steps or None for the attack's own, params)
Item = tuple[str, str, int | None, dict[str, Any]]
SUITES: Registry[Callable[[], list[Item]]] = Registry("suite")


@SUITES.register("paper")
def paper() -> list[Item]:
    """The paper's attacks, on the deployed output, with the field's usual iteration counts."""
    return [
        ("fgsm", "output", None, {}),
        ("bim", "output", 40, {}),
        ("pgd", "output", 40, {}),
        ("mim", "output", 40, {}),
        ("cw", "output", 100, {}),
        ("deepfool", "output", 50, {}),
    ]


@SUITES.register("adaptive")
def adaptive() -> list[Item]:
    """Adaptive attacks, cheapest and strongest-per-cost first; AutoAttack (the field's reference)
    last."""
    return [
        ("pgd", "logits", 40, {}),
        ("apgd", "logits", 100, {"loss": "ce"}),
        ("apgd", "logits", 100, {"loss": "dlr"}),
        ("apgd", "output", 100, {"loss": "ce"}),
        ("apgd", "output", 100, {"loss": "dlr"}),
        ("apgdt", "output", 100, {}),
        ("transfer", "output", 40, {}),
        ("cw", "logits", 100, {}),
        ("square", "output", None, {"n_queries": 5000}),
        ("autoattack", "output", None, {}),
    ]


def suite_configs(
    name: str, eps: list[float], steps: int | None = None, **common: Any
) -> list[AttackConfig]:
    """The suite's configs for every eps. Minimum-norm attacks (cw, deepfool) have no eps budget, so
    they appear once; `common` holds AttackConfig fields shared by all (n_samples, batch_size, seed,
    eval_temp).
    """
    out: list[AttackConfig] = []
    seen: set[str] = set()
    for method, on, suite_steps, params in SUITES.get(name)():
        budgets = eps if ATTACKS.get(method).norm is not None else [eps[0]]
        for e in budgets:
            kw: dict[str, Any] = dict(common)
            n = steps if steps is not None else suite_steps
            if n is not None:
                kw["steps"] = n
            cfg = AttackConfig(method=method, eps=e, on=on, params=params, **kw)
            key = cfg.model_dump_json()
            if key not in seen:
                seen.add(key)
                out.append(cfg)
    return out


def attack_listing() -> list[dict[str, Any]]:
    """Every registered attack for `hotbench attacks`: its threat model, what it follows, which
    suite runs it (the suites say which attacks are whose: no second list), its cost per sample,
    and its --param keys with their defaults."""
    used = {suite: {item[0] for item in SUITES.get(suite)()} for suite in ("paper", "adaptive")}
    return [
        {
            "name": name,
            "norm": spec.norm or "L2 min",  # minimum-norm: no budget, the smallest perturbation
            "follows": spec.follows,
            # paper first: cw and pgd are in both suites (the adaptive one runs them on the logits)
            "kind": next((k for k in ("paper", "adaptive") if name in used[k]), "neither suite"),
            "cost": spec.cost,
            "params": dict(spec.defaults),  # --param KEY=VALUE, with the default
            "description": spec.description,
        }
        for name, spec in ATTACKS.items()
    ]


ON_CHOICES = ("output", "logits", "both")  # both: one config on the output, one on the logits


@dataclass
class AttackRequest:
    """Attack methods (default pgd) or a named suite, each at every eps and eval temperature (None:
    the model's training T). `on="both"` runs each method on the output and on the logits. With a
    suite, `steps` (when given) overrides the suite's iteration counts, and the options the suite
    sets per attack (methods, on, params, targeted, alpha) are refused."""

    methods: list[str] = field(default_factory=list)
    suite: str | None = None
    eps: list[float | str] = field(default_factory=lambda: [0.3])
    eval_temps: list[float | None] = field(default_factory=lambda: [None])
    steps: int | None = None  # None: 40, or the suite's own
    alpha: float | None = None  # None: 2.5 * eps / steps
    n_samples: int | None = None  # None: the whole test set
    batch_size: int = 256
    seed: int = 0
    targeted: str | None = None  # random or least-likely
    on: str | None = None  # output (default), logits or both
    params: dict[str, Any] = field(default_factory=dict)
    # randomized models (hotbench.draws): None lets the model decide (AttackConfig.eot, .draws)
    eot: int | None = None
    draws: int | None = None

    def check(self) -> AttackRequest:
        """Every problem as one user-facing error, before any work starts."""
        check_targeted_mode(self.targeted)
        if self.on not in (None, *ON_CHOICES):
            raise HotbenchError(
                f"unknown --on '{self.on}'", "pass --on output, --on logits or --on both"
            )
        if self.suite is not None:
            SUITES.check(self.suite)
            given = [
                flag
                for flag, value in (
                    ("--method", self.methods),
                    ("--on", self.on),
                    ("--param", self.params),
                    ("--targeted", self.targeted),
                    ("--alpha", self.alpha),
                )
                if value
            ]
            if given:
                raise HotbenchError(
                    f"{given[0]} does not combine with --suite (the suite sets it per attack)",
                    f"drop {given[0]}, or run the attack apart with --method",
                )
        for m in self.methods or ["pgd"]:
            ATTACKS.check(m)
            check_params(m, self.params)
            check_targeted(m, self.targeted)
        if self.suite is None:  # a suite's iterative attacks take --steps
            check_options(self.methods or ["pgd"], {"steps": self.steps, "alpha": self.alpha})
        return self

    def configs(self) -> list[AttackConfig]:
        """The attack configs, checked; in the order they run."""
        self.check()
        eps = [parse_eps(e) for e in self.eps or [0.3]]  # a number or a fraction (8/255)
        temps = self.eval_temps or [None]
        if self.suite is not None:
            common = {"n_samples": self.n_samples, "batch_size": self.batch_size, "seed": self.seed}
            common |= {"eot": self.eot, "draws": self.draws}
            return [
                c
                for t in temps
                for c in suite_configs(self.suite, eps, self.steps, eval_temp=t, **common)
            ]
        ons = ["output", "logits"] if self.on == "both" else [self.on or "output"]
        return [
            AttackConfig(
                method=m,
                eps=e,
                steps=40 if self.steps is None else self.steps,
                alpha=self.alpha,
                n_samples=self.n_samples,
                batch_size=self.batch_size,
                seed=self.seed,
                eval_temp=t,
                targeted=self.targeted,
                on=o,
                params=self.params,
                eot=self.eot,
                draws=self.draws,
            )
            for m in self.methods or ["pgd"]
            for o in ons
            for e in eps
            for t in temps
        ]
