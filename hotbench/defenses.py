"""The training-time defenses hotbench can put beside (or under) the temperature defense, each
declared in one registration (`register(DefenseSpec(...))` below): what it is, its training loss
(imported when training starts), its parameters with their rules and defaults, and what it puts in
the run id. Configs, the command line, presets and reports read the specs; a new defense touches
this file (and the module of its loss) only. A leaf: no torch until a loss is built.

Why they are here at all: a verdict is only as good as its controls. A model trained with PGD-AT
(Madry et al. 2018) is the field's reference for a defense that works, so it must come out "robust"
where the temperature defense comes out "masking detected"; and "tanh T=50 + PGD-AT" shows whether
the activation adds anything to a real defense."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import HotbenchError, short
from .params import COUNT, POSITIVE, Param
from .registry import Registry

if TYPE_CHECKING:
    from .data import DatasetSpec

# The parameters that have their own command-line flags (--train-eps ...) and preset keys, and that
# run.json files of earlier versions hold as config fields; any other is --defense-param KEY=VALUE.
NAMED_PARAMS = ("train_eps", "train_steps", "train_alpha", "trades_beta")


@dataclass(frozen=True)
class Option:
    """One parameter of a defense: its rule, what it means, and its default: a value, or a function
    of the parameters resolved before it and the dataset (the training eps is the dataset's)."""

    rule: Param
    help: str
    default: Any | Callable[[dict[str, Any], DatasetSpec], Any]
    example: str  # a valid value, for the fix of a bad one

    def default_for(self, resolved: dict[str, Any], dataset: DatasetSpec) -> Any:
        return self.default(resolved, dataset) if callable(self.default) else self.default


def flag(key: str) -> str:
    """How a user gives parameter `key`: its own flag, or --defense-param."""
    return f"--{key.replace('_', '-')}" if key in NAMED_PARAMS else f"--defense-param {key}"


@dataclass(frozen=True)
class DefenseSpec:
    name: str
    description: str
    # The training loss: "module:function" (imported when training starts: torch code) or the
    # function; called with the resolved TrainConfig, it returns the batch loss (model, x, y,
    # generator) -> loss. None: plain cross-entropy.
    loss: str | Callable[[Any], Any] | None = None
    # Its parameters, in the order their defaults resolve (alpha after eps and steps).
    params: dict[str, Option] = field(default_factory=dict)
    # What it puts in the run id: its name and resolved parameters, plus `hash_as_none` keys as
    # None (PGD-AT hashes trades_beta: None, as before defenses were specs, so its runs keep their
    # ids). `hashed=False` puts nothing: every undefended run keeps the id it had before defenses.
    hashed: bool = True
    hash_as_none: tuple[str, ...] = ()

    def check(self, params: Mapping[str, Any], exc: type[Exception] = HotbenchError) -> None:
        """Every parameter is one this defense takes, with a valid value; one line if not."""
        for key, value in params.items():
            option = self.params.get(key)
            if option is None:
                takers = [n for n, s in DEFENSES.items() if key in s.params]
                of = f"--defense {' or '.join(takers)}" if takers else "no defense"
                msg = f"{flag(key)} is an option of {of}, not of --defense {self.name}"
                fix = f"add --defense {takers[0]}, or drop {flag(key)}" if takers else "drop it"
                raise HotbenchError(msg, fix) if exc is HotbenchError else exc(f"{msg} ({fix})")
            problem = option.rule.check(value)
            if problem is not None:
                msg = f"{flag(key)} {problem}, got {short(value, 60)}"
                fix = f"pass e.g. {flag(key)} {option.example}"
                raise HotbenchError(msg, fix) if exc is HotbenchError else exc(msg)

    def resolve(self, params: Mapping[str, Any], dataset: DatasetSpec) -> dict[str, Any]:
        """Every parameter: the given ones (in their rule's kind), the others' defaults."""
        out: dict[str, Any] = {}
        for key, option in self.params.items():
            value = params.get(key)
            out[key] = option.rule.coerce(value) if value is not None else None
            if out[key] is None:
                out[key] = option.default_for(out, dataset)
        return out

    def hash_fields(self, resolved: dict[str, Any]) -> dict[str, Any]:
        """What the run id hashes for this defense (see `hashed`)."""
        if not self.hashed:
            return {}
        return {"defense": self.name, **dict.fromkeys(self.hash_as_none), **resolved}

    def build_loss(self, cfg: Any) -> Callable[..., Any] | None:
        """The batch loss of a resolved config (None: plain cross-entropy)."""
        fn = self.loss
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(importlib.import_module(module), attr)
        return None if fn is None else fn(cfg)


DEFENSES: Registry[DefenseSpec] = Registry("defense")


def register(spec: DefenseSpec) -> DefenseSpec:
    return DEFENSES.add(spec.name, spec)


def label(act: str, defense: str) -> str:
    """The report's `defense` column: none, temperature (an activation on the output layer), pgd-at,
    trades, or a combination such as temperature+pgd-at."""
    parts = [p for p in (("temperature" if act != "none" else ""), defense) if p and p != "none"]
    return "+".join(parts) or "none"


# ---- the inner attack of adversarial training (PGD-AT, TRADES) -----------------------------------
# Zhang et al.'s 10 inner iterations (TRADES, CIFAR-10), between Madry et al.'s 7 (CIFAR-10) and 40
# (MNIST). The step is 2.5 * eps / steps, Madry et al.'s rule (as hotbench's attacks use). The
# budget is the dataset's (DatasetSpec.train_eps) unless --train-eps is given.
INNER_ATTACK = {
    "train_eps": Option(
        Param(
            float, lo=0, hi=1, lo_open=True, expect="in (0, 1] (a Linf budget on inputs in [0, 1])"
        ),
        "Linf budget of the defense's inner attack",
        lambda p, ds: ds.train_eps,
        "0.1",
    ),
    "train_steps": Option(COUNT, "inner PGD iterations", 10, "10"),
    "train_alpha": Option(
        POSITIVE, "inner PGD step", lambda p, ds: 2.5 * p["train_eps"] / p["train_steps"], "0.025"
    ),
}
# Zhang et al. 2019: the default of the authors' train_trades_cifar10.py; their MNIST script
# defaults to 1.0, and their README puts beta in [1, 10] (larger: more robust, less accurate).
# hotbench keeps one default for every dataset; --trades-beta sets another.
TRADES_BETA = Option(POSITIVE, "TRADES' weight of the KL term", 6.0, "6")

register(DefenseSpec("none", "plain cross-entropy training", hashed=False))
register(
    DefenseSpec(
        "pgd-at",
        "PGD adversarial training (Madry et al. 2018): cross-entropy on Linf PGD points",
        loss="hotbench.defense_losses:pgd_at",
        params=INNER_ATTACK,
        hash_as_none=("trades_beta",),
    )
)
register(
    DefenseSpec(
        "trades",
        "TRADES (Zhang et al. 2019): cross-entropy + beta * KL(clean || adversarial)",
        loss="hotbench.defense_losses:trades",
        params={**INNER_ATTACK, "trades_beta": TRADES_BETA},
    )
)
