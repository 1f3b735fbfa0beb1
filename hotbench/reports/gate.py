"""Regression gates for CI: compare results with a stored baseline, or with absolute thresholds.

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

Exit codes (see `hotbench report --help`): 0 every check passed, 1 a regression (a gated accuracy
moved by more than the tolerance, a baseline record is missing, or a --fail-under threshold is not
met), 2 bad input (unreadable baseline, malformed --fail-under, a threshold that matches nothing). A
regression is a result, not an error: it never goes through HotbenchError, whose exit code is 2.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rich import box
from rich.table import Table

from .. import stats
from ..eps import fmt_eps
from ..errors import HotbenchError
from ..files import write_output
from ..progress import plain_text
from .documents import load_document
from .markdown import cell as md_cell
from .verdicts import VERDICT_COLUMNS as VERDICT_AXES
from .verdicts import verdict_changes

EXIT_OK, EXIT_REGRESSION = 0, 1
# accuracies that may only go down by the tolerance; robust_acc is the per-model worst case
GATED = ("clean_acc", "adv_acc")
ROBUST_METRIC = "robust_acc"
FAIL_UNDER_METRICS = (*GATED, ROBUST_METRIC)
DEFAULT_TOLERANCE = 0.02
AUTO = "auto"
DIRECTIONS = ("down", "up", "both")
# the metrics --direction applies to; clean_acc only ever fails on a drop
TWO_SIDED = ("adv_acc", ROBUST_METRIC)

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


# ---- reading and writing baselines ---------------------------------------------------------------
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


# ---- comparing -----------------------------------------------------------------------------------
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


def items(doc: dict[str, Any]) -> dict[str, tuple[dict[str, Any], tuple[str, ...]]]:
    """key -> (record, metrics to gate). Attack records gate clean and adversarial accuracy,
    worst-case records their robust accuracy."""
    out: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
    for r in doc.get("records", []):
        out[f"{r['run_id']}/{r['attack_id']}"] = (r, GATED)
    for r in doc.get("robust", []):
        out[f"{r['run_id']}/{r['robust_id']}"] = (r, (ROBUST_METRIC,))
    return out


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


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
) -> GateResult:
    """Check every gated accuracy of every baseline record against the current results.

    A move of more than `tolerance` (absolute, in accuracy units; "auto": what the two sample sizes
    explain) fails: a drop always, a rise of adv_acc or robust_acc too unless `direction` is
    "down" ("up": only rises of those fail, drops of clean_acc still do). A NaN now where the
    baseline had a number counts as a drop. Current records absent from the baseline are listed as
    "new" and pass: adding configurations must not need a baseline update first.
    """
    tolerance = parse_tolerance(tolerance)
    check_direction(direction)
    base, now = items(baseline), items(current)
    result = GateResult(tolerance=tolerance, direction=direction)
    for key, (rb, metrics) in base.items():
        rn = now.get(key, (None, ()))[0]
        for m in metrics:
            b = _num(rb.get(m))
            if rn is None:
                result.checks.append(Comparison(key, describe(rb), m, b, None, MISSING))
                continue
            n = _num(rn.get(m))
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
                Comparison(key, describe(rn), m, None, _num(rn.get(m)), NEW) for m in metrics
            )
    result.problem = _checks_nothing(base, now, result)
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
    held = [c for c in result.checks if c.status in (OK, DROP, RISE) and _is_number(c.baseline)]
    held += [c for c in found if c.baseline is not None]
    if not held:
        return (
            f"the baseline checks nothing: none of its {len(matched) + len(found)} matched results"
            " holds a value (every accuracy is null); regenerate it with --save-baseline"
            " (docs/ci.md)"
        )
    return None


def _is_number(v: float | str | None) -> bool:
    return isinstance(v, (int, float)) and not math.isnan(v)


# ---- absolute thresholds -------------------------------------------------------------------------
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
            n = _num(r.get(th.metric))
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


# ---- output --------------------------------------------------------------------------------------
def _f(v: float | str | None) -> str:
    if isinstance(v, str):
        return v
    return "-" if v is None or math.isnan(v) else f"{v:.3f}"


def render_checks(
    result: GateResult,
    title: str,
    ref: str = "baseline",
    only_interesting: bool = False,
    width: int = 160,
) -> str:
    """The diff table (baseline or threshold, now, delta, status) as plain text, one row per
    check."""
    if result.problem is not None:  # one line, not a table of every record as MISSING and new
        return f"{title}: {result.summary()}\n"
    rows = [c for c in result.checks if c.status != OK] if only_interesting else result.checks
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        caption=result.summary(),
        padding=(0, 0, 0, 1),
        pad_edge=False,
        show_edge=False,
    )
    for h, j in (
        ("result", "left"),
        ("metric", "left"),
        (ref, "right"),
        ("now", "right"),
        ("delta", "right"),
        ("allowed", "right"),
        ("status", "left"),
    ):
        # a result's name (a run id, an attack's label) wraps rather than being cut at 80 columns
        table.add_column(h, justify=j, overflow="fold" if h == "result" else "ellipsis")
    for c in rows:
        d = c.delta
        table.add_row(
            c.what,
            c.metric,
            _f(c.baseline),
            _f(c.now),
            "-" if d is None else f"{d + 0.0:+.3f}",
            "-" if c.allowed is None else f"±{c.allowed:.3f}",
            c.status,
        )
    return plain_text(table, width)


# ---- the report command's gate step --------------------------------------------------------------
@dataclass
class GateRequest:
    """The gate options of `hotbench report`, validated before any output is written (bad input:
    exit 2)."""

    baseline_path: Path | None = None
    baseline: dict[str, Any] | None = None
    tolerance: float | str = DEFAULT_TOLERANCE
    thresholds: list[Threshold] = field(default_factory=list)
    save_path: Path | None = None
    direction: str = "both"

    @property
    def active(self) -> bool:
        return bool(self.baseline is not None or self.thresholds or self.save_path)


def prepare(
    baseline: Path | None,
    tolerance: float | str,
    fail_under: list[str] | None,
    save_path: Path | None,
    direction: str = "both",
) -> GateRequest:
    tolerance = parse_tolerance(tolerance)
    check_direction(direction)
    if save_path is not None and save_path.exists() and save_path.is_dir():
        raise HotbenchError(
            f"--save-baseline '{save_path}' is a directory", "pass a file name, e.g. baseline.json"
        )
    return GateRequest(
        baseline,
        load_baseline(baseline) if baseline is not None else None,
        tolerance,
        [parse_threshold(s) for s in fail_under or []],
        save_path,
        direction,
    )


@dataclass
class GateOutcome:
    request: GateRequest
    current: dict[str, Any]
    results: list[tuple[str, str, GateResult]]  # (title, reference column, result)
    note: str | None = None  # whether the baseline was written (save_if_passed)

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if any(r.failed for _, _, r in self.results) else EXIT_OK


def evaluate(req: GateRequest, current: dict[str, Any], filters=None) -> GateOutcome:
    """Run every requested check. Called before the report is written, so that a bad threshold (exit
    2) never leaves half an output behind."""
    results = []
    if req.baseline is not None:
        results.append(
            (
                f"regression gate against {req.baseline_path}",
                "baseline",
                compare(
                    filter_records(req.baseline, filters), current, req.tolerance, req.direction
                ),
            )
        )
    if req.thresholds:
        results.append(
            ("--fail-under thresholds", "threshold", check_thresholds(current, req.thresholds))
        )
    return GateOutcome(req, current, results)


def save_if_passed(outcome: GateOutcome) -> None:
    """Save the baseline if one was asked for and every gate passed; `outcome.note` says which."""
    path = outcome.request.save_path
    if path is None:
        return
    if outcome.exit_code:
        outcome.note = f"baseline not written to {path}: the gate failed"
        return
    save_baseline(path, outcome.current)
    outcome.note = f"baseline written to {path} ({len(outcome.current['records'])} records)"


def messages(outcome: GateOutcome, width: int = 100) -> list[str]:
    """What the gate says, for stderr (stdout may carry JSON): a diff table per check, `width`
    columns wide (the terminal's, as the report's), then whether the baseline was written."""
    out = [render_checks(res, title, ref=ref, width=width) for title, ref, res in outcome.results]
    return out + ([outcome.note] if outcome.note else [])


def _md(text: str) -> str:
    return md_cell(text)


def _md_table(rows: list[Comparison], ref: str) -> list[str]:
    out = [
        f"| result | metric | {ref} | now | delta | allowed | status |",
        "| :--- | :--- | ---: | ---: | ---: | ---: | :--- |",
    ]
    for c in rows:
        d = c.delta
        cells = [
            c.what,
            c.metric,
            _f(c.baseline),
            _f(c.now),
            "-" if d is None else f"{d + 0.0:+.3f}",
            "-" if c.allowed is None else f"±{c.allowed:.3f}",
            f"**{c.status}**" if c.failed else c.status,
        ]
        out.append("| " + " | ".join(_md(x) for x in cells) + " |")
    return out


def markdown(outcome: GateOutcome) -> str:
    """The gate as Markdown, for the report of `--format markdown --baseline B` that a CI job
    writes to its summary: the result first (a red job says why at the top), then the numbers
    that failed, then every check in a collapsed block."""
    failed = outcome.exit_code != 0
    lines = [f"## Regression gate: {'FAILED' if failed else 'passed'}", ""]
    for title, ref, res in outcome.results:
        lines += [f"**{_md(title)}**: {_md(res.summary())}", ""]
        if res.problem is not None or not res.checks:
            continue
        if res.failures:
            lines += _md_table(res.failures, ref) + [""]
        lines += [
            f"<details><summary>every check ({len(res.checks)})</summary>",
            "",
            *_md_table(res.checks, ref),
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)
