"""The report's table in the formats written to files: CSV (every number raw), GitHub-flavoured
Markdown and a booktabs LaTeX table, each with every accuracy's interval where the format shows
one."""

from __future__ import annotations

import csv
import io
import math

from .. import stats
from . import markdown
from .tables import CAPTION, HEAD, TEXT_HEAD, Row, cells, seed_cell
from .verdicts import NOTE_COLUMNS

MARKDOWN_NOTE = f"*Cells after `clean` are {CAPTION}.*"


def _md_escape(text: str) -> str:
    return markdown.cell(text)


# where the seed column goes in the file tables: after the temperatures, before n
_SEED_AT = HEAD.index("n")


def _with_seeds(rows: list[Row]) -> bool:
    """Whether the file tables get a seed column: where a row of seeds' means is among the rows,
    whose per-seed rows would otherwise read alike in every identity column (and like their
    mean)."""
    return any(r.seeds for r in rows)


def _head(rows: list[Row], columns: list[str]) -> list[str]:
    head = HEAD + columns
    return head[:_SEED_AT] + ["seed"] + head[_SEED_AT:] if _with_seeds(rows) else head


def _cells(row: Row, columns: list[str], seeds: bool) -> list[str]:
    out = cells(row, columns)
    return out[:_SEED_AT] + [seed_cell(row)] + out[_SEED_AT:] if seeds else out


def markdown_table(rows: list[Row], columns: list[str]) -> str:
    """A GitHub-flavoured markdown table: text columns left-aligned, numbers right-aligned (paper/PR
    ready)."""
    head, seeds = _head(rows, columns), _with_seeds(rows)
    align = [":---" if h in TEXT_HEAD or h in NOTE_COLUMNS else "---:" for h in head]
    lines = ["| " + " | ".join(_md_escape(h) for h in head) + " |", "| " + " | ".join(align) + " |"]
    lines += [
        "| " + " | ".join(_md_escape(c) for c in _cells(r, columns, seeds)) + " |" for r in rows
    ]
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
    head, seeds = _head(rows, columns), _with_seeds(rows)
    align = "".join("l" if h in TEXT_HEAD or h in NOTE_COLUMNS else "r" for h in head)
    body = []
    for r in rows:
        fixed = _cells(r, [], seeds)[:-1]  # the text formats' key cells, without clean
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


def _csv_values(row: Row, key: str, with_sd: bool) -> list[object]:
    """A column's number on `row` (the mean on a row of means; `key` "clean" is clean_acc), then
    its sd (empty but on a row of means) where the table has a `_sd` column for it."""
    if key in row.spread:
        num: object = row.spread[key][0]
    elif key == "clean":
        num = row.clean_acc
    else:
        num = row.notes.get(key, "" if row.adv.get(key) is None else row.adv[key])
    if not with_sd:
        return [num]
    return [num, row.spread[key][1] if key in row.spread else ""]


def csv_table(rows: list[Row], columns: list[str]) -> str:
    """Every number raw, one column each. Where a row of seeds' means is among the rows, each
    accuracy column is followed by its `<column>_sd` (the seeds' sample sd, empty on other rows)
    and the mean row holds its means in the accuracy columns: numbers stay numbers, never
    "0.010 sd 0.014" (docs/results-schema.md)."""
    # the columns a mean row has a spread of (none without seeds: the CSV is what it was)
    sd_of = {c for r in rows for c in r.spread} if _with_seeds(rows) else set()

    def named(name: str, key: str) -> list[str]:
        return [name, f"{name}_sd"] if key in sd_of else [name]

    head = ["run_id", "dataset", "defense", "act", "train_temp", "eval_temp"]
    head += named("clean_acc", "clean") + ["n_samples"]
    for c in columns:
        head += named(c, c)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in rows:
        line: list[object] = [r.run_id, r.dataset, r.defense, r.act, r.train_temp, r.eval_temp]
        line += _csv_values(r, "clean", "clean" in sd_of) + [r.n_samples]
        for c in columns:
            line += _csv_values(r, c, c in sd_of)
        w.writerow(line)
    return buf.getvalue()
