"""Every attack in one table, cheap to expensive: adding an attack is one `register` call here (and,
if it departs from torchattacks, a class in `patched` or `composite`).

The order is the registry's order: reports sort attacks by it, and a suite run in this order can
skip what earlier attacks already broke.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import HotbenchError
from ..registry import ACTIVATIONS
from .spec import (
    COUNT,
    FLAG,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    AttackSpec,
    Param,
    register,
    torchattacks,
)

# The builders import the tracked model (torch, torchattacks) when an attack is built, not when the
# catalog is read: names, norms and descriptions serve `--help`, `hotbench attacks`, config
# validation and reports, none of which needs torch.
if TYPE_CHECKING:
    from ..config import AttackConfig
    from .tracking import Tracked


def _patched(name: str) -> type:
    """One of hotbench's copies of a torchattacks class (attacks.patched), imported when used."""
    from . import patched

    return getattr(patched, name)()


def _seeded_pgd(m: Tracked, c: AttackConfig) -> Any:
    from .patched import seeded_pgd

    return seeded_pgd(m, c)


def _deepfool(m: Tracked, c: AttackConfig) -> Any:
    from .patched import deepfool_class

    atk = deepfool_class()(m, steps=c.steps, overshoot=c.params["overshoot"])
    atk.push = c.params["push"]
    return atk


def _transfer(m: Tracked, c: AttackConfig) -> Any:
    from .composite import Transfer

    return Transfer(m, c)


def _autoattack(m: Tracked, c: AttackConfig) -> Any:
    from .composite import autoattack

    return autoattack(m, c)


def _apgd(m: Tracked, c: AttackConfig) -> Any:
    from .tracking import need_classes

    loss = c.params["loss"]
    if loss not in ("ce", "dlr"):
        raise HotbenchError(
            f"apgd loss must be 'ce' or 'dlr', got {loss!r}",
            "pass --param loss=ce or --param loss=dlr",
        )
    if loss == "dlr":
        need_classes(m, 3, "the DLR loss")
    return torchattacks().APGD(
        m,
        norm="Linf",
        eps=c.eps,
        steps=c.steps,
        n_restarts=c.params["n_restarts"],
        loss=loss,
        rho=c.params["rho"],
        seed=c.seed,
    )


def _apgdt(m: Tracked, c: AttackConfig) -> Any:
    from .tracking import need_classes

    n = need_classes(m, 4, "APGD-T (targeted DLR)")
    return torchattacks().APGDT(
        m,
        norm="Linf",
        eps=c.eps,
        steps=c.steps,
        n_restarts=c.params["n_restarts"],
        rho=c.params["rho"],
        n_classes=n,
        seed=c.seed,
    )


def _square(m: Tracked, c: AttackConfig) -> Any:
    return torchattacks().Square(
        m,
        norm="Linf",
        eps=c.eps,
        n_queries=c.params["n_queries"],
        n_restarts=c.params["n_restarts"],
        p_init=c.params["p_init"],
        loss=c.params["loss"],
        seed=c.seed,
    )


# ---- the paper's attacks -------------------------------------------------------------------------
register(
    AttackSpec(
        "fgsm",
        lambda m, c: torchattacks().FGSM(m, eps=c.eps),
        "Linf",
        "Fast Gradient Sign Method (Goodfellow et al. 2015), one step",
        paper=True,
        single_step=True,
        schedule="it steps eps once",
        cost="1 gradient",
    )
)
register(
    AttackSpec(
        "bim",
        lambda m, c: _patched("bim_class")(m, eps=c.eps, alpha=c.alpha, steps=c.steps),
        "Linf",
        "Basic Iterative Method / I-FGSM (Kurakin et al. 2017)",
        uses_alpha=True,
        uses_steps=True,
        paper=True,
        cost="steps gradients",
    )
)
register(
    AttackSpec(
        "pgd",
        _seeded_pgd,
        "Linf",
        "Projected Gradient Descent, Linf, random start (Madry et al. 2018)",
        uses_alpha=True,
        uses_steps=True,
        defaults={"random_start": True},
        rules={"random_start": FLAG},
        paper=True,
        cost="steps gradients",
    )
)
register(
    AttackSpec(
        "pgdl2",
        lambda m, c: torchattacks().PGDL2(
            m, eps=c.eps, alpha=c.alpha, steps=c.steps, random_start=c.params["random_start"]
        ),
        "L2",
        "Projected Gradient Descent, L2",
        uses_alpha=True,
        uses_steps=True,
        defaults={"random_start": True},
        rules={"random_start": FLAG},
        cost="steps gradients",
    )
)
register(
    AttackSpec(
        "mim",
        lambda m, c: _patched("mim_class")(
            m, eps=c.eps, alpha=c.alpha, steps=c.steps, decay=c.params["decay"]
        ),
        "Linf",
        "Momentum Iterative FGSM (Dong et al. 2018)",
        uses_alpha=True,
        uses_steps=True,
        defaults={"decay": 1.0},
        rules={"decay": NON_NEGATIVE},
        paper=True,
        cost="steps gradients",
    )
)
register(
    AttackSpec(
        "cw",
        lambda m, c: torchattacks().CW(
            m, c=c.params["c"], kappa=c.params["kappa"], steps=c.steps, lr=c.params["lr"]
        ),
        None,
        "Carlini-Wagner L2, minimum-norm (Carlini and Wagner 2017)",
        uses_steps=True,
        schedule="it optimises with Adam at --param lr",
        defaults={"c": 1.0, "kappa": 0.0, "lr": 0.01},
        rules={"c": POSITIVE, "kappa": NON_NEGATIVE, "lr": POSITIVE},
        paper=True,
        cost="steps gradients (Adam)",
    )
)
register(
    AttackSpec(
        "deepfool",
        _deepfool,
        None,
        "DeepFool, minimum-norm L2 (Moosavi-Dezfooli et al. 2016), the reference's step and"
        " overshoot",
        uses_steps=True,
        schedule="it steps to the nearest decision boundary, past it by --param overshoot",
        targeted=False,
        defaults={"overshoot": 0.02, "push": 1e-4},
        rules={"overshoot": NON_NEGATIVE, "push": NON_NEGATIVE},
        paper=True,
        cost="steps x classes gradients",
    )
)


