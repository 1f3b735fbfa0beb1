"""Results as the tables people read: one row per (model, eval temperature), clean and adversarial
accuracy per attack, the worst case and the verdict (rich table, CSV, markdown)."""

from __future__ import annotations

import csv
import io
import math
import textwrap
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from .. import stats
from ..progress import new_console, plain_text
from ..store import Workspace
from . import markdown
from .records import Filters, flat_records, record_key, seed_key, select_runs, surrogates
from .verdicts import (
    BROKEN_BY,
    NOTE_COLUMNS,
    ROBUST_PREFIX,
    VERDICT_COLUMNS,
    annotate_rows,
    line_style,
    style,
)


@dataclass
class Row:
    run_id: str
    dataset: str
    act: str
    train_temp: float
    eval_temp: float
    clean_acc: float
    n_samples: int | None
    adv: dict[str, float]  # column label -> adversarial accuracy
    notes: dict[str, str] = field(
        default_factory=dict
    )  # text columns (hotbench.diagnose: broken by, verdict)
    defense: str = "none"  # none, temperature, pgd-at, trades or a combination (defenses.label)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> 95% interval
    n: dict[str, int] = field(default_factory=dict)  # column -> samples it was measured on
    clean_ci: tuple[float, float] | None = None
    mixed: bool = False  # the row's attacks cover different samples (worst case: the shared ones)
    arch: str = ""
    seed: int | None = None  # the training seed
    seeds: int = 0  # > 0: a row of means across this many seeds (with_seed_rows)

    def cell(self, column: str) -> str:
        """An accuracy cell: `0.856 [.82,.89]`, with `n=` where it was measured on other samples
        than the row's n."""
        if column in self.notes:
            return self.notes[column]
        n = self.n.get(column)
        other = n is not None and n != self.n_samples
        return stats.fmt_acc(self.adv.get(column), self.ci.get(column), n, show_n=other)


def pivot(
    ws: Workspace,
    filters: Filters | None = None,
    verdicts: dict[tuple[str, float], dict[str, Any]] | None = None,
) -> tuple[list[Row], list[str]]:
    """Rows and columns of the people's table. `verdicts` (diagnose.report_verdicts) is computed if
    not given."""
    filters = filters or Filters()
    records = flat_records(ws, filters)
    rows: dict[tuple[str, float], Row] = {}
    columns: list[str] = []
    size_columns: list[
        str
    ] = []  # success rate / mean L2 of minimum-norm attacks, over the clean-correct
    for r in records:
        key = (r["run_id"], r["eval_temp"])
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(
                r["run_id"],
                r["dataset"],
                r["act"],
                r["train_temp"],
                r["eval_temp"],
                r["clean_acc"],
                r["n_samples"],
                {},
                defense=r["defense"],
                clean_ci=(r["clean_ci_low"], r["clean_ci_high"]),
                arch=r["arch"] or "",
                seed=r["train_seed"],
            )
        elif r["n_samples"] > (row.n_samples or 0):  # the row's n: its largest sample set
            row.n_samples, row.clean_acc = r["n_samples"], r["clean_acc"]
            row.clean_ci = (r["clean_ci_low"], r["clean_ci_high"])
        row.adv[r["label"]] = r["adv_acc"]
        row.ci[r["label"]] = (r["adv_ci_low"], r["adv_ci_high"])
        row.n[r["label"]] = r["n_samples"]
        if r.get("targeted_success") is not None:
            col = f"{r['label']} target hit"
            row.notes[col] = stats.fmt_acc(
                r["targeted_success"], (r["targeted_ci_low"], r["targeted_ci_high"])
            )
            if col not in size_columns:
                size_columns.append(col)
        if r["label"] not in columns:
            columns.append(r["label"])
        if (
            r["eps"] is None
        ):  # minimum-norm attack (cw, deepfool): read its success rate and mean L2 size
            for col, value in (
                (f"{r['label']} success", r.get("success_rate")),
                (f"{r['label']} L2", r.get("mean_l2")),
            ):
                row.notes[col] = stats.fmt_acc(value)
                if col not in size_columns:
                    size_columns.append(col)
    # models never attacked still get a row, with their clean accuracy at the training temperature
    # (not a transfer attack's surrogate, trained for another's sake)
    unattacked = [r for r in select_runs(ws, filters) if not any(k[0] == r.run_id for k in rows)]
    helpers = surrogates(ws) if unattacked else set()
    for rec in unattacked:
        if rec.run_id not in helpers:
            c = rec.config
            n_test = rec.doc["metrics"].get("n_test")
            rows[(rec.run_id, c.temp)] = Row(
                rec.run_id,
                c.dataset,
                c.act,
                c.temp,
                c.temp,
                rec.test_acc,
                n_test,
                {},
                defense=c.defense_label,
                clean_ci=(stats.interval(round(rec.test_acc * n_test), n_test) if n_test else None),
                arch=c.arch or "",
                seed=c.seed,
            )
    ordered = sorted(
        rows.values(), key=lambda r: (r.dataset, r.act, r.train_temp, -r.eval_temp, r.run_id)
    )
    runs = select_runs(ws, filters)
    # worst case ("robust"), the attack that broke most, the verdict
    extra = annotate_rows(ws, runs, ordered, verdicts)
    ordered = with_seed_rows(ordered, {r.run_id: seed_key(r.config) for r in runs})
    return ordered, _order_columns(columns, records) + size_columns + extra


