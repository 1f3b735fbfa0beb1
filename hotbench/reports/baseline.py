"""The regression gate against a stored baseline: read and write baselines, and compare current
results with one.

A baseline is a results document (`hotbench report --format json`, schema in
docs/results-schema.md), so any saved report can serve as one. Records are matched by their config
hashes (run_id, attack_id): the same config on the same code must give the same numbers, so a
mismatch is a change in behaviour, and a baseline record with no current counterpart means a
configuration silently stopped being evaluated.

The gate is two-sided by default (`--direction both`): adv_acc and robust_acc fail on a move beyond
the tolerance either way, because an attack that stops working (adversarial accuracy jumping up) is
as much a regression of a robustness benchmark as a defense that stops working. clean_acc fails on a
drop only. `--tolerance auto` derives the allowed move per number from its two sample sizes
(hotbench.stats.diff_allowed): a difference the sampling intervals explain passes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .. import stats
from ..errors import HotbenchError
from ..files import write_output
from .documents import load_document
from .gate_result import (
    CHANGED,
    DROP,
    GATED,
    MISSING,
    NEW,
    OK,
    RISE,
    ROBUST_METRIC,
    Comparison,
    GateResult,
    describe,
    is_number,
    number,
)
from .verdicts import VERDICT_COLUMNS as VERDICT_AXES
from .verdicts import verdict_changes

DEFAULT_TOLERANCE = 0.02
AUTO = "auto"
DIRECTIONS = ("down", "up", "both")
# the metrics --direction applies to; clean_acc only ever fails on a drop
TWO_SIDED = ("adv_acc", ROBUST_METRIC)


def load_baseline(path: Path, what: str = "baseline") -> dict[str, Any]:
    """Read a baseline (or, for `hotbench compare`, any results document: `what` names it in the
    errors), checked on load (reports.documents): anything wrong is the user's to fix (exit 2)."""
    return load_document(path, what)


def save_baseline(path: Path, doc: dict[str, Any]) -> None:
    """Write a results document as a baseline, atomically (a CI job killed mid-write leaves the old
    one)."""
    write_output(path, (json.dumps(doc, indent=1) + "\n").encode())


def filter_records(doc: dict[str, Any], filters) -> dict[str, Any]:
    """Apply report filters to a baseline too, so that `report --act tanh --baseline B` compares
    like with like. A preset's models (`Filters.preset`, the run ids of its plan) are not a filter
    of the baseline: a baseline record whose config the preset no longer plans (its run id
    changed) must show as MISSING, not vanish (issue 26: a copy of ci-smoke with other epochs
    passed its gate with every baseline record filtered away)."""
    if filters is None:
        return doc

    def keep(r: dict[str, Any]) -> bool:
        cfg = SimpleNamespace(
            dataset=r.get("dataset"), act=r.get("act"), temp=r.get("train_temp", math.nan)
        )
        return filters.match(cfg, r["run_id"], preset=False)

    out = {**doc, "records": [r for r in doc["records"] if keep(r)]}
    if "robust" in doc:
        out["robust"] = [r for r in doc["robust"] if keep(r)]
    if "verdicts" in doc:  # a verdict carries no config: kept with its model's records
        runs = {r["run_id"] for r in out["records"] + out.get("robust", [])}
        out["verdicts"] = [v for v in doc["verdicts"] if v["run_id"] in runs]
    return out


def items(doc: dict[str, Any]) -> dict[str, tuple[dict[str, Any], tuple[str, ...]]]:
    """key -> (record, metrics to gate). Attack records gate clean and adversarial accuracy,
    worst-case records their robust accuracy."""
    out: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
    for r in doc.get("records", []):
        out[f"{r['run_id']}/{r['attack_id']}"] = (r, GATED)
    for r in doc.get("robust", []):
        out[f"{r['run_id']}/{r['robust_id']}"] = (r, (ROBUST_METRIC,))
    return out


def parse_tolerance(value: float | str) -> float | str:
    """A tolerance in [0, 1), or "auto" (derived from the sample sizes)."""
    if isinstance(value, str):
        if value.strip().lower() == AUTO:
            return AUTO
        try:
            value = float(value)
        except ValueError:
            raise HotbenchError(
                f"--tolerance '{value}' is neither a number nor 'auto'",
                "pass e.g. --tolerance 0.02 or --tolerance auto",
            ) from None
    if not (0 <= value < 1) or math.isnan(value):
        raise HotbenchError(
            f"--tolerance must be in [0, 1) or 'auto', got {value}",
            "pass e.g. --tolerance 0.02 or --tolerance auto",
        )
    return float(value)


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise HotbenchError(
            f"unknown --direction '{direction}'",
            "pass --direction down, up or both (see docs/ci.md)",
        )
    return direction


