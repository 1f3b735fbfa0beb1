"""Figures: adversarial accuracy against training temperature, and against epsilon; defenses side
by side.

Headless by construction: figures are built with `matplotlib.figure.Figure` and written by its own
canvas (Agg for PNG, the SVG and PDF backends for those), never through pyplot. That needs no
display, and it leaves the process-wide pyplot backend alone, so importing hotbench in a notebook
does not change how the user's own plots are shown.

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

Input is the flat records of `records.flat_records` (one per model and attack config), optionally
the worst-case records of `records.robust_records`, and for the minimum-norm panels the
per-sample sizes of `min_norm_curves` (the one function here that reads the workspace).
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..attacks.spec import ATTACKS
from ..errors import HotbenchError
from ..evaluate.suites import SUITES
from ..evaluate.worstcase import load_stored
from ..files import write_output
from ..stats import interval
from ..store import Workspace
from .records import Filters, flat_records, robust_records, select_runs

PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
# no creation date in vector files: the same results give the same bytes (reviewable diffs)
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}
ROBUST = "robust (worst case)"
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


def plot_format(path: Path) -> str:
    """'png', 'svg' or 'pdf' from the file name; checked before any work so that a typo fails at
    once."""
    fmt = PLOT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise HotbenchError(
            f"cannot write a plot to '{path}': unsupported extension '{Path(path).suffix}'",
            "name the file .png, .svg or .pdf",
        )
    return fmt


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


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _eval_panels(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Group records into panels (dataset, act, eval mode).

    The default eval temperature is the training one, so grouping by the eval T value alone would
    give one point per panel. Records evaluated at their training T form the panel "eval T = train
    T"; records at a fixed eval T (the paper's deployed T = 1) form "eval T = 1", which also takes
    the models whose training T equals it (the T = 1 model evaluated at T = 1 belongs on both
    curves).
    """
    fixed: dict[tuple[str, str], set[float]] = defaultdict(set)
    for r in records:
        if not _same(r["eval_temp"], r["train_temp"]):
            fixed[(r["dataset"], _act(r))].add(r["eval_temp"])
    panels: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        ds_act = (r["dataset"], _act(r))
        if _same(r["eval_temp"], r["train_temp"]):
            panels[(*ds_act, "eval T = train T")].append(r)
        for t in fixed.get(ds_act, ()):
            if _same(r["eval_temp"], t):
                panels[(*ds_act, f"eval T = {t:g}")].append(r)
    return dict(
        sorted(
            panels.items(),
            key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "eval T = train T", kv[0][2]),
        )
    )


def _act(r: dict[str, Any]) -> str:
    """The output activation, with the training defense when there is one ("tanh + pgd-at"): a
    defended and an undefended model at the same T are different curves."""
    trained = r.get("defense", "none").removeprefix("temperature").lstrip("+")
    return r["act"] if trained in ("", "none") else f"{r['act']} + {trained}"


def _grid(n: int, title: str, lower: bool = False):
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


def _blank():
    return _line2d(linestyle="none", marker="none")


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
        handles.append(_blank())
        labels.append(GROUP_TITLES[group])
        handles += list(entries.values())
        labels += list(entries)
        pad = rows - 1 - len(entries)
        handles += [_blank() for _ in range(pad)]
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


def _style_acc_axis(ax, label: str = ACC_LABEL) -> None:
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)


def _log_x(ax, xs: Iterable[float]) -> bool:
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


def _fixed_ticks(ax, xs: Iterable[float]) -> None:
    from matplotlib.ticker import FixedLocator

    xs = sorted(set(xs))
    if len(xs) <= 8:  # ticks at the measured values; more would crowd the axis
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.set_xticklabels([f"{x:g}" for x in xs])


@dataclass(frozen=True)
class Series:
    """One attack's points in one panel, with their intervals: what `_draw_series` plots."""

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


