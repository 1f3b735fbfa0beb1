"""Results -> tables. One row per (model, eval temperature); clean and adversarial accuracy per attack.

The JSON format is one record per (model, attack config): the unit that is stored, hashed and compared by
regression gates. Table, CSV and markdown are the pivot that people read.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from .attacks import ATTACKS
from .config import AttackConfig
from .errors import HotbenchError
from .progress import plain_text
from .store import Workspace

FORMATS = ("table", "json", "csv", "markdown", "html")
# Version of the JSON results document (`--format json`, baselines). Adding a field keeps the version;
# renaming, removing or changing the meaning of one bumps it. See docs/results-schema.md and
# hotbench/schemas/results.schema.json.
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "schemas" / "results.schema.json"


@dataclass
class Filters:
    dataset: list[str] = field(default_factory=list)
    act: list[str] = field(default_factory=list)
    temp: list[float] = field(default_factory=list)
    run: list[str] = field(default_factory=list)

    def match(self, cfg, run_id: str) -> bool:
        return ((not self.dataset or cfg.dataset in self.dataset)
                and (not self.act or cfg.act in self.act)
                and (not self.temp or any(math.isclose(cfg.temp, t) for t in self.temp))
                and (not self.run or any(run_id.startswith(r) or r in run_id for r in self.run)))


def select_runs(ws: Workspace, filters: Filters):
    if not ws.runs.is_dir() or not any(ws.runs.iterdir()):
        raise HotbenchError(f"workspace '{ws.root}' has no trained models",
                            "train some first (`hotbench train --dataset digits --act tanh --temp 50`) or pass --workspace")
    records = [r for r in ws.records() if filters.match(r.config, r.run_id)]
    if not records:
        raise HotbenchError(f"no trained model in '{ws.root}' matches the filters",
                            "loosen --dataset/--act/--temp/--run, or list what is there with `hotbench ls`")
    return records


def flat_records(ws: Workspace, filters: Filters | None = None) -> list[dict[str, Any]]:
    """One flat record per stored (model, attack config), in a stable order."""
    out = []
    for rec in select_runs(ws, filters or Filters()):
        cfg = rec.config
        for doc in ws.load_results(rec.run_id):
            acfg = AttackConfig(**doc["config"])
            out.append({
                "run_id": rec.run_id,
                "attack_id": doc["attack_id"],
                "dataset": cfg.dataset, "arch": cfg.arch, "act": cfg.act,
                "train_temp": cfg.temp, "eval_temp": acfg.eval_temp,
                "train_seed": cfg.seed, "epochs": cfg.epochs,
                "method": acfg.method, "label": acfg.label, "on": acfg.on, "targeted": acfg.targeted,
                "eps": acfg.eps if ATTACKS.get(acfg.method).norm else None,
                "threat_model": doc.get("threat_model"),
                "attack_config": doc["config"],
                **doc["metrics"],
                "time_s": doc["time_s"],
                "attack_seed": acfg.seed,
                "train_time_s": rec.doc["metrics"].get("train_time_s"),
                "n_train": rec.doc["metrics"].get("n_train"),
                "created": doc["provenance"].get("created"),
                "versions": doc["provenance"]["versions"],
                "device": doc["provenance"]["hardware"]["device"],
            })
    out.sort(key=_record_key)
    return out


def worst_case_records(ws: Workspace, filters: Filters | None = None) -> list[dict[str, Any]]:
    """HOOK: the per-model worst case ("robust accuracy"), one dict per (run_id, eval T, threat model, eps).

    Plots draw it as the "robust (worst case)" line, the JSON document carries it under "robust", and the
    regression gate compares its `robust_acc` like any other accuracy. Each dict has: robust_id (stable key
    within the run), run_id, dataset, act, train_temp, eval_temp, threat_model, eps, robust_acc, n_samples,
    attacks (labels that entered the worst case). Computed by hotbench.worstcase (exact, per sample).
    """
    from .worstcase import worst_case_records as compute

    return compute(ws, select_runs(ws, filters or Filters()))


def results_document(ws: Workspace, filters: Filters | None = None) -> dict[str, Any]:
    """The versioned JSON results document: what `--format json` prints and what baselines store."""
    from . import __version__

    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION,
                           "generator": {"name": "hotbench", "version": __version__},
                           "records": flat_records(ws, filters)}
    robust = worst_case_records(ws, filters)
    if robust:
        doc["robust"] = robust
    return doc


def _record_key(r: dict[str, Any]):
    order = ATTACKS.names()
    return (r["dataset"], r["act"], r["train_temp"], -r["eval_temp"], r["run_id"],
            order.index(r["method"]), r["on"] != "output", r["eps"] if r["eps"] is not None else -1, str(r["targeted"]))


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
    notes: dict[str, str] = field(default_factory=dict)  # text columns (hotbench.diagnose: broken by, verdict)


def pivot(ws: Workspace, filters: Filters | None = None,
          verdicts: dict[tuple[str, float], dict[str, Any]] | None = None) -> tuple[list[Row], list[str]]:
    """Rows and columns of the people's table. `verdicts` (diagnose.report_verdicts) is computed if not given."""
    filters = filters or Filters()
    records = flat_records(ws, filters)
    rows: dict[tuple[str, float], Row] = {}
    columns: list[str] = []
    size_columns: list[str] = []  # success rate / mean L2 of minimum-norm attacks, over the clean-correct
    for r in records:
        key = (r["run_id"], r["eval_temp"])
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(r["run_id"], r["dataset"], r["act"], r["train_temp"], r["eval_temp"],
                                  r["clean_acc"], r["n_samples"], {})
        row.adv[r["label"]] = r["adv_acc"]
        if r["label"] not in columns:
            columns.append(r["label"])
        if r["eps"] is None:  # minimum-norm attack (cw, deepfool): read its success rate and mean L2 size
            for col, value in ((f"{r['label']} success", r.get("success_rate")), (f"{r['label']} L2", r.get("mean_l2"))):
                row.notes[col] = _fmt(value)
                if col not in size_columns:
                    size_columns.append(col)
    # models never attacked still get a row, with their clean accuracy at the training temperature
    for rec in select_runs(ws, filters):
        if not any(k[0] == rec.run_id for k in rows):
            c = rec.config
            rows[(rec.run_id, c.temp)] = Row(rec.run_id, c.dataset, c.act, c.temp, c.temp, rec.test_acc,
                                             rec.doc["metrics"].get("n_test"), {})
    ordered = sorted(rows.values(), key=lambda r: (r.dataset, r.act, r.train_temp, -r.eval_temp, r.run_id))
    from .diagnose import annotate_rows  # worst case ("robust"), the attack that broke most, the verdict

    return ordered, (_order_columns(columns, records) + size_columns
                     + annotate_rows(ws, select_runs(ws, filters), ordered, verdicts))