# ---- adaptive attacks: the ones that do not trust a saturated output -----------------------------
register(
    AttackSpec(
        "apgd",
        _apgd,
        "Linf",
        "Auto-PGD (Croce and Hein 2020), step size free; --param loss=ce|dlr (DLR: scale-invariant"
        " margin)",
        uses_steps=True,
        schedule="it adapts its step size itself",
        targeted=False,
        label_params=("loss",),
        defaults={"loss": "ce", "n_restarts": 1, "rho": 0.75},
        rules={"loss": Param(str, choices=("ce", "dlr")), "n_restarts": COUNT, "rho": FRACTION},
        cost="steps x restarts gradients",
    )
)
register(
    AttackSpec(
        "apgdt",
        _apgdt,
        "Linf",
        "APGD-T: targeted DLR loss against every other class (Croce and Hein 2020)",
        uses_steps=True,
        schedule="it adapts its step size itself",
        targeted=False,
        defaults={"n_restarts": 1, "rho": 0.75},
        rules={"n_restarts": COUNT, "rho": FRACTION},
        cost="steps x restarts x 9 targets gradients",
    )
)
register(
    AttackSpec(
        "transfer",
        _transfer,
        "Linf",
        "PGD on an independent surrogate (the dataset's built-in arch, another seed, no output"
        " activation, T=1, no defense), evaluated on the target",
        uses_alpha=True,
        uses_steps=True,
        targeted=False,
        gradient=False,
        surrogate=True,
        defaults={
            "random_start": True,
            "surrogate_act": "none",
            "surrogate_temp": 1.0,
            "surrogate_arch": "builtin",
        },
        rules={
            "random_start": FLAG,
            # builtin: the dataset's own arch, no code of the user's (what "robust" requires);
            # target: the target's arch (a user's network shares its flaws, e.g. a corrupted
            # gradient, so its transfer inherits the masking; kept to measure exactly that)
            "surrogate_arch": Param(str, choices=("builtin", "target")),
            "surrogate_act": Param(str, choices=lambda: ACTIVATIONS.names()),
            "surrogate_temp": POSITIVE,
        },
        cost="a surrogate trained once + steps gradients on it",
    )
)
register(
    AttackSpec(
        "square",
        _square,
        "Linf",
        "Square attack (Andriushchenko et al. 2020): score-based black-box, margin loss, no"
        " gradients",
        targeted=False,
        gradient=False,
        schedule="it samples random squares within eps, --param n_queries times",
        defaults={"n_queries": 5000, "n_restarts": 1, "p_init": 0.8, "loss": "margin"},
        rules={
            "n_queries": COUNT,
            "n_restarts": COUNT,
            "p_init": Param(float, lo=0, hi=1, lo_open=True),
            "loss": Param(str, choices=("margin", "ce")),
        },
        black_box=True,
        queries_param="n_queries",
        cost="n_queries forward passes",
    )
)
register(
    AttackSpec(
        "autoattack",
        _autoattack,
        "Linf",
        "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square with the original's parameters",
        targeted=False,
        schedule=(
            "its four attacks keep the original's schedules (--param apgd_steps, fab_steps,"
            " n_queries)"
        ),
        defaults={"apgd_steps": 100, "fab_steps": 100, "n_queries": 5000},
        rules={"apgd_steps": COUNT, "fab_steps": COUNT, "n_queries": COUNT},
        ensemble=True,
        cost="4 attacks: ~100 iterations each + 5000 queries",
    )
)