def _dodge(xs: list[float], i: int, m: int, log: bool) -> list[float]:
    """Shift series i of m a little along x so that error bars at the same x do not hide each
    other: by a constant factor on a log axis, by a fraction of the span on a linear one. The
    whole spread is capped (a tenth of a decade, a tenth of the span), so that with dozens of
    series every point stays inside the axis limits."""
    off = i - (m - 1) / 2
    if log:
        return [x * 10 ** (min(0.012, 0.1 / max(1, m - 1)) * off) for x in xs]
    span = (max(xs) - min(xs)) or max(abs(xs[0]), 1e-3)
    return [x + min(0.008, 0.1 / max(1, m - 1)) * span * off for x in xs]


def _draw_series(ax, s: Series, where: tuple[int, int, bool], style: dict[str, Any]) -> None:
    """An attack's line with its Wilson error bars; `where` = (its index, how many series, log
    x) for the dodge."""
    if not s.xs:
        return
    xs = _dodge(s.xs, *where)
    yerr = [
        [y - lo for y, lo in zip(s.ys, s.lo, strict=True)],
        [hi - y for y, hi in zip(s.ys, s.hi, strict=True)],
    ]
    ax.errorbar(xs, s.ys, yerr=yerr, capsize=2, elinewidth=0.8, markersize=4.5, **style)


def _draw_worst(ax, s: Series, marker: str) -> None:
    """The worst case: its interval as a grey band and a wide translucent black line, both beneath
    every attack, so that the adaptive attack that defines it stays visible on top."""
    if not s.xs:
        return
    ax.fill_between(s.xs, s.lo, s.hi, color="0.2", alpha=0.13, linewidth=0, zorder=Z_BAND)
    ax.plot(s.xs, s.ys, zorder=Z_WORST, solid_capstyle="round", **_worst_style(marker))


def _worst_style(marker: str) -> dict[str, Any]:
    """The worst case's line, in the panels and in the legend alike."""
    return {"color": "black", "linewidth": 5, "alpha": 0.3, "marker": marker, "markersize": 8}


def _handle(color: Any, group: str, marker: str = "o"):
    return _line2d(**_attack_style(color, group, marker))


def _attack_style(color: Any, group: str, marker: str) -> dict[str, Any]:
    """Adaptive attacks: thick, filled, on top; the paper's: thinner, hollow markers, beneath."""
    if group == ADAPTIVE:
        return {"color": color, "linewidth": 1.9, "marker": marker, "zorder": Z_ADAPTIVE}
    return {
        "color": color,
        "linewidth": 1.1,
        "marker": marker,
        "markerfacecolor": "white",
        "zorder": Z_PAPER,
    }


def _worst_handle(marker: str = "D"):
    return _line2d(**_worst_style(marker))


def _label_order(records: list[dict[str, Any]]) -> list[str]:
    """Attack labels in the report's column order: families as first seen, then by eps within a
    family."""
    fams: dict[str, int] = {}
    eps: dict[str, float] = {}
    for r in records:  # flat_records are sorted by the attack registry's order
        fams.setdefault(family(r["label"]), len(fams))
        eps[r["label"]] = r["eps"] if r.get("eps") is not None else -1.0
    return sorted(eps, key=lambda lab: (fams[family(lab)], eps[lab]))


PAPER_COLORS = ["#1f77b4", "#2ca02c", "#17becf", "#6b6ecf", "#8c9c3f", "#3182bd", "#74c476"]
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


