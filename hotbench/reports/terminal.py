"""The report as a reader's terminal shows it: the budget panels (reports.panels), the caption, the
evidence under the verdicts wrapped to the width, and one summary line per model and eval T; or,
with `--wide`, one table at its natural width."""

from __future__ import annotations

import io
import textwrap

from rich import box
from rich.table import Table
from rich.text import Text

from .. import stats
from ..progress import new_console, plain_text
from .panels import budget_panels, natural_width, panel_order
from .tables import (
    CAPTION,
    HEAD,
    MODEL_NOTE,
    TEXT_HEAD,
    Row,
    cells,
    model_cell,
    robust_title,
    varying,
)
from .verdicts import VERDICT_COLUMNS, line_style


def rich_table(
    rows: list[Row], columns: list[str], evidence: list[str], width: int | None = None
) -> str:
    """Every column in one table at its natural width (`report --wide`), evidence under it."""
    table = Table(
        title="hotbench: clean vs adversarial accuracy", box=box.SIMPLE_HEAVY, caption=CAPTION
    )
    for h in HEAD:
        table.add_column(h, justify="right" if h not in TEXT_HEAD else "left")
    for c in columns:
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(*cells(r, columns))
    return plain_text(table, width or 10_000) + "".join(line + "\n" for line in evidence)


def terminal_report(
    rows: list[Row],
    columns: list[str],
    evidence: list[str],
    titles: dict[str, str],
    width: int = 100,
    color: bool = False,
) -> str:
    """The report as a reader's terminal shows it: one panel per threat model and eps (and one for
    the minimum-norm attacks), each with the model's id columns, its clean accuracy, the attacks at
    that budget, the worst case ("robust") and the verdict. A panel too wide for `width` is split
    into several, each repeating the id, robust and verdict columns, so that no number is ever cut
    and no row wraps. The evidence under the verdicts is wrapped to `width`."""
    parts = budget_panels(rows, columns, titles, width)
    datasets = sorted({r.dataset for r in rows})
    # width (the terminal wraps the line) rather than cut: a number is never hidden behind "…"
    needed = max((natural_width(p) for p in parts if isinstance(p, Table)), default=0)
    console = new_console(
        file=io.StringIO(),
        width=max(width, needed),
        record=True,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
    )
    console.print(
        Text(f"hotbench: clean vs adversarial accuracy ({', '.join(datasets)})", style="bold")
    )
    for i, part in enumerate(parts):
        if i:
            console.print()  # a blank line between panels
        console.print(part)
    # not str.capitalize(), which lowercases the rest ("95% wilson interval")
    caption = f"{MODEL_NOTE}; {CAPTION}."
    console.print(Text(caption[:1].upper() + caption[1:], style="dim"))
    for line in evidence:
        indent = len(line) - len(line.lstrip())
        console.print(
            textwrap.fill(
                line.strip(),
                width=width,
                initial_indent=" " * indent,
                subsequent_indent=" " * (indent + 2),
                break_on_hyphens=False,
            ),
            style=line_style(line),
            markup=False,
            highlight=False,
        )
    summary = summary_lines(rows, columns)
    if summary:
        console.print()
        console.print(Text("Summary (model: clean, worst case: verdict)", style="bold"))
    for line in summary:
        console.print(
            textwrap.fill(line, width=width, subsequent_indent="    ", break_on_hyphens=False),
            markup=False,
            highlight=False,
        )
    return console.export_text(styles=color)


def summary_lines(rows: list[Row], columns: list[str]) -> list[str]:
    """The report's last word: one line per model and eval T (model, clean accuracy, the worst
    case at each budget with its interval, the verdict on both axes), so that a reader who skips
    the panels and the evidence still gets the answer. Seed-mean rows are left to their table."""
    vary = varying(rows)
    robust = sorted(
        (c for c in columns if robust_title(c) is not None),
        key=lambda c: panel_order(robust_title(c) or ""),
    )
    out = []
    for r in rows:
        if r.seeds:
            continue
        clean = r.notes.get("clean") or stats.fmt_acc(r.clean_acc, r.clean_ci)
        worst = [f"{robust_title(c)} {r.cell(c)}" for c in robust if c in r.adv]
        axes = [r.notes[c] for c in VERDICT_COLUMNS if r.notes.get(c) not in (None, "-")]
        verdict = f"{axes[0]}, masking {axes[1]}" if len(axes) == 2 else ", ".join(axes)
        worst_text = "; ".join(worst) if worst else "not attacked"
        out.append(
            f"{model_cell(r, vary)}: clean {clean}, worst {worst_text}: {verdict or 'no verdict'}"
        )
    return out
