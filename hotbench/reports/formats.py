"""`hotbench report --format ...`: one function from the workspace to the text of any format."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import HotbenchError
from ..progress import stderr
from ..validate import check_format
from .layout import Layout

if TYPE_CHECKING:
    from ..store import Workspace
    from .records import Filters

FORMATS = ("table", "json", "csv", "markdown", "html", "latex")
# the format an output file's extension names (`-o r.json`); any other extension: a table
EXTENSIONS = {
    ".json": "json",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".tex": "latex",
    ".txt": "table",
}


def output_format(fmt: str | None, output: Any = None) -> str:
    """The report's format: `fmt` (--format) if given, else the one `output`'s extension names
    (`-o r.json` is JSON, not a text table in a file called .json), else a table. A --format that
    contradicts the extension is one line (a CI job that uploads r.json as JSON would otherwise
    get a table), checked before anything is computed or written."""
    if fmt is not None:
        check_format(fmt, FORMATS)
    if output is None or str(output) == "-":
        return fmt or "table"
    suffix = "." + str(output).rsplit(".", 1)[-1].lower() if "." in str(output) else ""
    named = EXTENSIONS.get(suffix)
    if fmt is None:
        return named or "table"
    if named is not None and named != fmt:
        raise HotbenchError(
            f"--format {fmt} contradicts --output '{output}', whose extension means {named}",
            f"drop --format (the extension decides), or pass an output ending in {_extension(fmt)}",
        )
    return fmt


def _extension(fmt: str) -> str:
    return next(e for e, f in EXTENSIONS.items() if f == fmt)


def warnings(ws: Workspace, filters: Filters | None, verdicts) -> list[str]:
    """What a reader must know about the report's numbers: column labels that two configs would
    share, and checks left unmeasured because a dataset was not found (never a silent downgrade)."""
    from .records import label_warnings

    out = [f"warning: {w}" for w in label_warnings(ws, filters)]
    problems = sorted({d["data_problem"] for d in verdicts.values() if d.get("data_problem")})
    out += [f"warning: checks not measured: {p}" for p in problems]
    return out


def render(
    ws: Workspace,
    fmt: str,
    filters: Filters | None,
    verdicts: dict[tuple[str, float], dict[str, Any]],
    layout: Layout,
) -> str:
    """The report in one of FORMATS from verdicts already made (`report_verdicts`): the command
    line makes them once, with its --data-dir, for the gate and the text alike. Warnings also go
    to stderr, one line each, so that JSON and CSV on stdout stay clean."""
    # imported here: FORMATS and check_format serve the CLI's parsing, which must stay light
    from .file_tables import MARKDOWN_NOTE, csv_table, latex_table, markdown_table
    from .html import render_html
    from .records import Filters, flat_records, results_document, select_runs
    from .tables import budget_titles, pivot
    from .terminal import rich_table, terminal_report
    from .verdicts import verdict_lines

    check_format(fmt, FORMATS)
    records = select_runs(ws, filters or Filters())
    notes = warnings(ws, filters, verdicts)
    for line in notes:
        stderr.out(line, highlight=False)
    if fmt == "json":
        return json.dumps(results_document(ws, filters, verdicts), indent=1) + "\n"
    if fmt == "html":
        return render_html(ws, filters, verdicts, notes)
    rows, columns = pivot(ws, filters, verdicts)
    if fmt == "csv":
        return csv_table(rows, columns)
    if fmt == "latex":
        return latex_table(rows, columns)
    # a document (Markdown) keeps every evidence line; the terminal shows the lines that decided
    # each verdict unless --verbose
    lines = verdict_lines(ws, records, verdicts, verbose=layout.verbose or fmt != "table")
    if fmt == "markdown":
        return (
            markdown_table(rows, columns)
            + "\n\n"
            + MARKDOWN_NOTE
            + "\n"
            + "".join(f"\n{_md_line(line)}" for line in notes + lines)
            + ("\n" if notes or lines else "")
        )
    evidence = notes + lines
    if layout.wide:
        return rich_table(rows, columns, evidence)  # natural width, whatever the terminal
    if layout.more is None and len(lines) < len(verdict_lines(ws, records, verdicts)):
        layout = replace(layout, more=MORE_EVIDENCE)
    titles = budget_titles(flat_records(ws, filters))
    return terminal_report(rows, columns, evidence, titles, layout)


MORE_EVIDENCE = (
    "Evidence that did not decide a verdict (attack counts, every check measured) is left out:"
    " add --verbose."
)


def _md_line(line: str) -> str:
    """A verdict or evidence line as a Markdown list item (evidence nested under its verdict)."""
    if line.startswith("  - "):
        return "  - " + line[4:]
    return f"- **{line}**" if line.startswith("verdict of ") else f"- {line}"