def _family_colors(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A colour per attack family: blues and greens for the paper's group, reds, oranges and
    purples for the adaptive group, so that the groups read apart before the legend is read."""
    out: dict[str, Any] = {}
    seen = {PAPER: 0, ADAPTIVE: 0, MIN_NORM: 0}
    for lab in _label_order(records):
        fam = family(lab)
        if fam in out:
            continue
        group = attack_group(next(r for r in records if r["label"] == lab))
        palette = ADAPTIVE_COLORS if group == ADAPTIVE else PAPER_COLORS
        out[fam] = palette[seen[group] % len(palette)]
        seen[group] += 1
    return out


def _groups(records: list[dict[str, Any]]) -> dict[str, str]:
    """Attack family -> legend group."""
    return {family(r["label"]): attack_group(r) for r in records}


def _line2d(**style):
    from matplotlib.lines import Line2D

    return Line2D([], [], **style)


def _draw_clean(ax, recs: list[dict[str, Any]], legend: Legend) -> None:
    clean: dict[float, dict[str, Any]] = {}
    for r in recs:
        clean.setdefault(r["train_temp"], r)
    s = Series.of(list(clean.values()), "train_temp", "clean")
    style = {"color": "0.45", "linestyle": "--", "marker": "s", "markersize": 4}
    ax.plot(s.xs, s.ys, zorder=Z_CLEAN, **style)
    legend.add(REFERENCE, CLEAN, _line2d(**style))


def _budget_markers(bounded: list[dict[str, Any]], robust: list[dict[str, Any]]) -> dict:
    """A marker per eps budget (one budget: the plain circle, and the worst case a diamond)."""
    eps = sorted({r["eps"] for r in bounded + robust if r.get("eps") is not None})
    if len(eps) <= 1:
        return {e: "o" for e in eps}
    return {e: MARKERS[i % len(MARKERS)] for i, e in enumerate(eps)}


def temperature_figure(
    records: list[dict[str, Any]],
    robust: list[dict[str, Any]] | None = None,
    curves: list[dict[str, Any]] | None = None,
):
    """The accuracy-vs-temperature figure, unrendered: (matplotlib Figure, Legend), for
    `plot_vs_temperature` to finish and for tests to inspect.

    One panel per (dataset, act, eval mode) of bounded attacks (accuracy against training T, one
    line per attack, clean dashed, the worst case as a band beneath); with `curves`
    (`min_norm_curves`), a panel below each with the minimum-norm attacks' success rate against
    the L2 size of the perturbation."""
    if not records:
        raise HotbenchError(
            "no attack results to plot", "run `hotbench attack` first (or loosen the filters)"
        )
    robust = robust or []
    bounded = [r for r in records if attack_group(r) != MIN_NORM]
    panels = _eval_panels(records)
    robust_panels = _eval_panels(robust)
    curve_panels = _eval_panels(curves or [])
    labels = _label_order(bounded)
    colors = _family_colors(bounded)
    groups = _groups(bounded)
    markers = _budget_markers(bounded, robust)
    fig, upper, lower = _grid(
        len(panels), "Adversarial accuracy vs training temperature", lower=bool(curves)
    )
    legend = Legend()
    temp_colors = _temp_colors(curves or [])
    styles = _min_norm_styles(curves or [])
    for i, (key, recs) in enumerate(panels.items()):
        ax = upper[i]
        log = _log_x(ax, (r["train_temp"] for r in recs))
        _draw_clean(ax, recs, legend)
        wcs = robust_panels.get(key, [])
        for threat, eps in sorted({(r["threat_model"], r["eps"]) for r in wcs}):
            pts = [r for r in wcs if (r["threat_model"], r["eps"]) == (threat, eps)]
            marker = "D" if len(markers) <= 1 else markers[eps]
            _draw_worst(ax, Series.of(pts, "train_temp", "robust"), marker)
            legend.add(REFERENCE, f"{ROBUST}, 95% CI band", _worst_handle())
        rb = [r for r in recs if attack_group(r) != MIN_NORM]
        series = [lab for lab in labels if any(r["label"] == lab for r in rb)]
        for j, lab in enumerate(series):
            pts = [r for r in rb if r["label"] == lab]
            fam = family(lab)
            style = _attack_style(colors[fam], groups[fam], markers.get(pts[0]["eps"], "o"))
            _draw_series(ax, Series.of(pts, "train_temp"), (j, len(series), log), style)
            legend.add(groups[fam], fam, _handle(colors[fam], groups[fam]))
        _style_acc_axis(ax)
        ax.set_title(f"{key[0]} · {key[1]} · {key[2]}", fontsize=10)
        if lower:
            _draw_min_norm(lower[i], curve_panels.get(key, []), legend, (temp_colors, styles))
            lower[i].set_title(f"{key[0]} · {key[1]} · {key[2]} · minimum-norm", fontsize=10)
    if len(markers) > 1:
        for eps, m in markers.items():
            legend.add(BUDGET, f"ε={eps:g}", _line2d(color="black", marker=m, linestyle="none"))
    return fig, legend


def _temp_colors(curves: list[dict[str, Any]]) -> dict[float, Any]:
    """Training temperatures of the minimum-norm panels on a sequential scale (cold to hot), apart
    from the attacks' categorical colours."""
    from matplotlib import colormaps

    temps = sorted({c["train_temp"] for c in curves})
    cmap = colormaps["viridis"]
    return {t: cmap(0.85 * i / max(1, len(temps) - 1)) for i, t in enumerate(temps)}


def _min_norm_styles(curves: list[dict[str, Any]]) -> dict[str, str]:
    names = list(dict.fromkeys(c["label"] for c in curves))
    return {n: MIN_NORM_STYLES[i % len(MIN_NORM_STYLES)] for i, n in enumerate(names)}


def success_curve(
    l2: list[float], n_correct: int, x_max: float
) -> tuple[list[float], list[float], list[float], list[float]]:
    """A minimum-norm attack's success rate within each L2 radius: at radius r, the fraction of
    the n clean-correct samples it broke with ||delta||_2 <= r, with its Wilson interval. Returns
    (radii, rate, low, high) as steps from 0 to x_max."""
    sizes = sorted(l2)
    xs = [0.0, *sizes, max(x_max, sizes[-1] if sizes else 0.0)]
    ks = [0, *range(1, len(sizes) + 1), len(sizes)]
    ci = {k: interval(k, n_correct) for k in set(ks)}
    return (
        xs,
        [k / n_correct for k in ks],
        [ci[k][0] for k in ks],
        [ci[k][1] for k in ks],
    )


def _draw_min_norm(ax, curves: list[dict[str, Any]], legend: Legend, look: tuple) -> None:
    """A minimum-norm panel: one success-vs-L2 step curve per (model, attack), coloured by
    training T, dashed by attack, with its Wilson band."""
    temp_colors, styles = look
    x_max = 1.05 * max((max(c["l2"]) for c in curves if c["l2"]), default=1.0)
    drawn = 0
    for c in curves:
        if c["n_correct"] <= 0:
            continue
        xs, ys, lo, hi = success_curve(c["l2"], c["n_correct"], x_max)
        color = temp_colors[c["train_temp"]]
        ax.fill_between(xs, lo, hi, step="post", color=color, alpha=0.12, linewidth=0, zorder=1)
        ax.step(xs, ys, where="post", color=color, linestyle=styles[c["label"]], linewidth=1.7)
        legend.add(MIN_NORM, c["label"], _line2d(color="black", linestyle=styles[c["label"]]))
        legend.add(TEMPS, f"T={c['train_temp']:g}", _line2d(color=color, linewidth=3))
        drawn += 1
    if not drawn:
        ax.text(
            0.5,
            0.5,
            "no minimum-norm attack\non these models",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.4",
            fontsize=9,
        )
    ax.set_xlim(0, x_max)
    ax.set_xlabel("L2 size of the perturbation ‖δ‖₂ (linear scale)")
    _style_acc_axis(ax, "success rate within ‖δ‖₂ (band: 95% CI)")


def plot_vs_temperature(
    records: list[dict[str, Any]],
    path: Path | None = None,
    fmt: str | None = None,
    robust: list[dict[str, Any]] | None = None,
    curves: list[dict[str, Any]] | None = None,
) -> bytes:
    """Adversarial accuracy against the training temperature (`temperature_figure`), encoded as
    `fmt` (from the path when not given). Writes `path` atomically when given; returns the encoded
    figure either way."""
    fmt = fmt or plot_format(path)
    fig, legend = temperature_figure(records, robust, curves)
    return finish(fig, legend, path, fmt)


def eps_sweeps(records: list[dict[str, Any]]) -> set[tuple[str, float, str]]:
    """(run_id, eval T, attack family) run at two or more eps: the curves an eps plot can draw."""
    seen: dict[tuple[str, float, str], set[float]] = defaultdict(set)
    for r in records:
        if r.get("eps") is not None:
            seen[(r["run_id"], r["eval_temp"], family(r["label"]))].add(r["eps"])
    return {k for k, v in seen.items() if len(v) > 1}


def _eps_label(recs: list[dict[str, Any]]) -> str:
    threats = {r.get("threat_model") for r in recs}
    norm = {"Linf": "L∞ ", "L2": "L2 "}.get(next(iter(threats)), "") if len(threats) == 1 else ""
    return f"ε ({norm}perturbation budget, linear scale)"


def eps_figure(records: list[dict[str, Any]], robust: list[dict[str, Any]] | None = None):
    """The accuracy-vs-eps figure, unrendered: (Figure, Legend). One panel per (dataset, act,
    train T, eval T) with a sweep, one line per attack family with its Wilson error bars, the
    worst case as a band beneath."""
    sweeps = eps_sweeps(records)
    if not sweeps:
        raise HotbenchError(
            "no attack was run at more than one eps, so there is no eps curve to plot",
            "attack with several budgets (e.g. --eps 0.1 --eps 0.2 --eps 0.3) or drop --plot-eps",
        )
    # only the models (and eval T) with a sweep get a panel; a lone eps would be a panel with one
    # dot
    recs = [
        r
        for r in records
        if r.get("eps") is not None and (r["run_id"], r["eval_temp"], family(r["label"])) in sweeps
    ]
    panels: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        panels[(r["dataset"], _act(r), r["train_temp"], r["eval_temp"], r["run_id"])].append(r)
    panels = dict(
        sorted(panels.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], -kv[0][3], kv[0][4]))
    )
    names = list(dict.fromkeys(family(lab) for lab in _label_order(recs)))
    colors = _family_colors(recs)
    groups = _groups(recs)
    fig, axes, _ = _grid(len(panels), "Adversarial accuracy vs perturbation budget ε")
    legend = Legend()
    for ax, (key, prs) in zip(axes, panels.items(), strict=False):
        rob = [
            r
            for r in robust or []
            if r["run_id"] == key[4] and _same(r["eval_temp"], key[3]) and r.get("eps") is not None
        ]
        if rob:
            _draw_worst(ax, Series.of(rob, "eps", "robust"), "D")
            legend.add(REFERENCE, f"{ROBUST}, 95% CI band", _worst_handle())
        drawn = [n for n in names if any(family(r["label"]) == n for r in prs)]
        for j, name in enumerate(drawn):
            pts = [r for r in prs if family(r["label"]) == name]
            style = _attack_style(colors[name], groups[name], "o")
            _draw_series(ax, Series.of(pts, "eps"), (j, len(drawn), False), style)
            legend.add(groups[name], name, _handle(colors[name], groups[name]))
        _fixed_ticks(ax, [r["eps"] for r in prs])
        ax.set_xlabel(_eps_label(prs))
        _style_acc_axis(ax)
        ax.set_title(f"{key[0]} · {key[1]} · train T={key[2]:g} · eval T={key[3]:g}", fontsize=10)
    return fig, legend


