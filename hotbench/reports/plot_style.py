"""The look every figure shares: attack families and their legend groups, colours, markers and
drawing order, the panel grid, one legend below the panels that the figure grows to hold, the
curves with their Wilson intervals, and the encoding of a figure without a creation date (the same
results give the same bytes). The figures themselves are built in `plots`.

What a reader of a paper needs from them (issue 15), and how each figure gives it:
- **One legend, grouped by attack family**: attacks that follow the deployed output's gradient (the
  paper's), adaptive attacks (logits, margin losses, black-box, transfer), minimum-norm attacks,
  and the references (clean, worst case). One entry per attack, not per attack x eps: the budget is
  the marker. The legend sits below the panels and the figure grows to hold it, so it is never cut
  off by the figure edge however many attacks there are.
- **The decisive lines on top**: the worst case is a wide translucent band drawn first; the
  adaptive attacks that usually define it (pgd@z, transfer, square) are drawn above it, so they stay
  visible where they coincide with it, and the paper's attacks are thinner lines beneath those.
- **Minimum-norm attacks (cw, deepfool) on their own panels**: they have no eps budget, so an
  "accuracy" beside bounded attacks means nothing; they are drawn as attack success rate against
  the L2 size of the perturbation (the fraction of clean-correct samples broken within each
  radius), from the per-sample sizes stored with each result.
- **Error bars** are the stored 95% Wilson intervals (hotbench.stats), bars on each attack's points
  (dodged a little along x so that they do not hide each other) and a band on the worst case and
  on the success curves.
- **Axis scales are stated** in the labels (log scale for temperature, linear for ε and L2).
- PNG, SVG and PDF, written without a creation date so that re-plotting the same results gives the
  same SVG and PDF bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..attacks.spec import ATTACKS
from ..evaluate.suites import SUITES
from ..files import write_output

# no creation date in vector files: the same results give the same bytes (reviewable diffs)
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


CLEAN = "clean"


PANEL_W, PANEL_H, MAX_COLS = 4.6, 3.4, 3


LOWER_H = 0.85  # a minimum-norm panel's height, relative to an accuracy panel's


# legend groups, in the order their columns appear
PAPER, ADAPTIVE, MIN_NORM, REFERENCE, BUDGET, TEMPS, MODELS = (
    "paper",
    "adaptive",
    "min-norm",
    "reference",
    "budget",
    "temps",
    "models",
)


GROUP_TITLES = {
    PAPER: "deployed output's gradient (paper)",
    ADAPTIVE: "adaptive: logits, margin, black-box, transfer",
    MIN_NORM: "minimum-norm (success vs L2 panels)",
    REFERENCE: "reference",
    BUDGET: "budget (marker)",
    TEMPS: "training T (success vs L2 panels)",
    MODELS: "model: defense (output layer)",
}


MARKERS = "osD^vP*X"


MIN_NORM_STYLES = ["-", "--", ":", "-."]


# drawing order: what decides the verdict goes on top of what it coincides with
Z_BAND, Z_WORST, Z_CLEAN, Z_PAPER, Z_ADAPTIVE = 1.0, 2.0, 2.5, 3.0, 4.0


LOG_LABEL = "training temperature T (log scale)"


ACC_LABEL = "accuracy (bars: 95% Wilson CI)"


def family(label: str) -> str:
    """An attack's label without its eps: the line that an eps sweep draws (`pgd ε=0.3` ->
    `pgd`)."""
    return label.split(" ε=")[0]


@cache
def _adaptive_methods() -> frozenset[str]:
    """Methods only the adaptive suite runs (apgd, square, transfer, ...): the suites say which
    attacks are whose, so there is no second list to keep in step."""
    adaptive = {item[0] for item in SUITES.get("adaptive")()}
    return frozenset(adaptive - {item[0] for item in SUITES.get("paper")()})


def attack_group(r: dict[str, Any]) -> str:
    """The legend group of an attack record: minimum-norm (no budget), adaptive (on the logits, or
    an attack only the adaptive suite runs), or one that follows the deployed output's gradient as
    the paper's attacks do."""
    if ATTACKS.get(r["method"]).norm is None:
        return MIN_NORM
    if r.get("on", "output") != "output" or r["method"] in _adaptive_methods():
        return ADAPTIVE
    return PAPER


@dataclass
class Legend:
    """The figure's legend entries, by group: one entry per name, whatever the panels repeat."""

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, group: str, name: str, handle: Any) -> None:
        self.groups.setdefault(group, {}).setdefault(name, handle)

    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        return [(g, self.groups[g]) for g in GROUP_TITLES if self.groups.get(g)]


