"""The report's table in the formats written to files: CSV (every number raw), GitHub-flavoured
Markdown and a booktabs LaTeX table, each with every accuracy's interval where the format shows
one."""

from __future__ import annotations

import csv
import io
import math

from .. import stats
from . import markdown
from .tables import CAPTION, HEAD, TEXT_HEAD, Row, cells
from .verdicts import NOTE_COLUMNS

MARKDOWN_NOTE = f"*Cells after `clean` are {CAPTION}.*"


def _md_escape(text: str) -> str:
    return markdown.cell(text)


def markdown_table(rows: list[Row], columns: list[str]) -> str:
    """A GitHub-flavoured markdown table: text columns left-aligned, numbers right-aligned (paper/PR
    ready)."""
    head = HEAD + columns
    align = [":---" if h in TEXT_HEAD or h in NOTE_COLUMNS else "---:" for h in head]
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