def plot_vs_eps(
    records: list[dict[str, Any]],
    path: Path | None = None,
    fmt: str | None = None,
    robust: list[dict[str, Any]] | None = None,
) -> bytes:
    """Adversarial accuracy against eps for every attack family swept over several eps
    (`eps_figure`), encoded and written as `plot_vs_temperature` does."""
    fmt = fmt or plot_format(path)
    fig, legend = eps_figure(records, robust)
    return finish(fig, legend, path, fmt)


def model_name(r: dict[str, Any]) -> str:
    """How the defenses plot names a model: its defense, then its output layer."""
    act = "softmax" if r["act"] == "none" else f"{r['act']} T={r['train_temp']:g}"
    return f"{r.get('defense', 'none')} ({act})"


def plot_defenses(
    robust: list[dict[str, Any]], path: Path | None = None, fmt: str | None = None
) -> bytes:
    """Defenses side by side at each eps: the worst-case (robust) accuracy of every model as a bar,
    grouped by eps, one panel per (dataset, eval T), with its 95% Wilson interval (n = the samples
    attacked) as an error bar. The temperature defense next to PGD-AT or TRADES at the same budget
    is the comparison a reader wants: which one holds under the adaptive attacks."""
    fmt = fmt or plot_format(path)
    recs = [r for r in robust if r.get("eps") is not None and r.get("robust_acc") is not None]
    if not recs:
        raise HotbenchError(
            "no worst case with an eps budget to compare defenses on",
            "attack the models first (e.g. `hotbench attack --suite adaptive --eps 0.1`)",
        )
    panels: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        panels[(r["dataset"], r["eval_temp"])].append(r)
    panels = dict(sorted(panels.items(), key=lambda kv: (kv[0][0], -kv[0][1])))
    names = sorted({model_name(r) for r in recs})
    palette = PAPER_COLORS + ADAPTIVE_COLORS
    colors = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    fig, axes, _ = _grid(len(panels), "Defenses side by side: worst-case accuracy at each ε")
    legend = Legend()
    width = 0.8 / max(1, len(names))
    bars: dict[str, Any] = {}
    for ax, ((dataset, eval_t), prs) in zip(axes, panels.items(), strict=False):
        budgets = sorted({(r["threat_model"], r["eps"]) for r in prs})
        for i, name in enumerate(names):
            for j, b in enumerate(budgets):
                hit = [
                    r for r in prs if model_name(r) == name and (r["threat_model"], r["eps"]) == b
                ]
                if not hit:
                    continue
                r = hit[0]
                n = int(r.get("n_samples") or 0)
                lo, hi = interval(round(r["robust_acc"] * n), n)  # Wilson, as everywhere
                acc = r["robust_acc"]
                h = ax.bar(
                    j - 0.4 + width * (i + 0.5),
                    acc,
                    width,
                    color=colors[name],
                    yerr=None if math.isnan(lo) else [[acc - lo], [hi - acc]],
                    capsize=2,
                    label=name,
                )
                bars.setdefault(name, h)
        ax.set_xticks(range(len(budgets)))
        ax.set_xticklabels([f"{'L∞' if t == 'Linf' else t} ε={e:g}" for t, e in budgets])
        _style_acc_axis(ax, "worst-case accuracy (bars: 95% Wilson CI)")
        ax.set_title(f"{dataset} · eval T={eval_t:g}", fontsize=10)
    for name in names:  # in name order, whichever panel drew a model first
        if name in bars:
            legend.add(MODELS, name, bars[name])
    return finish(fig, legend, path, fmt)


