"""`hotbench compare A.json B.json`: what changed between two results documents, for people.

The regression gate (`report --baseline`) answers "did anything move beyond the tolerance" with an
exit code; this answers "what moved, by how much, and is it more than sampling noise", with no exit
code riding on it. It reads two schema-2 documents (`report --format json`, `--save-baseline`) and
matches them as the gate does (gate.items: attack records by (run_id, attack_id), worst cases by
(run_id, robust_id)); records found in only one document are listed as such.

Per matched pair it shows each side's accuracy (adversarial for an attack record, worst case for a
robust one) with its 95% Wilson interval and n (hotbench.stats), the difference B - A, and:
- **p**: Fisher's exact test on the two counts (stats.fisher). Documents carry counts, not the
  per-sample outcomes the paired McNemar test would need; on shared samples the unpaired test is
  conservative, so a small p is a real difference.
- **disjoint**: the two intervals do not overlap, the plainest flag a reader can check by eye.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from .. import stats
from . import markdown
from .baseline import items, load_baseline
from .gate_result import ROBUST_METRIC, describe

COMPARE_FORMATS = ("table", "json", "csv", "markdown")
BOTH, ONLY_A, ONLY_B = "both", "A only", "B only"
TEST = "Fisher exact, two-sided, on the counts (unpaired: conservative on shared samples)"
# metric -> (count field, interval fields) of a results document (docs/results-schema.md)
FIELDS = {
    "adv_acc": ("n_adv_correct", "adv_ci_low", "adv_ci_high"),
    ROBUST_METRIC: ("n_robust", "ci_low", "ci_high"),
}


@dataclass(frozen=True)
class Side:
    """One document's accuracy for a compared record: value, k of n, Wilson interval."""

    acc: float | None
    k: int | None
    n: int | None
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def of(cls, r: dict[str, Any], metric: str) -> Side:
        """From a record; the interval and count are recomputed from what is there when a field
        is missing (hand-edited or older documents)."""
        count, low, high = FIELDS[metric]
        acc = _num(r.get(metric))
        n = r.get("n_samples")
        n = int(n) if isinstance(n, (int, float)) and n > 0 else None
        k = r.get(count)
        if k is None and acc is not None and n is not None:
            k = round(acc * n)
        k = None if k is None else int(k)
        lo, hi = _num(r.get(low)), _num(r.get(high))
        if (lo is None or hi is None) and k is not None and n is not None:
            lo, hi = stats.interval(k, n)
        return cls(acc, k, n, lo, hi)

    def text(self) -> str:
        return stats.fmt_acc(self.acc, (self.ci_low, self.ci_high), self.n, show_n=True)


@dataclass(frozen=True)
class Row:
    """One compared record: where it was found, both sides, and what the difference means."""

    key: str  # "<run_id>/<attack_id>" or "<run_id>/<robust_id>"
    kind: str  # "attack" or "worst case"
    what: str  # model, eval T, attack label (gate_result.describe)
    metric: str
    found: str  # BOTH, ONLY_A or ONLY_B
    a: Side | None
    b: Side | None
    same_samples: bool | None  # both measured on the same sample set (None: unknown)

    @property
    def diff(self) -> float | None:
        if self.a is None or self.b is None or self.a.acc is None or self.b.acc is None:
            return None
        return self.b.acc - self.a.acc + 0.0

    @cached_property  # a scipy call, read by the flag, the summary and every output format
    def p_value(self) -> float | None:
        a, b = self.a, self.b
        if a is None or b is None or None in (a.k, a.n, b.k, b.n):
            return None
        p = stats.fisher(a.k, a.n, b.k, b.n)
        return None if math.isnan(p) else p

    @property
    def disjoint(self) -> bool | None:
        """The two 95% intervals do not overlap (None: an interval is unknown)."""
        a, b = self.a, self.b
        if a is None or b is None or None in (a.ci_low, a.ci_high, b.ci_low, b.ci_high):
            return None
        return a.ci_high < b.ci_low or b.ci_high < a.ci_low

    def fields(self) -> dict[str, Any]:
        """The flat record that JSON and CSV write."""
        out: dict[str, Any] = {
            "key": self.key,
            "kind": self.kind,
            "what": self.what,
            "metric": self.metric,
            "found": self.found,
        }
        for name, side in (("a", self.a), ("b", self.b)):
            d = asdict(side) if side is not None else dict.fromkeys(("acc", "k", "n"))
            out |= {f"{name}_{f}": d.get(f) for f in ("acc", "ci_low", "ci_high", "n", "k")}
        diff, p = self.diff, self.p_value
        out |= {
            "diff": None if diff is None else round(diff, 6),
            "p_value": None if p is None else float(f"{p:.6g}"),
            "intervals_disjoint": self.disjoint,
            "same_samples": self.same_samples,
        }
        return out


