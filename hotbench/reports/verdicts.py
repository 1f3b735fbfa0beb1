"""How verdicts are shown: the report's worst-case and verdict columns (both axes, robustness and
masking), the evidence lines under the tables, `hotbench diagnose`'s table, the JSON record of a
verdict, and the colours every format gives the two axes. The verdicts themselves come from
hotbench.evaluate.diagnose."""

from __future__ import annotations

import json
import math
from typing import Any

from rich import box
from rich.table import Table

from .. import stats
from ..evaluate.diagnose import report_verdicts
from ..evaluate.worstcase import worst_cases
from ..progress import plain_text
from ..store import RunRecord, Workspace

ROBUST_PREFIX = "robust"
BROKEN_BY = "broken most by"
ROBUSTNESS = "robustness"
MASKING = "masking"
VERDICT_COLUMNS = (ROBUSTNESS, MASKING)
NOTE_COLUMNS = (BROKEN_BY, *VERDICT_COLUMNS)

# every format colours the two axes the same way (terminal: rich styles; HTML: the badge classes
# v-<slug>)
STYLES = {
    ROBUSTNESS: {"robust": "bold green", "not robust": "bold red", "incomplete": "bold yellow"},
    MASKING: {"detected": "bold red", "not detected": "green", "not measured": "yellow"},
}


def style(column: str, value: str) -> str:
    """The rich style of a verdict cell ("dim" for what is not a verdict, e.g. '-')."""
    return STYLES.get(column, {}).get(value, "dim")


def slug(column: str, value: str) -> str:
    """The HTML class of a verdict badge: v-robustness-not-robust, v-masking-detected."""
    return "v-" + "-".join([column, *value.split()])


def headline(d: dict[str, Any]) -> str:
    """A verdict on one line: 'not robust, masking detected'."""
    return f"{d['robustness']}, masking {d['masking']}"


def overestimate(d: dict[str, Any]) -> str | None:
    """'the paper's attacks say 0.820, the worst case is 0.000' (None: masking not detected)."""
    o = d.get("overestimate")
    if not o:
        return None
    return f"the paper's attacks say {o['paper_acc']:.3f}, the worst case is {o['worst_acc']:.3f}"


def verdict_record(d: dict[str, Any]) -> dict[str, Any]:
    """A diagnosis as the results document carries it: both axes, their evidence, the budget, the
    undefended reference, each check's state (docs/results-schema.md, `verdicts[]`)."""
    return {
        "run_id": d["run_id"],
        "eval_temp": d["eval_temp"],
        "robustness": d["robustness"],
        "masking": d["masking"],
        "overestimate": d.get("overestimate"),
        "paper_acc": d.get("paper_acc"),
        "budget": d.get("budget"),
        "undefended": d.get("undefended"),
        "randomness": d.get("randomness"),
        "robust_acc": d.get("robust_acc"),
        "n_samples": d.get("robust_n"),
        "ci_low": d.get("ci_low"),
        "ci_high": d.get("ci_high"),
        "top_attacks": d.get("top_attacks", []),
        "evidence": d["evidence"],
        "masking_evidence": d.get("masking_evidence", []),
        "complete": d.get("complete", []),
        "checks": [
            {
                "name": c["name"],
                "state": c.get("state"),
                "required": c.get("required", False),
                "evidence": c["evidence"],
            }
            for c in d.get("checks", [])
        ],
    }


def render_diagnoses(
    docs: list[dict[str, Any]], fmt: str = "table", width: int | None = None
) -> str:
    """Diagnoses as JSON (a list of documents) or as a rich table with the evidence under each
    row."""
    if fmt == "json":
        return json.dumps(docs, indent=1) + "\n"
    table = Table(
        title="hotbench diagnose: robustness and gradient masking",
        box=box.SIMPLE_HEAVY,
        caption="robust = per-sample worst case over every attack that counts at the budget",
    )
    for h in (
        "run",
        "eval T",
        "budget",
        "clean",
        "robust",
        "paper's attacks",
        "zero grad out/z",
        ROBUSTNESS,
        MASKING,
    ):
        left = h in ("run", "budget", ROBUSTNESS, MASKING)
        table.add_column(h, justify="left" if left else "right")
    lines = []
    for d in docs:
        g, b = d.get("gradients"), d.get("budget")
        table.add_row(
            d["run_id"],
            f"{d['eval_temp']:g}",
            "-" if b is None else f"{b['threat_model']} ε={b['eps']:g}",
            stats.fmt_acc(d.get("clean_acc")),
            stats.fmt_acc(
                d.get("robust_acc"), (d.get("ci_low"), d.get("ci_high")), d.get("robust_n"), True
            ),
            stats.fmt_acc(d.get("paper_acc")),
            "-" if g is None else f"{g['output']['zero_frac']:.2f}/{g['logits']['zero_frac']:.2f}",
            d["robustness"],
            d["masking"],
        )
        lines += evidence_lines(d)
    return plain_text(table, width or 160) + "\n".join(lines) + "\n"


