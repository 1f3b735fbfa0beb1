"""The regression gate's output: the diff table of each check as plain text (for stderr, since
stdout may carry JSON) and the whole gate as Markdown (for a CI job's summary)."""

from __future__ import annotations

import math

from rich import box
from rich.table import Table

from ..progress import plain_text
from .gate import GateOutcome
from .gate_result import OK, Comparison, GateResult
from .markdown import cell as md_cell


def _f(v: float | str | None) -> str:
    if isinstance(v, str):
        return v
    return "-" if v is None or math.isnan(v) else f"{v:.3f}"


def _columns(ref: str) -> list[tuple[str, str]]:
    """The diff table's columns (heading, justification), in both formats; `ref` names the
    reference column ("baseline" or "threshold")."""
    return [
        ("result", "left"),
        ("metric", "left"),
        (ref, "right"),
        ("now", "right"),
        ("delta", "right"),
        ("allowed", "right"),
        ("status", "left"),
    ]


def _cells(c: Comparison) -> list[str]:
    """A check's row but its status, which each format marks its own way."""
    d = c.delta
    return [
        c.what,
        c.metric,
        _f(c.baseline),
        _f(c.now),
        "-" if d is None else f"{d + 0.0:+.3f}",
        "-" if c.allowed is None else f"±{c.allowed:.3f}",
    ]


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
    for h, j in _columns(ref):
        # a result's name (a run id, an attack's label) wraps rather than being cut at 80 columns
        table.add_column(h, justify=j, overflow="fold" if h == "result" else "ellipsis")
    for c in rows:
        table.add_row(*_cells(c), c.status)
    return plain_text(table, width)


def messages(outcome: GateOutcome, width: int = 100) -> list[str]:
    """What the gate says, for stderr (stdout may carry JSON): a diff table per check, `width`
    columns wide (the terminal's, as the report's), then whether the baseline was written."""
    out = [render_checks(res, title, ref=ref, width=width) for title, ref, res in outcome.results]
    return out + ([outcome.note] if outcome.note else [])


def _md_table(rows: list[Comparison], ref: str) -> list[str]:
    columns = _columns(ref)
    out = [
        "| " + " | ".join(h for h, _ in columns) + " |",
        "| " + " | ".join(":---" if j == "left" else "---:" for _, j in columns) + " |",
    ]
    for c in rows:
        cells = [*_cells(c), f"**{c.status}**" if c.failed else c.status]
        out.append("| " + " | ".join(md_cell(x) for x in cells) + " |")
    return out


def markdown(outcome: GateOutcome) -> str:
    """The gate as Markdown, for the report of `--format markdown --baseline B` that a CI job
    writes to its summary: the result first (a red job says why at the top), then the numbers
    that failed, then every check in a collapsed block."""
    failed = outcome.exit_code != 0
    lines = [f"## Regression gate: {'FAILED' if failed else 'passed'}", ""]
    for title, ref, res in outcome.results:
        lines += [f"**{md_cell(title)}**: {md_cell(res.summary())}", ""]
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
