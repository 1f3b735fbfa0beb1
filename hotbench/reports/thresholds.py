"""The regression gate's absolute thresholds (`--fail-under [SCOPE:]METRIC=VALUE`): every result in
scope must reach the value. A threshold that matches nothing is bad input (exit 2), not a pass."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import HotbenchError
from .gate_result import BELOW, GATED, OK, ROBUST_METRIC, Comparison, GateResult, describe, number

FAIL_UNDER_METRICS = (*GATED, ROBUST_METRIC)


@dataclass(frozen=True)
class Threshold:
    """`[SCOPE:]METRIC=VALUE`: every record in scope must have METRIC >= VALUE."""

    spec: str
    metric: str
    value: float
    scope: str | None  # an attack method (`pgd`) or a report column label (`pgd ε=0.3`); None: all


def parse_threshold(spec: str) -> Threshold:
    fix = (
        "write [SCOPE:]METRIC=VALUE, e.g. adv_acc=0.5, pgd:adv_acc=0.5 or 'pgd ε=0.3:adv_acc=0.5'; "
        f"METRIC is one of {', '.join(FAIL_UNDER_METRICS)}"
    )
    head, sep, value = spec.rpartition("=")
    if not sep or not head:
        raise HotbenchError(f"--fail-under '{spec}' has no '=VALUE'", fix)
    scope, _, metric = head.rpartition(":")
    metric = metric.strip()
    if metric not in FAIL_UNDER_METRICS:
        raise HotbenchError(f"--fail-under '{spec}': unknown metric '{metric}'", fix)
    try:
        v = float(value)
    except ValueError:
        raise HotbenchError(f"--fail-under '{spec}': '{value}' is not a number", fix) from None
    if not (0 <= v <= 1):
        raise HotbenchError(f"--fail-under '{spec}': accuracies lie in [0, 1], got {v}", fix)
    scope = scope.strip() or None
    if scope is not None and metric == ROBUST_METRIC:
        raise HotbenchError(
            f"--fail-under '{spec}': robust_acc is the worst case over all attacks and takes no"
            " attack scope",
            "write robust_acc=VALUE",
        )
    return Threshold(spec, metric, v, scope)


def check_thresholds(doc: dict[str, Any], thresholds: list[Threshold]) -> GateResult:
    """One check per (threshold, record in its scope). A threshold that matches no record is bad
    input (exit 2), not a pass: a misspelt scope must not turn a CI gate into a no-op."""
    result = GateResult()
    for th in thresholds:
        pool = doc.get("robust", []) if th.metric == ROBUST_METRIC else doc.get("records", [])
        id_key = "robust_id" if th.metric == ROBUST_METRIC else "attack_id"
        matched = [
            r for r in pool if th.scope is None or th.scope in (r.get("method"), r.get("label"))
        ]
        if not matched:
            if th.metric == ROBUST_METRIC:
                raise HotbenchError(
                    f"--fail-under '{th.spec}': these results have no worst-case (robust) accuracy",
                    "run the adaptive evaluation first, or gate on adv_acc",
                )
            have = sorted({str(r.get(k)) for r in pool for k in ("method", "label")})
            raise HotbenchError(
                f"--fail-under '{th.spec}' matches no result",
                f"scopes present: {', '.join(have) or 'none (no attack results)'}",
            )
        for r in matched:
            n = number(r.get(th.metric))
            status = BELOW if n is None or math.isnan(n) or n < th.value else OK
            result.checks.append(
                Comparison(
                    f"{r['run_id']}/{r[id_key]}",
                    describe(r),
                    f"{th.metric} >= {th.value:g}",
                    th.value,
                    n,
                    status,
                )
            )
    return result