def evidence_lines(d: dict[str, Any], verbose: bool = True) -> list[str]:
    """The headline of one verdict, then its evidence: robustness, then masking. Not `verbose`:
    only the lines that decided each axis (the rule's `decided`), e.g. "worst case 95% CI
    0.000-0.037 is below 0.3" and the paper's overestimate, without the worst case's attack
    count or the list of checks measured."""
    decided = d.get("decided") or {}
    robustness, masking = d["evidence"], d.get("masking_evidence", [])
    if not verbose and decided:
        robustness, masking = decided.get("robustness", []), decided.get("masking", [])
    lines = [f"verdict of {d['run_id']} at eval T={d['eval_temp']:g}: {headline(d)}"]
    lines += [f"  - {e}" for e in robustness]
    lines += [f"  - masking: {e}" for e in masking]
    return lines


def verdict_lines(
    ws: Workspace,
    records: list[RunRecord],
    verdicts: dict[tuple[str, float], dict[str, Any]] | None = None,
    verbose: bool = True,
) -> list[str]:
    """The evidence under each verdict, as text lines for reports. Not `verbose`: the lines that
    decided each verdict, and verdicts decided by the very same lines (the same numbers: five
    models of `make demo` broken to 0.000 with no gap) listed once, under one headline naming
    them all."""
    docs = list((report_verdicts(ws, records) if verdicts is None else verdicts).values())
    if verbose:
        return [line for d in docs for line in evidence_lines(d)]
    groups: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for d in docs:
        groups.setdefault((headline(d), tuple(evidence_lines(d, False)[1:])), []).append(d)
    lines = []
    for (head, decided), same in groups.items():
        which = ", ".join(f"{d['run_id']} at eval T={d['eval_temp']:g}" for d in same)
        lines += [f"verdict of {which}: {head}", *decided]
    return lines


def line_style(line: str) -> str:
    """The style of an evidence line: a verdict's headline takes its robustness' colour."""
    if not line.startswith("verdict of "):
        return ""
    robustness = line.rsplit(": ", 1)[-1].split(",")[0]
    return STYLES[ROBUSTNESS].get(robustness, "")


def robust_column(threat: str, eps: float) -> str:
    """The report's worst-case column of a budget: "robust ε=0.3" (Linf), "robust L2 ε=0.5"."""
    return (
        f"{ROBUST_PREFIX} ε={eps:g}" if threat == "Linf" else f"{ROBUST_PREFIX} {threat} ε={eps:g}"
    )


def annotate_rows(
    ws: Workspace,
    records: list[RunRecord],
    rows: list[Any],
    verdicts: dict[tuple[str, float], dict[str, Any]] | None = None,
) -> list[str]:
    """The report's extra columns, filled into its rows (tables.Row: .run_id, .eval_temp, .adv,
    .notes): the worst case per budget ("robust ε=0.3", "robust L2 ε=0.5"), the attack that broke
    the most samples at the verdict's budget, and the verdict's two axes. Returns the column names
    to append (none if nothing was attacked)."""
    by_run = {r.run_id: r for r in records}
    robust_cols: list[str] = []
    verdicts = report_verdicts(ws, records) if verdicts is None else verdicts
    for rec in records:
        for wc in worst_cases(ws, rec):
            if wc.n_samples == 0:
                continue
            col = robust_column(wc.threat, wc.eps)
            for row in rows:
                if row.run_id == rec.run_id and math.isclose(row.eval_temp, wc.eval_temp):
                    row.adv[col] = wc.robust_acc
                    row.ci[col] = wc.ci
                    row.n[col] = wc.n_samples
                    row.mixed = row.mixed or wc.mixed
            if col not in robust_cols:
                robust_cols.append(col)
    for row in rows:
        doc = verdicts.get((row.run_id, row.eval_temp)) if row.run_id in by_run else None
        if doc is not None:
            if doc.get("budget"):
                row.budget = robust_column(doc["budget"]["threat_model"], doc["budget"]["eps"])
            row.notes[BROKEN_BY] = doc.get("top_attack") or "-"
            row.notes[ROBUSTNESS] = doc["robustness"]
            row.notes[MASKING] = doc["masking"]
    robust_cols.sort(key=lambda c: (" L2 " in c, float(c.rsplit("=", 1)[1])))
    return robust_cols + (list(NOTE_COLUMNS) if verdicts else [])


def verdict_changes(
    baseline: dict[str, Any], current: dict[str, Any]
) -> list[tuple[str, str, str, str | None, str | None]]:
    """The regression gate's view of verdicts: per baseline verdict and axis (robustness,
    masking), (key, what, axis, baseline value, current value or None when the verdict is gone).
    Matched by (run_id, eval T); a verdict that moves on either axis is a change in what the
    benchmark concludes, whatever the accuracies did."""
    now = {(v["run_id"], float(v["eval_temp"])): v for v in current.get("verdicts", [])}
    out = []
    for b in baseline.get("verdicts", []):
        key = (b["run_id"], float(b["eval_temp"]))
        n = now.get(key)
        for axis in VERDICT_COLUMNS:
            out.append(
                (
                    f"{key[0]}/verdict-T{key[1]:g}",
                    f"{key[0]} @T={key[1]:g} verdict",
                    axis,
                    b.get(axis),
                    None if n is None else n.get(axis),
                )
            )
    return out
