"""What a check is (CheckSpec), what it reads (Evidence) and what it says (Finding, then Check), and
the registry of every check: the diagnosis' counterpart of attacks/spec.py.

A check is one registration (`@check(...)` in a module of `checks/`): its name, the function that
measures it, whether "robust" requires it measured and clear, the threshold it is held to, what a
firing means (a sign of gradient masking, or "no better than undefended") and the command that
measures it when it is missing. The verdict rule (rule.py) reads only these fields, so a new check
needs no change anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ...registry import Registry
from ..worstcase import StoredResult, WorstCase
from .commands import Where
from .thresholds import Thresholds

if TYPE_CHECKING:
    from ...config import AttackConfig, TrainConfig

CHECK_STATES = ("fired", "clear", "not measured")
# What a fired check means for the verdict: "masking" (a sign that the gradient attacks are fooled:
# "robust" is never allowed), "not robust" (the model is measured to be no better than without
# its defense) or "randomized" (the model draws random numbers: results without EOT cannot support
# "robust" or "masking: not detected", rule.py).
Effect = Literal["masking", "not robust", "randomized"]


@dataclass
class Finding:
    """What a check function returns. fired None: not measured (what it needs is missing);
    `complete` then overrides the spec's completing command (e.g. a more specific one)."""

    fired: bool | None
    evidence: str
    numbers: dict[str, Any] = field(default_factory=dict)
    complete: str | None = None


@dataclass
class Check:
    """A check's outcome as the diagnosis stores it."""

    name: str
    fired: bool | None  # None: not measured
    evidence: str
    numbers: dict[str, Any] = field(default_factory=dict)
    state: str = ""  # one of CHECK_STATES, derived from `fired`
    required: bool = False  # "robust" needs it measured and clear
    effect: str = "masking"
    complete: str | None = None  # the command that measures it (when not measured)

    def __post_init__(self) -> None:
        self.state = "not measured" if self.fired is None else "fired" if self.fired else "clear"


@dataclass
class Reference:
    """The undefended reference of a target at the verdict's budget (reference.py)."""

    run_id: str
    config: TrainConfig
    same: bool  # the target is its own reference (an undefended model of the built-in arch)
    worst: WorstCase | None = None  # its worst case at the budget; None: see `missing`
    missing: str | None = None  # why there is no worst case


@dataclass
class Evidence:
    """Everything the checks read about one model at one eval temperature."""

    results: list[StoredResult]  # every current result of the model at this eval T
    budget: tuple[str, float] | None  # the verdict's (threat model, eps); None: nothing bounded
    where: Where
    gradients: dict[str, dict[str, float]] | None = None
    saturation: dict[str, float | None] | None = None
    worst: WorstCase | None = None  # the worst case at the budget
    reference: Reference | None = None
    # repeated forward passes of clean inputs (attacks.randomized.Randomness.fields)
    randomness: dict[str, Any] | None = None


@dataclass(frozen=True)
class Probe:
    """An attack that measures a check: on the model itself (`train` None) or on another run that
    `diagnose` trains first if missing (the undefended reference)."""

    attack: AttackConfig
    train: TrainConfig | None = None


# (evidence, the PGD config at the verdict's budget that probes start from, thresholds) -> probes
ProbeFn = Callable[[Evidence, "AttackConfig", Thresholds], list[Probe]]


MeasureFn = Callable[[Evidence, Thresholds], Finding]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    measure: MeasureFn
    description: str  # what it asks, for docs and `hotbench diagnose`
    required: bool = False  # "robust" needs it measured and clear
    threshold: str | None = None  # the Thresholds field it is held to
    effect: Effect = "masking"
    # the command that measures it when it is not measured (default: diagnose, which runs every
    # missing probe)
    complete: Callable[[Where], str] = Where.diagnose_cmd
    # the attacks `diagnose` runs when the check is not measured (None: it runs none)
    probe: ProbeFn | None = None

    def run(self, ev: Evidence, th: Thresholds) -> Check:
        f = self.measure(ev, th)
        return Check(
            self.name,
            f.fired,
            f.evidence,
            f.numbers,
            required=self.required,
            effect=self.effect,
            complete=None if f.fired is not None else (f.complete or self.complete(ev.where)),
        )


CHECKS: Registry[CheckSpec] = Registry("check", populate="hotbench.evaluate.diagnose.checks")


def check(name: str, description: str, **options: Any) -> Callable[[MeasureFn], MeasureFn]:
    """Register a check function under `name`: one registration declares it everywhere.
    `options` are CheckSpec's fields (required, threshold, effect, complete, probe)."""

    def deco(fn: MeasureFn) -> MeasureFn:
        spec = CheckSpec(name, fn, description, **options)
        if spec.threshold is not None and spec.threshold not in Thresholds.__dataclass_fields__:
            raise ValueError(f"check '{name}': no threshold '{spec.threshold}' in Thresholds")
        CHECKS.add(name, spec)
        return fn

    return deco


def probes_for(ev: Evidence, base: AttackConfig, th: Thresholds) -> list[Probe]:
    """The probes of every check not measured on `ev` (what `diagnose` runs)."""
    out = []
    for _, spec in CHECKS.items():
        if spec.probe is not None and spec.measure(ev, th).fired is None:
            out += spec.probe(ev, base, th)
    return out


def run_checks(ev: Evidence, th: Thresholds) -> list[Check]:
    """Every registered check on `ev`, in registration order."""
    return [spec.run(ev, th) for _, spec in CHECKS.items()]


def required_checks() -> list[str]:
    """The checks "robust" requires measured and clear."""
    return [n for n, s in CHECKS.items() if s.required]