def grid(n: int, title: str, lower: bool = False):
    """A figure of n panels, at most MAX_COLS a row; with `lower`, each panel has a second one
    below it (the minimum-norm panel of the same models). Returns (figure, upper axes, lower axes).
    The legend's height is added by `_finish`, once it is measured."""
    from matplotlib.figure import Figure

    ncols = min(MAX_COLS, n)
    blocks = math.ceil(n / ncols)
    ratios = [1.0, LOWER_H] * blocks if lower else [1.0] * blocks
    fig = Figure(figsize=(PANEL_W * ncols, PANEL_H * sum(ratios) + 0.5), layout="constrained")
    axes = fig.subplots(len(ratios), ncols, squeeze=False, height_ratios=ratios)
    step = 2 if lower else 1
    upper = [axes[(i // ncols) * step, i % ncols] for i in range(n)]
    below = [axes[(i // ncols) * step + 1, i % ncols] for i in range(n)] if lower else []
    for ax in axes.flat:
        if not any(ax is a for a in upper + below):
            ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    return fig, upper, below


def blank():
    return line2d(linestyle="none", marker="none")


def _legend(fig, legend: Legend):
    """One legend below the panels, one column per group with its title in bold; per-panel
    legends would cover the curves. Groups are padded to the same length so that matplotlib's
    column-major fill puts each group in a column of its own."""
    cols = legend.entries()
    rows = 1 + max(len(entries) for _, entries in cols)
    handles: list[Any] = []
    labels: list[str] = []
    titles: set[int] = set()
    for group, entries in cols:
        titles.add(len(labels))
        handles.append(blank())
        labels.append(GROUP_TITLES[group])
        handles += list(entries.values())
        labels += list(entries)
        pad = rows - 1 - len(entries)
        handles += [blank() for _ in range(pad)]
        labels += [""] * pad
    leg = fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=len(cols),
        frameon=False,
        fontsize=8.5,
        handlelength=2.6,
        columnspacing=1.8,
    )
    for i, text in enumerate(leg.get_texts()):
        if i in titles:
            text.set_fontweight("bold")
    return leg


def _fit(fig, leg) -> None:
    """Grow the figure to hold its legend: wider when the legend is wider than the panels (a
    single panel with a dozen attacks), and taller by the legend's height, so that the constrained
    layout never squeezes the panels and the legend is never cut off by the figure edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    box = leg.get_window_extent(FigureCanvasAgg(fig).get_renderer())
    w, h = fig.get_size_inches()
    fig.set_size_inches(max(w, box.width / fig.dpi + 0.4), h + box.height / fig.dpi + 0.15)


def finish(fig, legend: Legend, path: Path | None, fmt: str) -> bytes:
    """Add the legend, size the figure for it, encode it as `fmt`, and write `path` atomically
    when given; returns the encoded bytes."""
    if legend.groups:
        _fit(fig, _legend(fig, legend))
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150, metadata=_METADATA[fmt])
    data = buf.getvalue()
    if path is not None:
        write_output(path, data)
    return data


def style_acc_axis(ax, label: str = ACC_LABEL) -> None:
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)


def log_x(ax, xs: Iterable[float]) -> bool:
    """Temperature axis: log scale where it spreads the points (T in 1..100), with ticks at the
    measured temperatures; the label says which scale it is."""
    from matplotlib.ticker import FixedLocator, NullLocator

    xs = sorted({x for x in xs if x > 0})
    log = bool(xs) and (len(xs) == 1 or xs[-1] / xs[0] >= 5)
    if log:  # a single temperature also gets one tick at its value, not 0.96 .. 1.04
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.set_xlim(xs[0] / 1.4, xs[-1] * 1.4)
    ax.set_xlabel(LOG_LABEL if log else "training temperature T (linear scale)")
    return log


def fixed_ticks(ax, xs: Iterable[float]) -> None:
    from matplotlib.ticker import FixedLocator

    xs = sorted(set(xs))
    if len(xs) <= 8:  # ticks at the measured values; more would crowd the axis
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.set_xticklabels([f"{x:g}" for x in xs])


@dataclass(frozen=True)
class Series:
    """One attack's points in one panel, with their intervals: what `draw_series` plots."""

    xs: list[float]
    ys: list[float]
    lo: list[float]
    hi: list[float]

    @classmethod
    def of(cls, recs: list[dict[str, Any]], x: str, y: str = "adv") -> Series:
        """From records: x is a record field, y a prefix of `{y}_acc`, `{y}_ci_low/high`
        (`robust` reads `robust_acc`, `ci_low`, `ci_high`)."""
        acc, low, high = (
            ("robust_acc", "ci_low", "ci_high")
            if y == "robust"
            else (f"{y}_acc", f"{y}_ci_low", f"{y}_ci_high")
        )
        pts = sorted(
            (r[x], r[acc], r.get(low), r.get(high))
            for r in recs
            if r.get(acc) is not None and not math.isnan(r[acc])
        )
        return cls(
            [p[0] for p in pts],
            [p[1] for p in pts],
            [p[1] if p[2] is None else p[2] for p in pts],
            [p[1] if p[3] is None else p[3] for p in pts],
        )


def dodge(xs: list[float], i: int, m: int, log: bool) -> list[float]:
    """Shift series i of m a little along x so that error bars at the same x do not hide each
    other: by a constant factor on a log axis, by a fraction of the span on a linear one. The
    whole spread is capped (a tenth of a decade, a tenth of the span), so that with dozens of
    series every point stays inside the axis limits."""
    off = i - (m - 1) / 2
    if log:
        return [x * 10 ** (min(0.012, 0.1 / max(1, m - 1)) * off) for x in xs]
    span = (max(xs) - min(xs)) or max(abs(xs[0]), 1e-3)
    return [x + min(0.008, 0.1 / max(1, m - 1)) * span * off for x in xs]


def draw_series(ax, s: Series, where: tuple[int, int, bool], style: dict[str, Any]) -> None:
    """An attack's line with its Wilson error bars; `where` = (its index, how many series, log
    x) for the dodge."""
    if not s.xs:
        return
    xs = dodge(s.xs, *where)
    yerr = [
        [y - lo for y, lo in zip(s.ys, s.lo, strict=True)],
        [hi - y for y, hi in zip(s.ys, s.hi, strict=True)],
    ]
    ax.errorbar(xs, s.ys, yerr=yerr, capsize=2, elinewidth=0.8, markersize=4.5, **style)


def draw_worst(ax, s: Series, marker: str) -> None:
    """The worst case: its interval as a grey band and a wide translucent black line, both beneath
    every attack, so that the adaptive attack that defines it stays visible on top."""
    if not s.xs:
        return
    ax.fill_between(s.xs, s.lo, s.hi, color="0.2", alpha=0.13, linewidth=0, zorder=Z_BAND)
    ax.plot(s.xs, s.ys, zorder=Z_WORST, solid_capstyle="round", **worst_style(marker))


def worst_style(marker: str) -> dict[str, Any]:
    """The worst case's line, in the panels and in the legend alike."""
    return {
        "color": "black",
        "linewidth": 5,
        "alpha": 0.3,
        "marker": marker,
        "markersize": 8,
    }


def handle(color: Any, group: str, marker: str = "o"):
    return line2d(**attack_style(color, group, marker))


def attack_style(color: Any, group: str, marker: str) -> dict[str, Any]:
    """Adaptive attacks: thick, filled, on top; the paper's: thinner, hollow markers, beneath."""
    if group == ADAPTIVE:
        return {
            "color": color,
            "linewidth": 1.9,
            "marker": marker,
            "zorder": Z_ADAPTIVE,
        }
    return {
        "color": color,
        "linewidth": 1.1,
        "marker": marker,
        "markerfacecolor": "white",
        "zorder": Z_PAPER,
    }


def worst_handle(marker: str = "D"):
    return line2d(**worst_style(marker))


def label_order(records: list[dict[str, Any]]) -> list[str]:
    """Attack labels in the report's column order: families as first seen, then by eps within a
    family."""
    fams: dict[str, int] = {}
    eps: dict[str, float] = {}
    for r in records:  # flat_records are sorted by the attack registry's order
        fams.setdefault(family(r["label"]), len(fams))
        eps[r["label"]] = r["eps"] if r.get("eps") is not None else -1.0
    return sorted(eps, key=lambda lab: (fams[family(lab)], eps[lab]))


PAPER_COLORS = [
    "#1f77b4",
    "#2ca02c",
    "#17becf",
    "#6b6ecf",
    "#8c9c3f",
    "#3182bd",
    "#74c476",
]


ADAPTIVE_COLORS = [
    "#d62728",
    "#ff7f0e",
    "#9467bd",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
    "#e6550d",
    "#843c39",
    "#fd8d3c",
    "#ad494a",
]


def family_colors(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A colour per attack family: blues and greens for the paper's group, reds, oranges and
    purples for the adaptive group, so that the groups read apart before the legend is read."""
    out: dict[str, Any] = {}
    seen = {PAPER: 0, ADAPTIVE: 0, MIN_NORM: 0}
    for lab in label_order(records):
        fam = family(lab)
        if fam in out:
            continue
        group = attack_group(next(r for r in records if r["label"] == lab))
        palette = ADAPTIVE_COLORS if group == ADAPTIVE else PAPER_COLORS
        out[fam] = palette[seen[group] % len(palette)]
        seen[group] += 1
    return out


def legend_groups(records: list[dict[str, Any]]) -> dict[str, str]:
    """Attack family -> legend group."""
    return {family(r["label"]): attack_group(r) for r in records}


def line2d(**style):
    from matplotlib.lines import Line2D

    return Line2D([], [], **style)


def draw_clean(ax, recs: list[dict[str, Any]], legend: Legend) -> None:
    clean: dict[float, dict[str, Any]] = {}
    for r in recs:
        clean.setdefault(r["train_temp"], r)
    s = Series.of(list(clean.values()), "train_temp", "clean")
    style = {"color": "0.45", "linestyle": "--", "marker": "s", "markersize": 4}
    ax.plot(s.xs, s.ys, zorder=Z_CLEAN, **style)
    legend.add(REFERENCE, CLEAN, line2d(**style))


def budget_markers(bounded: list[dict[str, Any]], robust: list[dict[str, Any]]) -> dict:
    """A marker per eps budget (one budget: the plain circle, and the worst case a diamond)."""
    eps = sorted({r["eps"] for r in bounded + robust if r.get("eps") is not None})
    if len(eps) <= 1:
        return {e: "o" for e in eps}
    return {e: MARKERS[i % len(MARKERS)] for i, e in enumerate(eps)}
