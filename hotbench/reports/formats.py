"""`hotbench report --format ...`: one function from the workspace to the text of any format."""

from __future__ import annotations

import json

from ..errors import HotbenchError
from ..evaluate.diagnose import report_verdicts, verdict_lines
from ..store import Workspace
from .html import render_html
from .records import Filters, flat_records, results_document, select_runs
from .tables import (
    MARKDOWN_NOTE,
    budget_titles,
    csv_table,
    markdown_table,
    pivot,
    rich_table,
    terminal_report,
)

FORMATS = ("table", "json", "csv", "markdown", "html")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise HotbenchError(f"unknown format '{fmt}'", f"valid formats: {', '.join(FORMATS)}")
    return fmt


def render_report(
    ws: Workspace,
    fmt: str,
    filters: Filters | None = None,
    width: int | None = None,
    wide: bool = False,
    color: bool = False,
) -> str:
    """The report of the workspace's results (restricted by `filters`) in one of FORMATS. The table
    fits `width` columns (panels per budget) unless `wide` (one table at its natural width)."""
    check_format(fmt)
    if fmt == "json":
        return json.dumps(results_document(ws, filters), indent=1) + "\n"
    if fmt == "html":
        return render_html(ws, filters)
    records = select_runs(ws, filters or Filters())
    verdicts = report_verdicts(ws, records)  # once: it loads every model and takes a gradient pass
    rows, columns = pivot(ws, filters, verdicts)
    if fmt == "csv":
        return csv_table(rows, columns)
    if fmt == "markdown":
        return markdown_table(rows, columns) + "\n\n" + MARKDOWN_NOTE + "\n"
    evidence = verdict_lines(ws, records, verdicts)
    if wide:
        return rich_table(rows, columns, evidence)  # natural width, whatever the terminal
    titles = budget_titles(flat_records(ws, filters))
    return terminal_report(rows, columns, evidence, titles, width or 100, color)