def with_seed_rows(rows: list[Row], keys: dict[str, str]) -> list[Row]:
    """After the rows of models trained with several seeds (same config otherwise, same eval T), a
    row with each accuracy column's mean and spread (sample sd) across the seeds: the per-seed
    rows keep their own intervals, this row shows how much training noise adds."""
    groups: dict[tuple[str, float], list[Row]] = {}
    for r in rows:
        # attacked rows only: a model trained for another's sake (a transfer surrogate: the
        # undefended model with another seed) is no seed of a sweep
        if r.run_id in keys and r.adv:
            groups.setdefault((keys[r.run_id], r.eval_temp), []).append(r)
    out: list[Row] = []
    for r in rows:
        out.append(r)
        g = groups.get((keys.get(r.run_id, ""), r.eval_temp), [])
        if len(g) > 1 and r is g[-1]:
            out.append(seed_row(g))
    return out


def seed_row(group: list[Row]) -> Row:
    """The mean and spread of a group of seeds' rows. Every identity column (dataset, defense, act,
    arch, temperatures) is the rows' own: only the numbers are summaries."""
    first = group[0]
    cols = [c for c in first.adv if all(c in r.adv for r in group)]
    m, sd = stats.mean_spread([r.clean_acc for r in group])
    summary = Row(
        f"mean of {len(group)} seeds",
        first.dataset,
        first.act,
        first.train_temp,
        first.eval_temp,
        m,
        None,
        {},
        defense=first.defense,
        arch=first.arch,
        seeds=len(group),
    )
    summary.notes["clean"] = f"{m:.3f} sd {sd:.3f}"
    for c in cols:
        m, sd = stats.mean_spread([r.adv[c] for r in group])
        summary.notes[c] = f"{m:.3f} sd {sd:.3f}"
    return summary


def _order_columns(columns: list[str], records: list[dict[str, Any]]) -> list[str]:
    first = {}
    for r in records:
        first.setdefault(r["label"], record_key(r)[5:])
    return sorted(columns, key=lambda c: first[c])


HEAD = ["dataset", "defense", "act", "train T", "eval T", "n", "clean"]
TEXT_HEAD = ("dataset", "defense", "act")  # left-aligned


def n_cell(row: Row) -> str:
    if row.seeds:
        return f"{row.seeds} seeds"  # a row of means: its cells say `mean sd spread`
    return "-" if row.n_samples is None else str(row.n_samples)


def cells(row: Row, columns: list[str]) -> list[str]:
    return [
        row.dataset,
        row.defense,
        row.act + (" *" if row.mixed else ""),
        f"{row.train_temp:g}",
        f"{row.eval_temp:g}",
        n_cell(row),
        row.notes.get("clean") or stats.fmt_acc(row.clean_acc, row.clean_ci),
    ] + [row.cell(c) for c in columns]


# ---- a model's identity in one cell (terminal and HTML) ------------------------------------------
MODEL = "model"
MODEL_NOTE = (
    "model = activation, training T @ evaluation T (tanh T50@1: trained at T = 50, deployed at"
    " T = 1)"
)
# what tells rows apart beyond act and the temperatures, shown only where rows differ in it
_VARYING = ("dataset", "arch", "defense", "seed")


def _adversarial(defense: str) -> str:
    """The part of a defense label that the act does not already say: `pgd-at` of
    `temperature+pgd-at`; '' for `none` and `temperature`."""
    return "+".join(p for p in defense.split("+") if p not in ("none", "temperature"))