def _allowed(tolerance: float | str, rb: dict[str, Any], rn: dict[str, Any]) -> float:
    if tolerance != AUTO:
        return float(tolerance)
    nb, nn = rb.get("n_samples"), rn.get("n_samples")
    if not nb or not nn:
        return DEFAULT_TOLERANCE
    return stats.diff_allowed(int(nb), int(nn))


def compare(
    baseline: dict[str, Any],
    current: dict[str, Any],
    tolerance: float | str = DEFAULT_TOLERANCE,
    direction: str = "both",
    source: Path | str | None = None,
) -> GateResult:
    """Check every gated accuracy of every baseline record against the current results.

    A move of more than `tolerance` (absolute, in accuracy units; "auto": what the two sample sizes
    explain) fails: a drop always, a rise of adv_acc or robust_acc too unless `direction` is
    "down" ("up": only rises of those fail, drops of clean_acc still do). A NaN now where the
    baseline had a number counts as a drop. Current records absent from the baseline are listed as
    "new" and pass: adding configurations must not need a baseline update first.

    A baseline none of whose accuracies is a number to hold a matched current one to (all null)
    is bad input, raised as a HotbenchError naming `source` (its file): it would check nothing.
    """
    tolerance = parse_tolerance(tolerance)
    check_direction(direction)
    base, now = items(baseline), items(current)
    result = GateResult(tolerance=tolerance, direction=direction)
    for key, (rb, metrics) in base.items():
        rn = now.get(key, (None, ()))[0]
        for m in metrics:
            b = number(rb.get(m))
            if rn is None:
                result.checks.append(Comparison(key, describe(rb), m, b, None, MISSING))
                continue
            n = number(rn.get(m))
            tol = _allowed(tolerance, rb, rn)
            two_sided = m in TWO_SIDED
            down = not two_sided or direction in ("down", "both")
            up = two_sided and direction in ("up", "both")
            if b is None or math.isnan(b):
                status = OK  # nothing to hold the current number to
            elif n is None or math.isnan(n):
                status = DROP
            elif down and n < b - tol - 1e-12:
                status = DROP
            elif up and n > b + tol + 1e-12:
                status = RISE
            else:
                status = OK
            result.checks.append(Comparison(key, describe(rn), m, b, n, status, tol))
    for key, what, axis, b, n in verdict_changes(baseline, current):
        status = MISSING if n is None else OK if n == b else CHANGED
        result.checks.append(Comparison(key, what, axis, b, n, status))
    for key, (rn, metrics) in now.items():
        if key not in base:
            result.checks.extend(
                Comparison(key, describe(rn), m, None, number(rn.get(m)), NEW) for m in metrics
            )
    result.problem = _checks_nothing(base, now, result)
    if result.problem is None:
        _check_holds_a_number(result, source)
    return result


def _checks_nothing(base: dict[str, Any], now: dict[str, Any], result: GateResult) -> str | None:
    """Why a baseline gate checked nothing, or None: none of the baseline's results (records,
    worst cases, verdicts) is among the current ones (a baseline of another preset or workspace,
    or every config changed), or none of the matched ones holds a value to hold the current one
    to (accuracies all null)."""
    verdicts = [c for c in result.checks if c.metric in VERDICT_AXES]
    found = [c for c in verdicts if c.status != MISSING]
    matched = [key for key in base if key in now]
    if not matched and not found:
        total = len(base) + len({c.key for c in verdicts})
        if not total:
            return f"the baseline holds no results, so nothing was checked ({len(now)} current)"
        return (
            f"none of the baseline's {total} results is among the {len(now)} current ones (a"
            " baseline of another preset or workspace, or every config changed): nothing was"
            " checked; gate against this preset's own baseline, or after an intended change"
            " regenerate it with --save-baseline (docs/ci.md)"
        )
    return None


def _check_holds_a_number(result: GateResult, source: Path | str | None) -> None:
    """Raise if no accuracy of the baseline was held against a current one (issue 30). Matched
    verdicts do not count: a baseline of null accuracies and verdicts passed the gate "5 checks
    (5 ok)" while checking no number. A numeric baseline record that is MISSING fails the gate as
    a regression (exit 1) already; only a baseline with no number to check is bad input (exit 2)."""
    numeric = [c for c in result.checks if c.status != NEW and is_number(c.baseline)]
    if numeric:
        return
    where = f"baseline '{source}'" if source is not None else "the baseline"
    matched = len({c.key for c in result.checks if c.status not in (NEW, MISSING)})
    raise HotbenchError(
        f"{where} checks nothing: no accuracy in it matched a current result (its {matched}"
        " matched results hold only null accuracies or verdicts)",
        "regenerate it with --save-baseline (docs/ci.md)",
    )
