"""The report as a reader's terminal shows it: the budget panels (reports.panels), the caption, the
evidence under the verdicts wrapped to the width, and one summary line per model and eval T; or,
with `--wide`, one table at its natural width."""

from __future__ import annotations

import io
import textwrap

from rich import box
from rich.table import Table
from rich.text import Text

from ..progress import new_console, plain_text
from .layout import Layout
from .panels import budget_panels, natural_width, summary_panels
from .tables import (
    CAPTION,
    HEAD,
    MODEL_NOTE,
    TEXT_HEAD,
    Row,
    cells,
)
from .verdicts import line_style


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
    layout: Layout | None = None,
) -> str:
    """The report as a reader's terminal shows it: one panel per threat model and eps (and one for
    the minimum-norm attacks), each with the model, its clean accuracy, the attacks at that budget,
    the worst case ("robust") and the verdict; the caption; the evidence under the verdicts wrapped
    to the width; `layout.more` (how to see what is left out); and last the summary, a row per
    model and eval T. `layout.brief` leaves out the budget panels (`run`'s short report). Nothing
    is cut: a panel too wide for the width is split into several, each repeating the model,
    robust and verdict columns, so that no number is cut and no row wraps."""
    layout = layout or Layout()
    width = layout.width or 100
    parts = [] if layout.brief else budget_panels(rows, columns, titles, width)
    summary = summary_panels(rows, columns, width)
    # a panel whose fixed columns alone are wider than the terminal is printed at its natural
    # width (the terminal wraps the line) rather than cut: a number is never hidden behind "…"
    needed = max((natural_width(p) for p in parts + summary), default=0)
    console = new_console(
        file=io.StringIO(),
        width=max(width, needed),
        record=True,
        force_terminal=layout.color,
        color_system="standard" if layout.color else None,
        highlight=False,
    )
    datasets = sorted({r.dataset for r in rows})
    console.print(
        Text(f"hotbench: clean vs adversarial accuracy ({', '.join(datasets)})", style="bold")
    )
    for i, part in enumerate(parts):
        if i:
            console.print()  # a blank line between panels
        console.print(part)
    # not str.capitalize(), which lowercases the rest ("95% wilson interval")
    caption = f"{MODEL_NOTE}; {CAPTION if parts else BRIEF_CAPTION}."
    console.print(Text(caption[:1].upper() + caption[1:], style="dim"))
    for line in evidence + ([layout.more] if layout.more else []):
        _wrapped(console, line, width)
    for part in summary:
        console.print()
        console.print(part)
    return console.export_text(styles=layout.color)


# the caption where no accuracy panel is shown (`run`'s short report): what the summary's cells mean
BRIEF_CAPTION = (
    "worst case = correct after every attack at the verdict's budget / all samples; [low,high] ="
    " 95% Wilson interval, bounds rounded outward"
)


def _wrapped(console, line: str, width: int) -> None:
    """An evidence line wrapped to `width`, its continuation indented under its text."""
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