def varying(rows: list[Row]) -> set[str]:
    """The identity fields in which `rows` differ (beyond act, train T and eval T)."""
    out = {f for f in ("dataset", "arch") if len({getattr(r, f) for r in rows}) > 1}
    if len({_adversarial(r.defense) for r in rows}) > 1:
        out.add("defense")
    if len({r.seed for r in rows if not r.seeds}) > 1:
        out.add("seed")
    return out


def model_cell(row: Row, vary: set[str]) -> str:
    """A model and eval T in a few characters: `tanh T50@1`, with the dataset, arch, adversarial
    defense and seed where the rows differ in them (`mnist none T1@1 pgd-at s1`), `*` where the
    row's attacks cover different samples."""
    parts = [getattr(row, f) for f in ("dataset", "arch") if f in vary]
    parts.append(f"{row.act} T{row.train_temp:g}@{row.eval_temp:g}")
    if "defense" in vary and _adversarial(row.defense):
        parts.append(_adversarial(row.defense))
    if row.seeds:
        parts.append(f"mean of {row.seeds}")
    elif "seed" in vary and row.seed is not None:
        parts.append(f"s{row.seed}")
    return " ".join(parts) + (" *" if row.mixed else "")


CAPTION = (
    "adversarial accuracy = correct after attack / all samples; only clean-correct samples are"
    " attacked; [low,high] = 95% Wilson interval, bounds rounded outward; n= where a cell is on"
    " other samples than the row's n; * = the row's attacks cover different samples, its worst"
    " case is on the shared ones"
)
MARKDOWN_NOTE = f"*Cells after `clean` are {CAPTION}.*"


def _md_escape(text: str) -> str:
    return markdown.cell(text)


def markdown_table(rows: list[Row], columns: list[str]) -> str:
    """A GitHub-flavoured markdown table: text columns left-aligned, numbers right-aligned (paper/PR
    ready)."""
    head = HEAD + columns
    align = [":---" if h in TEXT_HEAD else "---:" for h in head]
    lines = ["| " + " | ".join(_md_escape(h) for h in head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_escape(c) for c in cells(r, columns)) + " |" for r in rows]
    return "\n".join(lines)


# LaTeX's special characters, and the Unicode the labels and verdicts use, as text-mode LaTeX that
# needs no package beyond booktabs (a label reaches the .tex verbatim otherwise: `_` and `%` break
# the build, `ε` needs a Unicode engine).
LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "ε": r"$\varepsilon$",
    "±": r"$\pm$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "×": r"$\times$",
    "—": "---",
    "–": "--",
    "·": r"$\cdot$",
}


LATEX_CAPTION = (
    "Adversarial accuracy = correct after attack / all samples; only clean-correct samples are"
    " attacked; [low,high] = 95% Wilson interval, bounds rounded outward; n = the test images a"
    " cell was measured on;"
    " * = the row's attacks cover different samples, its worst case is on the shared ones."
)


def latex_escape(text: str) -> str:
    """Text as LaTeX that typesets it literally (LATEX_ESCAPES; other characters pass through)."""
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in text)


def _latex_acc(value: float | None, ci: tuple[float, float] | None, n: int | None) -> str:
    r"""An accuracy as a paper prints it: the value, its 95% interval and the n it was measured on,
    `0.856 {\scriptsize [.82,.89] $n$=500}`. The interval is the bounds every format shows
    (stats.fmt_acc): Wilson intervals are asymmetric near 0 and 1, where a `±` misstates one
    side."""
    if value is None or math.isnan(value):
        return "--"
    value_text, _, interval = stats.fmt_acc(value, ci).partition(" ")
    extra = [interval] if interval else []
    if n is not None:
        extra.append(f"$n$={n}")
    return value_text + (" {\\scriptsize " + " ".join(extra) + "}" if extra else "")