def min_norm_curves(
    ws: Workspace, records: list[dict[str, Any]], filters: Filters | None = None
) -> list[dict[str, Any]]:
    """Per stored minimum-norm result (cw, deepfool) among `records`: the model's keys, the attack's
    label, its clean-correct count and the L2 sizes of the samples it broke (what the success-vs-L2
    panels draw; the flat records keep only their mean and median). Partial (skip-mode) results are
    left out: they attacked only what earlier attacks left, so their rate is not the attack's."""
    labels = {r["attack_id"]: r["label"] for r in records}
    out = []
    for rec in select_runs(ws, filters or Filters()):
        cfg = rec.config
        for res in load_stored(ws, rec.run_id):
            if res.threat is not None or res.partial or res.attack_id not in labels:
                continue
            correct = res.clean_pred == res.label
            broken = correct & (res.adv_pred != res.label)
            out.append(
                {
                    "run_id": rec.run_id,
                    "attack_id": res.attack_id,
                    "dataset": cfg.dataset,
                    "act": cfg.act,
                    "defense": cfg.defense_label,
                    "train_temp": cfg.temp,
                    "eval_temp": res.eval_temp,
                    "label": labels[res.attack_id],
                    "n_correct": int(correct.sum()),
                    "l2": np.sort(res.l2[broken]).astype(float).tolist(),
                }
            )
    return out


def write_report_plots(
    ws: Workspace,
    filters: Filters,
    temp_path: Path | None,
    eps_path: Path | None,
    defenses_path: Path | None = None,
) -> None:
    """`hotbench report --plot/--plot-eps/--plot-defenses`: read the workspace once, write the
    requested figures."""
    for p in (temp_path, eps_path, defenses_path):
        if p is not None:
            plot_format(p)
    records = flat_records(ws, filters)
    robust = robust_records(ws, filters)
    if temp_path is not None:
        curves = min_norm_curves(ws, records, filters)
        plot_vs_temperature(records, temp_path, robust=robust, curves=curves)
    if eps_path is not None:
        plot_vs_eps(records, eps_path, robust=robust)
    if defenses_path is not None:
        plot_defenses(robust, defenses_path)
