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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..attacks.spec import ATTACKS
from ..config import AttackConfig
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
