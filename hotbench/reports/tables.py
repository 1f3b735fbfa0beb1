"""Results as the tables people read: one row per (model, eval temperature), clean and adversarial
accuracy per attack, the worst case and the verdict (rich table, CSV, markdown)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.table import Table

from ..evaluate.diagnose import annotate_rows
from ..progress import plain_text
from ..store import Workspace
from .records import Filters, flat_records, record_key, select_runs


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
            )
        row.adv[r["label"]] = r["adv_acc"]
        if r["label"] not in columns:
            columns.append(r["label"])
        if (
            r["eps"] is None
        ):  # minimum-norm attack (cw, deepfool): read its success rate and mean L2 size
            for col, value in (
                (f"{r['label']} success", r.get("success_rate")),
                (f"{r['label']} L2", r.get("mean_l2")),
            ):
                row.notes[col] = fmt_acc(value)
                if col not in size_columns:
                    size_columns.append(col)
    # models never attacked still get a row, with their clean accuracy at the training temperature
    for rec in select_runs(ws, filters):
        if not any(k[0] == rec.run_id for k in rows):
            c = rec.config
            rows[(rec.run_id, c.temp)] = Row(
                rec.run_id,
                c.dataset,
                c.act,
                c.temp,
                c.temp,
                rec.test_acc,
                rec.doc["metrics"].get("n_test"),
                {},
                defense=c.defense_label,
            )
    ordered = sorted(
        rows.values(), key=lambda r: (r.dataset, r.act, r.train_temp, -r.eval_temp, r.run_id)
    )
    # worst case ("robust"), the attack that broke most, the verdict
    return ordered, (
        _order_columns(columns, records)
        + size_columns
        + annotate_rows(ws, select_runs(ws, filters), ordered, verdicts)
    )


def _order_columns(columns: list[str], records: list[dict[str, Any]]) -> list[str]:
    first = {}
    for r in records:
        first.setdefault(r["label"], record_key(r)[5:])
    return sorted(columns, key=lambda c: first[c])


def fmt_acc(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


HEAD = ["dataset", "defense", "act", "train T", "eval T", "clean"]
TEXT_HEAD = ("dataset", "defense", "act")  # left-aligned


def cells(row: Row, columns: list[str]) -> list[str]:
    return [
        row.dataset,
        row.defense,
        row.act,
        f"{row.train_temp:g}",
        f"{row.eval_temp:g}",
        fmt_acc(row.clean_acc),
    ] + [row.notes.get(c) or fmt_acc(row.adv.get(c)) for c in columns]


CAPTION = (
    "adversarial accuracy = correct after attack / all samples; only clean-correct samples are"
    " attacked"
)
MARKDOWN_NOTE = f"*Cells after `clean` are {CAPTION}.*"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(rows: list[Row], columns: list[str]) -> str:
    """A GitHub-flavoured markdown table: text columns left-aligned, numbers right-aligned (paper/PR
    ready)."""
    head = HEAD + columns
    align = [":---" if h in TEXT_HEAD else "---:" for h in head]
    lines = ["| " + " | ".join(_md_escape(h) for h in head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_escape(c) for c in cells(r, columns)) + " |" for r in rows]
    return "\n".join(lines)


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
    """The terminal table, with the evidence behind each verdict under it."""
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
