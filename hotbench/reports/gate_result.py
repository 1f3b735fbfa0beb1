"""What a regression gate found: one Comparison per compared number (a row of the diff table), and
the GateResult over them, whose exit code is the gate's (0 every check passed, 1 a regression).

A regression is a result, not an error: it never goes through HotbenchError, whose exit code is 2.
The checks that fill a GateResult are reports.baseline's (against a stored baseline) and
reports.thresholds' (absolute --fail-under thresholds); reports.gate_text renders it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..eps import fmt_eps

EXIT_OK, EXIT_REGRESSION = 0, 1
# accuracies that may only go down by the tolerance; robust_acc is the per-model worst case
GATED = ("clean_acc", "adv_acc")
ROBUST_METRIC = "robust_acc"

OK, DROP, RISE, MISSING, NEW, BELOW = "ok", "DROP", "RISE", "MISSING", "new", "BELOW"
CHANGED = "CHANGED"  # a verdict moved on one of its axes (robustness, masking)
FAILING = (DROP, RISE, MISSING, BELOW, CHANGED)


@dataclass
class Comparison:
    """One compared number: a row of the diff table."""

    key: str  # "<run_id>/<attack_id>" (or "<run_id>/<robust_id>")
    what: str  # human-readable: model, eval T and attack label
    metric: str
    baseline: float | str | None  # str: a verdict axis (robustness, masking)
    now: float | str | None
    status: str
    allowed: float | None = None  # the tolerance this number was held to

    @property
    def delta(self) -> float | None:
        if not isinstance(self.baseline, float) or not isinstance(self.now, float):
            return None
        return self.now - self.baseline

    @property
    def failed(self) -> bool:
        return self.status in FAILING


@dataclass
class GateResult:
    checks: list[Comparison] = field(default_factory=list)
    tolerance: float | str | None = None
    direction: str | None = None
    # why the gate as a whole fails although no single number does (a baseline that matches or
    # checks nothing): a gate that checked nothing must never pass
    problem: str | None = None

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.checks if c.failed]

    @property
    def failed(self) -> bool:
        return bool(self.failures) or self.problem is not None

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if self.failed else EXIT_OK

    def summary(self) -> str:
        counts = {
            s: sum(c.status == s for c in self.checks)
            for s in (OK, DROP, RISE, MISSING, BELOW, CHANGED, NEW)
        }
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        t = self.tolerance
        tol = "" if t is None else f", tolerance {t if isinstance(t, str) else f'{t:g}'}"
        if self.direction is not None:
            tol += f", direction {self.direction}"
        if self.problem is not None:
            return f"gate FAILED: {self.problem}"
        verdict = "FAILED" if self.failures else "passed"
        return f"gate {verdict}: {len(self.checks)} checks ({', '.join(parts) or 'none'}{tol})"


def describe(r: dict[str, Any]) -> str:
    """A record for people, compactly (the report's model cell): `digits tanh T50@1 pgd ε=0.3`,
    `digits none T1@1 pgd-at worst case Linf ε=0.1`; the run id where the model is unknown."""
    eps = r.get("eps")
    what = r.get("label") or (
        f"worst case {r.get('threat_model') or ''} ε="
        + (fmt_eps(eps) if isinstance(eps, (int, float)) else str(eps))
    )
    t, e = r.get("train_temp"), r.get("eval_temp")
    if not isinstance(t, (int, float)):
        return f"{r['run_id']} {what}"
    model = f"{r.get('dataset', '?')} {r.get('act', '?')} T{t:g}"
    if isinstance(e, (int, float)):
        model += f"@{e:g}"
    extra = "+".join(
        p for p in str(r.get("defense") or "").split("+") if p not in ("none", "temperature", "")
    )
    return f"{model} {extra} {what}" if extra else f"{model} {what}"


def number(v: Any) -> float | None:
    """A record's value as a float (None stays None: a result with no value)."""
    return None if v is None else float(v)


def is_number(v: float | str | None) -> bool:
    """Whether a compared value is a number to hold another to (not a verdict, None or NaN)."""
    return isinstance(v, (int, float)) and not math.isnan(v)