def _num(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _row(key: str, ra: dict[str, Any] | None, rb: dict[str, Any] | None) -> Row:
    r = rb if rb is not None else ra
    assert r is not None
    metric = ROBUST_METRIC if "robust_id" in r else "adv_acc"
    found = BOTH if ra is not None and rb is not None else (ONLY_A if rb is None else ONLY_B)
    same = None
    if found == BOTH and ra.get("samples") is not None and rb.get("samples") is not None:
        same = ra["samples"] == rb["samples"]
    return Row(
        key,
        "worst case" if metric == ROBUST_METRIC else "attack",
        describe(r),
        metric,
        found,
        None if ra is None else Side.of(ra, metric),
        None if rb is None else Side.of(rb, metric),
        same,
    )


def compare_documents(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    """Every record of A matched with B's (A's order), then the records only B has."""
    ia, ib = items(a), items(b)
    rows = [_row(key, ra, ib.get(key, (None,))[0]) for key, (ra, _) in ia.items()]
    rows += [_row(key, None, rb) for key, (rb, _) in ib.items() if key not in ia]
    return rows


def compare_files(a: Path, b: Path) -> list[Row]:
    """`hotbench compare A B`: read both documents (a missing file, bad JSON or another schema
    version is a HotbenchError: one line, exit 2) and compare them."""
    return compare_documents(
        load_baseline(Path(a), what="results file"), load_baseline(Path(b), what="results file")
    )


def _diff(row: Row) -> str:
    d = row.diff
    return "-" if d is None else f"{d:+.3f}"


def _p(row: Row) -> str:
    p = row.p_value
    return "-" if p is None else stats.fmt_p(p).removeprefix("p = ").removeprefix("p ")


def _flag(row: Row) -> str:
    if row.found != BOTH:
        return row.found
    flags = []
    if row.disjoint:
        flags.append("CIs apart")
    if (p := row.p_value) is not None and p < stats.ALPHA:
        flags.append(f"p<{stats.ALPHA:g}")
    if row.same_samples is False:
        flags.append("other samples")
    return ", ".join(flags)


def summary(rows: list[Row]) -> str:
    """One line: how many matched, differ, are flagged, and are in one document only."""
    both = [r for r in rows if r.found == BOTH]
    moved = sum(1 for r in both if r.diff)
    flagged = sum(1 for r in both if r.disjoint or (r.p_value or 1.0) < stats.ALPHA)
    only_a = sum(r.found == ONLY_A for r in rows)
    only_b = sum(r.found == ONLY_B for r in rows)
    return (
        f"{len(both)} matched ({moved} differ, {flagged} beyond sampling noise),"
        f" {only_a} only in A, {only_b} only in B"
    )


def table(rows: list[Row], names: tuple[str, str]) -> Table:
    """The rich table for a terminal: A and B with interval and n, B - A, p and the flags."""
    t = Table(
        title=escape(f"A = {names[0]}   B = {names[1]}"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("result", min_width=16, ratio=1, overflow="fold")
    for head in ("A", "B", "B - A", "p"):  # numbers whole, never split over lines
        t.add_column(head, justify="right", no_wrap=True)
    t.add_column("flag", min_width=9)
    for r in rows:
        flag = _flag(r)
        style = "bold red" if ("apart" in flag or "p<" in flag) else ""
        t.add_row(
            escape(r.what),  # labels hold [brackets] (pgd[least-likely]) that are not markup
            "-" if r.a is None else r.a.text().replace(" n=", "\nn="),  # fits 80 columns
            "-" if r.b is None else r.b.text().replace(" n=", "\nn="),
            _diff(r),
            _p(r),
            flag,
            style=style,
        )
    return t


def notes(rows: list[Row]) -> str:
    """What goes under the terminal table: the summary and what the columns mean."""
    return (
        f"{summary(rows)}.\n[low,high]: 95% Wilson interval, bounds rounded outward. p: {TEST}."
        " CIs apart: the two intervals do not overlap."
    )


def render(rows: list[Row], fmt: str, names: tuple[str, str]) -> str:
    """JSON, CSV or Markdown text of a comparison (for stdout: nothing else is mixed in)."""
    if fmt == "json":
        doc = {
            "a": names[0],
            "b": names[1],
            "statistics": {
                "interval": f"{stats.INTERVAL_METHOD} {round(stats.CONFIDENCE * 100)}%",
                "test": TEST,
                "alpha": stats.ALPHA,
            },
            "summary": summary(rows),
            "rows": [r.fields() for r in rows],
            "only_a": [r.key for r in rows if r.found == ONLY_A],
            "only_b": [r.key for r in rows if r.found == ONLY_B],
        }
        return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        cols = list(rows[0].fields()) if rows else ["key"]
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow(r.fields())
        return buf.getvalue()
    lines = [
        f"A = {markdown.code(names[0])}, B = {markdown.code(names[1])}: {summary(rows)}.",
        "",
        "| result | metric | A | B | B - A | p | flag |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cells = [
            r.what,
            r.metric,
            "-" if r.a is None else r.a.text(),
            "-" if r.b is None else r.b.text(),
            _diff(r),
            _p(r),
            _flag(r),
        ]
        lines.append("| " + " | ".join(markdown.cell(c) for c in cells) + " |")
    lines += ["", notes(rows).split("\n")[1]]
    return "\n".join(lines) + "\n"
