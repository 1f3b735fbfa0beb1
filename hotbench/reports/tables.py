"""The people's table as data: one row per (model, eval temperature) with its clean accuracy, each
attack's adversarial accuracy, the worst case and the verdict (`pivot`), each row's cells and a
model's identity in one cell. The formats render it: reports.terminal (panels that fit the
terminal), reports.file_tables (CSV, Markdown, LaTeX) and reports.html."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import stats
from ..store import Workspace
from .records import Filters, flat_records, record_key, seed_key, select_runs, surrogates
from .verdicts import ROBUST_PREFIX, annotate_rows


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
    # a row of means: the training seeds it summarizes, and per column ("clean" for the clean
    # accuracy) the mean and sample sd as numbers (CSV); its text cells are in `notes`
    train_seeds: tuple[int, ...] = ()
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)
    budget: str | None = None  # the worst-case column of its verdict's budget ("robust ε=0.3")

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
    arch, temperatures) is the rows' own: only the numbers are summaries (stats.mean_spread: a
    mean of 0.54 and 0.6 is 0.57, not 0.5700000000000001)."""
    first = group[0]
    cols = [c for c in first.adv if all(c in r.adv for r in group)]
    summary = Row(
        f"mean of {len(group)} seeds",
        first.dataset,
        first.act,
        first.train_temp,
        first.eval_temp,
        math.nan,
        None,
        {},
        defense=first.defense,
        arch=first.arch,
        seeds=len(group),
        train_seeds=tuple(sorted(r.seed for r in group if r.seed is not None)),
    )
    for c, values in [("clean", [r.clean_acc for r in group])] + [
        (c, [r.adv[c] for r in group]) for c in cols
    ]:
        m, sd = stats.mean_spread(values)
        summary.spread[c] = (m, sd)
        summary.notes[c] = f"{m:.3f} sd {sd:.3f}"
    summary.clean_acc = summary.spread["clean"][0]
    return summary


def _order_columns(columns: list[str], records: list[dict[str, Any]]) -> list[str]:
    first = {}
    for r in records:
        first.setdefault(r["label"], record_key(r)[5:])
    return sorted(columns, key=lambda c: first[c])


HEAD = ["dataset", "defense", "act", "train T", "eval T", "n", "clean"]
TEXT_HEAD = ("dataset", "defense", "act")  # left-aligned


def seed_cell(row: Row) -> str:
    """The seed column of the file tables: a model's training seed; the seeds a row of means
    summarizes (`mean of 0,1`), so that it reads apart from the rows it summarizes."""
    if row.seeds:
        return "mean of " + ",".join(str(s) for s in row.train_seeds)
    return "-" if row.seed is None else str(row.seed)


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


def robust_title(column: str) -> str | None:
    """'robust ε=0.3' -> 'Linf ε=0.3'; 'robust L2 ε=0.5' -> 'L2 ε=0.5' (verdicts.annotate_rows)."""
    if not column.startswith(ROBUST_PREFIX + " "):
        return None
    rest = column[len(ROBUST_PREFIX) + 1 :]
    return rest if not rest.startswith("ε=") else f"Linf {rest}"


# ---- which panel a column belongs to (terminal panels, HTML sections) --------------------------
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
