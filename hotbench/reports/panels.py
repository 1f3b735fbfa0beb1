"""The terminal report's tables: one panel per threat model and eps (and one for the minimum-norm
attacks), each with the model, its clean accuracy, the attacks at that budget, the worst case
("robust") and the verdict, cut into as many panels as the terminal's width needs so that no
number is ever cut and no row wraps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from .. import stats
from ..progress import plain_text
from .tables import MIN_NORM, MODEL, Row, model_cell, n_cell, robust_title, varying
from .verdicts import BROKEN_BY, NOTE_COLUMNS, VERDICT_COLUMNS, style


def _short(label: str, title: str) -> str:
    """A column header inside its panel: the panel's title already says the eps."""
    suffix = " " + title.split(" ", 1)[1] if title != MIN_NORM and " " in title else ""
    return label[: -len(suffix)] if suffix and label.endswith(suffix) else label


# narrow headers: a header may take two lines, a number never does
_HEADERS = {BROKEN_BY: "broken\nmost by"}


@dataclass
class _Budget:
    """One panel's fixed parts: its budget title, rows, the identity fields that vary, whether
    the rows' n differ (a column) or not (in the title), worst-case column and notes."""

    title: str
    rows: list[Row]
    vary: set[str]
    robust_col: str | None
    notes: list[str]
    robust_head: str = "robust"  # the worst-case column's header

    @property
    def sizes(self) -> set[int | None]:
        return {r.n_samples for r in self.rows if not r.seeds}


def _panel(
    b: _Budget, name: str, attack_cols: list[str], spare: int | None = None, gap: int = 2
) -> Table:
    """One panel, `gap` spaces between its columns. With `spare` (the terminal is too narrow for
    its text columns on one line), its text columns (verdict, broken most by) are as wide as their
    longest word plus `spare` columns shared among them, and wrap between words."""
    budget, rows = b.title, b.rows
    robust_col, notes = b.robust_col, b.notes
    sizes = b.sizes
    if len(sizes) == 1 and None not in sizes:
        name += f", n={sizes.pop()}"  # one n for every row: said once
    # no edge padding and one space either side of a column: two spaces between numbers
    table = Table(
        title=name,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, gap - 1),  # and the box's own space between columns
        pad_edge=False,
        show_edge=False,
    )
    table.add_column(MODEL, justify="left", no_wrap=True)
    if len(b.sizes) > 1:
        table.add_column("n", justify="right", no_wrap=True)
    table.add_column("clean", justify="right", no_wrap=True)
    for c in attack_cols:
        table.add_column(_short(c, budget), justify="right", no_wrap=True)
    if robust_col is not None:
        table.add_column(b.robust_head, justify="right", no_wrap=True, style="bold")
    for i, n in enumerate(notes):  # text may wrap between words, numbers never do
        words = [w for r in rows for w in _note(r, n).plain.split()]
        words += _HEADERS.get(n, n).split()
        extra = 0 if spare is None else spare // len(notes) + (i < spare % len(notes))
        table.add_column(
            _HEADERS.get(n, n),
            justify="left",
            width=None if spare is None else max(map(cell_len, words), default=1) + extra,
            no_wrap=spare is None,
        )
    for r in rows:
        values: list[str | Text] = [model_cell(r, b.vary)]
        if len(b.sizes) > 1:
            values.append(n_cell(r))
        values.append(r.notes.get("clean") or stats.fmt_acc(r.clean_acc, r.clean_ci))
        values += [r.cell(c) for c in attack_cols]  # with its interval, and n= where it differs
        if robust_col is not None:
            values.append(r.cell(robust_col))
        values += [_note(r, n) for n in notes]
        table.add_row(*values)
    return table


# Both axes of the verdict in one column ("not robust, masking detected"), where the terminal is
# too narrow for a column each: the cell wraps between its words, which two columns cannot do
# below the width of their headers and longest values.
VERDICT = "verdict"


def _note(r: Row, column: str) -> Text:
    """A text cell: the verdict's axes in their colours, or the note as it is."""
    if column == VERDICT:
        parts = [(r.notes.get(axis) or "-", axis) for axis in VERDICT_COLUMNS]
        if all(text == "-" for text, _ in parts):
            return Text("-", style="dim")
        out = Text()
        for i, (text, axis) in enumerate(parts):
            if i:
                out.append(f", {axis} " if axis != VERDICT_COLUMNS[0] else ", ")
            out.append(text, style=style(axis, text))
        return out
    text = r.notes.get(column) or "-"
    return Text(text, style=style(column, text)) if column in VERDICT_COLUMNS else Text(text)


def _merged(b: _Budget) -> _Budget | None:
    """`b` with its verdict axes in one column (None: it has no verdict columns)."""
    if not any(n in VERDICT_COLUMNS for n in b.notes):
        return None
    notes = [n for n in b.notes if n not in VERDICT_COLUMNS] + [VERDICT]
    return _Budget(b.title, b.rows, b.vary, b.robust_col, notes, b.robust_head)