def _order_columns(columns: list[str], records: list[dict[str, Any]]) -> list[str]:
    first = {}
    for r in records:
        first.setdefault(r["label"], _record_key(r)[5:])
    return sorted(columns, key=lambda c: first[c])


def _fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


HEAD = ["dataset", "act", "train T", "eval T", "clean"]


def _cells(row: Row, columns: list[str]) -> list[str]:
    return [row.dataset, row.act, f"{row.train_temp:g}", f"{row.eval_temp:g}", _fmt(row.clean_acc)] + \
           [row.notes.get(c) or _fmt(row.adv.get(c)) for c in columns]


CAPTION = "adversarial accuracy = correct after attack / all samples; only clean-correct samples are attacked"
MARKDOWN_NOTE = f"*Cells after `clean` are {CAPTION}.*"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(rows: list[Row], columns: list[str]) -> str:
    """A GitHub-flavoured markdown table: text columns left-aligned, numbers right-aligned (paper/PR ready)."""
    head = HEAD + columns
    align = [":---" if h in ("dataset", "act") else "---:" for h in head]
    lines = ["| " + " | ".join(_md_escape(h) for h in head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_escape(c) for c in _cells(r, columns)) + " |" for r in rows]
    return "\n".join(lines)


def render(ws: Workspace, fmt: str, filters: Filters | None = None, width: int | None = None) -> str:
    if fmt not in FORMATS:
        raise HotbenchError(f"unknown format '{fmt}'", f"valid formats: {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(results_document(ws, filters), indent=1) + "\n"
    if fmt == "html":
        from .htmlreport import render_html

        return render_html(ws, filters)
    from .diagnose import report_verdicts, verdict_lines  # the verdict columns and the evidence behind them

    records = select_runs(ws, filters or Filters())
    verdicts = report_verdicts(ws, records)  # once: it loads every model and takes a gradient pass
    rows, columns = pivot(ws, filters, verdicts)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["run_id", "dataset", "act", "train_temp", "eval_temp", "clean_acc", "n_samples"] + columns)
        for r in rows:
            w.writerow([r.run_id, r.dataset, r.act, r.train_temp, r.eval_temp, r.clean_acc, r.n_samples]
                       + [r.notes.get(c, "" if r.adv.get(c) is None else r.adv[c]) for c in columns])
        return buf.getvalue()
    if fmt == "markdown":
        return markdown_table(rows, columns) + "\n\n" + MARKDOWN_NOTE + "\n"
    table = Table(title="hotbench: clean vs adversarial accuracy", box=box.SIMPLE_HEAVY,
                  caption=CAPTION)
    for h in HEAD:
        table.add_column(h, justify="right" if h not in ("dataset", "act") else "left")
    for c in columns:
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(*_cells(r, columns))
    evidence = verdict_lines(ws, records, verdicts)
    return plain_text(table, width or 10_000) + "".join(line + "\n" for line in evidence)