def latex_table(rows: list[Row], columns: list[str]) -> str:
    r"""A booktabs table (`\usepackage{booktabs}`) of the report, for a paper: every accuracy with
    its 95% Wilson interval and n, every label escaped, the caption of the other formats. Text
    columns are left-aligned, numbers right-aligned."""
    head = HEAD + columns
    align = "".join("l" if h in TEXT_HEAD or h in NOTE_COLUMNS else "r" for h in head)
    body = []
    for r in rows:
        fixed = cells(r, [])[: len(HEAD) - 1]  # the text formats' key cells, without clean
        line = ["--" if c == "-" else latex_escape(c) for c in fixed]
        line.append(
            latex_escape(r.notes["clean"])
            if "clean" in r.notes
            else _latex_acc(r.clean_acc, r.clean_ci, r.n_samples)
        )
        for c in columns:
            if c in r.notes:
                line.append(latex_escape(r.notes[c]))
            else:
                line.append(_latex_acc(r.adv.get(c), r.ci.get(c), r.n.get(c, r.n_samples)))
        body.append(" & ".join(line) + r" \\")
    return "\n".join(
        [
            "% hotbench report --format latex; needs \\usepackage{booktabs}",
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            r"\caption{" + latex_escape(LATEX_CAPTION) + "}",
            r"\label{tab:hotbench}",
            r"\begin{tabular}{" + align + "}",
            r"\toprule",
            " & ".join(latex_escape(h) for h in head) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )


def csv_table(rows: list[Row], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["run_id", "dataset", "defense", "act", "train_temp", "eval_temp", "clean_acc", "n_samples"]
        + columns
    )
    for r in rows:
        w.writerow(
            [
                r.run_id,
                r.dataset,
                r.defense,
                r.act,
                r.train_temp,
                r.eval_temp,
                r.clean_acc,
                r.n_samples,
            ]
            + [r.notes.get(c, "" if r.adv.get(c) is None else r.adv[c]) for c in columns]
        )
    return buf.getvalue()


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


# ---- the terminal report: panels that fit the terminal ------------------------------------------
MIN_NORM = "minimum-norm attacks: accuracy, success rate, mean L2 size"


def budget_titles(records: list[dict[str, Any]]) -> dict[str, str]:
    """Column label -> the panel it belongs to: its threat model and eps ("Linf ε=0.3"), or the
    minimum-norm panel. Read from the records (not parsed from labels, whose wording may change)."""
    out: dict[str, str] = {}
    for r in records:
        if r["eps"] is None:
            for label in (r["label"], f"{r['label']} success", f"{r['label']} L2"):
                out[label] = MIN_NORM
        else:
            title = f"{r.get('threat_model') or 'Linf'} ε={r['eps']:g}"
            out[r["label"]] = out[f"{r['label']} target hit"] = title
    return out


def robust_title(column: str) -> str | None:
    """'robust ε=0.3' -> 'Linf ε=0.3'; 'robust L2 ε=0.5' -> 'L2 ε=0.5' (verdicts.annotate_rows)."""
    if not column.startswith(ROBUST_PREFIX + " "):
        return None
    rest = column[len(ROBUST_PREFIX) + 1 :]
    return rest if not rest.startswith("ε=") else f"Linf {rest}"


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
        table.add_column("robust", justify="right", no_wrap=True, style="bold")
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
    return _Budget(b.title, b.rows, b.vary, b.robust_col, notes)


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
        if _natural_width(panel) <= width:
            return panel
    # wrapped, fewest lines first: each axis in its column wraps less than both in one
    wrapped = [(b, 2), (b, 1), (merged, 2), (merged, 1)] if wrap else []
    for v, gap in [(v, gap) for v, gap in wrapped if v is not None]:
        spare = width - _natural_width(_panel(v, name, cols, spare=0, gap=gap))
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


def _panel_order(title: str) -> tuple[int, float, str]:
    """Linf budgets first, then L2, each by eps; the minimum-norm panel last."""
    if title == MIN_NORM or "ε=" not in title:
        return (2, 0.0, title)
    norm, _, eps = title.partition(" ε=")
    try:
        value = float(eps)
    except ValueError:
        value = math.inf
    return (0 if norm == "Linf" else 1, value, title)


def _natural_width(table: Table) -> int:
    text = plain_text(table, 100_000)
    return max((len(line) for line in text.splitlines()), default=0)  # trailing pad counts


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
    datasets = sorted({r.dataset for r in rows})
    parts: list[Table | str] = []
    if not groups:  # nothing attacked yet: the models and their clean accuracy
        groups = {"clean accuracy (no attack stored yet)": []}
    for title, cols in sorted(groups.items(), key=lambda kv: _panel_order(kv[0])):
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
    # width (the terminal wraps the line) rather than cut: a number is never hidden behind "…"
    needed = max((_natural_width(p) for p in parts if isinstance(p, Table)), default=0)
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
        key=lambda c: _panel_order(robust_title(c) or ""),
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