def _fitting(b: _Budget, name: str, cols: list[str], width: int, wrap: bool = True) -> Table | None:
    """The panel of `cols` as it fits `width`: its text columns on one line if they fit, else
    the verdict's axes in one column; with `wrap`, else its text columns wrapped between words.
    None if none fits (numbers never wrap)."""
    merged = _merged(b)
    # two spaces between columns where they fit, one where that makes the difference (the
    # intervals' brackets still close each cell); a column per verdict axis before one for both
    one_line = [(b, 2), (merged, 2), (b, 1), (merged, 1)]
    for v, gap in [(v, gap) for v, gap in one_line if v is not None]:
        panel = _panel(v, name, cols, gap=gap)
        if natural_width(panel) <= width:
            return panel
    # wrapped, fewest lines first: each axis in its column wraps less than both in one
    wrapped = [(b, 2), (b, 1), (merged, 2), (merged, 1)] if wrap else []
    for v, gap in [(v, gap) for v, gap in wrapped if v is not None]:
        spare = width - natural_width(_panel(v, name, cols, spare=0, gap=gap))
        if spare >= 0:
            return _panel(v, name, cols, spare, gap)
    return None


def _chunks(b: _Budget, cols: list[str], width: int) -> list[list[str]]:
    """The panel's attack columns cut into runs that each fit `width` beside the fixed columns."""
    chunk: list[str] = []
    chunks: list[list[str]] = []
    for c in cols:
        # another attack joins a panel only where the text columns still fit on one line
        if chunk and _fitting(b, b.title, chunk + [c], width, wrap=False) is None:
            chunks.append(chunk)
            chunk = [c]
        else:
            chunk.append(c)
    chunks.append(chunk)
    return chunks


def panel_order(title: str) -> tuple[int, float, str]:
    """Linf budgets first, then L2, each by eps; the minimum-norm panel last."""
    if title == MIN_NORM or "ε=" not in title:
        return (2, 0.0, title)
    norm, _, eps = title.partition(" ε=")
    try:
        value = float(eps)
    except ValueError:
        value = math.inf
    return (0 if norm == "Linf" else 1, value, title)


def natural_width(table: Table) -> int:
    text = plain_text(table, 100_000)
    return max((len(line) for line in text.splitlines()), default=0)  # trailing pad counts


def budget_panels(
    rows: list[Row], columns: list[str], titles: dict[str, str], width: int
) -> list[Table]:
    """Every panel of the report for `width` columns, in order: Linf budgets by eps, then L2, then
    the minimum-norm attacks. A panel too wide for `width` is split into several, each repeating
    the model, clean, robust and verdict columns."""
    notes = [c for c in NOTE_COLUMNS if c in columns]
    robust_cols = {t: c for c in columns if (t := robust_title(c)) is not None}
    groups: dict[str, list[str]] = {}
    for c in columns:
        if c in notes or c in robust_cols.values():
            continue
        groups.setdefault(titles.get(c, "other"), []).append(c)
    for t in robust_cols:
        groups.setdefault(t, [])
    # the model in one cell; dataset, arch, defense and seed only where they tell rows apart
    vary = varying(rows)
    parts: list[Table] = []
    if not groups:  # nothing attacked yet: the models and their clean accuracy
        groups = {"clean accuracy (no attack stored yet)": []}
    for title, cols in sorted(groups.items(), key=lambda kv: panel_order(kv[0])):
        robust_col = robust_cols.get(title)
        panel_notes = notes if title != MIN_NORM else []
        in_panel = [
            r
            for r in rows
            if not cols or any(c in r.adv or c in r.notes for c in cols) or robust_col in r.adv
        ]
        budget = _Budget(title, in_panel, vary, robust_col, panel_notes)
        chunks = _chunks(budget, cols, width)
        if BROKEN_BY in panel_notes:
            # where the attack that broke most costs a panel, it goes: it is also in the evidence
            # lines; the robust accuracy and the verdict always stay
            fewer = [n for n in panel_notes if n != BROKEN_BY]
            narrower = _Budget(title, in_panel, vary, robust_col, fewer)
            fewer_chunks = _chunks(narrower, cols, width)
            too_wide = any(_fitting(budget, title, [c], width, wrap=False) is None for c in cols)
            if len(fewer_chunks) < len(chunks) or too_wide:
                chunks, budget = fewer_chunks, narrower
        for i, chunk in enumerate(chunks):
            name = title if len(chunks) == 1 else f"{title} ({i + 1}/{len(chunks)})"
            parts.append(
                _fitting(budget, name, chunk, width, wrap=False)
                or _fitting(budget, name, chunk, width)
                or _panel(budget, name, chunk)
            )
    # a panel whose fixed columns alone are wider than the terminal is printed at its natural
    return parts


def summary_panels(rows: list[Row], columns: list[str], width: int) -> list[Table]:
    """The report's last word: one row per model and eval T (model, clean accuracy, the worst case
    at its verdict's budget with its interval, the verdict on both axes), so that a reader who
    skips the panels and the evidence still gets the answer. Rows whose verdicts speak about
    different budgets get a panel per budget; a row without a verdict shows its smallest Linf
    budget. Seed-mean rows are left to their panels."""
    robust = sorted(
        (c for c in columns if robust_title(c) is not None),
        key=lambda c: panel_order(robust_title(c) or ""),
    )
    notes = [c for c in VERDICT_COLUMNS if c in columns]
    groups: dict[str | None, list[Row]] = {}
    for r in rows:
        if r.seeds:
            continue
        own = r.budget if r.budget in robust else None
        col = own or next((c for c in robust if c in r.adv), None)
        groups.setdefault(col, []).append(r)
    vary = varying(rows)
    out = []
    for col, in_panel in groups.items():
        title = "Summary" if col is None else f"Summary at {robust_title(col)}"
        b = _Budget(title, in_panel, vary, col, notes, "worst case")
        out.append(
            _fitting(b, title, [], width, wrap=False)
            or _fitting(b, title, [], width)
            or _panel(b, title, [])
        )
    return out
