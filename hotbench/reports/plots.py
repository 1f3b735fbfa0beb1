"""Figures: adversarial accuracy against training temperature, and against epsilon; defenses side
by side.

Headless by construction: figures are built with `matplotlib.figure.Figure` and written by its own
canvas (Agg for PNG, the SVG and PDF backends for those), never through pyplot. That needs no
display, and it leaves the process-wide pyplot backend alone, so importing hotbench in a notebook
does not change how the user's own plots are shown.

How each figure gives a reader of a paper what they need (issue 15): see `plot_style`.

Input is the flat records of `records.flat_records` (one per model and attack config), optionally
the worst-case records of `records.robust_records`, and for the minimum-norm panels the
per-sample sizes of `min_norm_plots.min_norm_curves`. The look every figure shares is
`plot_style`'s.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..errors import HotbenchError
from ..files import write_output
from ..stats import interval
from ..store import Workspace
from .min_norm_plots import (
    curve_colors,
    draw_min_norm,
    min_norm_curves,
    min_norm_styles,
)
from .plot_style import (
    ADAPTIVE_COLORS,
    BUDGET,
    MIN_NORM,
    MODELS,
    PAPER_COLORS,
    REFERENCE,
    Legend,
    Series,
    attack_group,
    attack_style,
    budget_markers,
    draw_clean,
    draw_series,
    draw_worst,
    family,
    family_colors,
    finish,
    fixed_ticks,
    grid,
    handle,
    label_order,
    legend_groups,
    line2d,
    log_x,
    style_acc_axis,
    worst_handle,
)
from .records import Filters, flat_records, robust_records

PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
ROBUST = "robust (worst case)"


def plot_format(path: Path) -> str:
    """'png', 'svg' or 'pdf' from the file name; checked before any work so that a typo fails at
    once. `-` is stdout, as for every output: a PNG (`--plot - > fig.png`, or piped on)."""
    if str(path) == "-":
        return "png"
    fmt = PLOT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise HotbenchError(
            f"cannot write a plot to '{path}': unsupported extension '{Path(path).suffix}'",
            "name the file .png, .svg or .pdf",
        )
    return fmt


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _eval_panels(
    records: list[dict[str, Any]],
) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
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
            key=lambda kv: (
                kv[0][0],
                kv[0][1],
                kv[0][2] != "eval T = train T",
                kv[0][2],
            ),
        )
    )


def _act(r: dict[str, Any]) -> str:
    """The output activation, with the training defense when there is one ("tanh + pgd-at"): a
    defended and an undefended model at the same T are different curves."""
    trained = r.get("defense", "none").removeprefix("temperature").lstrip("+")
    return r["act"] if trained in ("", "none") else f"{r['act']} + {trained}"


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
            "no attack results to plot",
            "run `hotbench attack` first (or loosen the filters)",
        )
    robust = robust or []
    bounded = [r for r in records if attack_group(r) != MIN_NORM]
    panels = _eval_panels(records)
    robust_panels = _eval_panels(robust)
    curve_panels = _eval_panels(curves or [])
    labels = label_order(bounded)
    colors = family_colors(bounded)
    groups = legend_groups(bounded)
    markers = budget_markers(bounded, robust)
    fig, upper, lower = grid(
        len(panels), "Adversarial accuracy vs training temperature", lower=bool(curves)
    )
    legend = Legend()
    temp_colors = curve_colors(curves or [])
    styles = min_norm_styles(curves or [])
    for i, (key, recs) in enumerate(panels.items()):
        ax = upper[i]
        log = log_x(ax, (r["train_temp"] for r in recs))
        draw_clean(ax, recs, legend)
        wcs = robust_panels.get(key, [])
        for threat, eps in sorted({(r["threat_model"], r["eps"]) for r in wcs}):
            pts = [r for r in wcs if (r["threat_model"], r["eps"]) == (threat, eps)]
            marker = "D" if len(markers) <= 1 else markers[eps]
            draw_worst(ax, Series.of(pts, "train_temp", "robust"), marker)
            legend.add(REFERENCE, f"{ROBUST}, 95% CI band", worst_handle())
        rb = [r for r in recs if attack_group(r) != MIN_NORM]
        series = [lab for lab in labels if any(r["label"] == lab for r in rb)]
        for j, lab in enumerate(series):
            pts = [r for r in rb if r["label"] == lab]
            fam = family(lab)
            style = attack_style(colors[fam], groups[fam], markers.get(pts[0]["eps"], "o"))
            draw_series(ax, Series.of(pts, "train_temp"), (j, len(series), log), style)
            legend.add(groups[fam], fam, handle(colors[fam], groups[fam]))
        style_acc_axis(ax)
        ax.set_title(f"{key[0]} · {key[1]} · {key[2]}", fontsize=10)
        if lower:
            draw_min_norm(lower[i], curve_panels.get(key, []), legend, (temp_colors, styles))
            lower[i].set_title(f"{key[0]} · {key[1]} · {key[2]} · minimum-norm", fontsize=10)
    if len(markers) > 1:
        for eps, m in markers.items():
            legend.add(BUDGET, f"ε={eps:g}", line2d(color="black", marker=m, linestyle="none"))
    return fig, legend


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
        sorted(
            panels.items(),
            key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], -kv[0][3], kv[0][4]),
        )
    )
    names = list(dict.fromkeys(family(lab) for lab in label_order(recs)))
    colors = family_colors(recs)
    groups = legend_groups(recs)
    fig, axes, _ = grid(len(panels), "Adversarial accuracy vs perturbation budget ε")
    legend = Legend()
    for ax, (key, prs) in zip(axes, panels.items(), strict=False):
        rob = [
            r
            for r in robust or []
            if r["run_id"] == key[4] and _same(r["eval_temp"], key[3]) and r.get("eps") is not None
        ]
        if rob:
            draw_worst(ax, Series.of(rob, "eps", "robust"), "D")
            legend.add(REFERENCE, f"{ROBUST}, 95% CI band", worst_handle())
        drawn = [n for n in names if any(family(r["label"]) == n for r in prs)]
        for j, name in enumerate(drawn):
            pts = [r for r in prs if family(r["label"]) == name]
            style = attack_style(colors[name], groups[name], "o")
            draw_series(ax, Series.of(pts, "eps"), (j, len(drawn), False), style)
            legend.add(groups[name], name, handle(colors[name], groups[name]))
        fixed_ticks(ax, [r["eps"] for r in prs])
        ax.set_xlabel(_eps_label(prs))
        style_acc_axis(ax)
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
    fig, axes, _ = grid(len(panels), "Defenses side by side: worst-case accuracy at each ε")
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
        style_acc_axis(ax, "worst-case accuracy (bars: 95% Wilson CI)")
        ax.set_title(f"{dataset} · eval T={eval_t:g}", fontsize=10)
    for name in names:  # in name order, whichever panel drew a model first
        if name in bars:
            legend.add(MODELS, name, bars[name])
    return finish(fig, legend, path, fmt)


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
    # every figure drawn before any is written: one that cannot be drawn (--plot-eps without an
    # eps sweep) leaves no other half-written beside its error
    drawn: list[tuple[Path, bytes]] = []
    if temp_path is not None:
        curves = min_norm_curves(ws, records, filters)
        fmt = plot_format(temp_path)
        drawn.append(
            (temp_path, plot_vs_temperature(records, fmt=fmt, robust=robust, curves=curves))
        )
    if eps_path is not None:
        drawn.append((eps_path, plot_vs_eps(records, fmt=plot_format(eps_path), robust=robust)))
    if defenses_path is not None:
        drawn.append((defenses_path, plot_defenses(robust, fmt=plot_format(defenses_path))))
    for path, data in drawn:
        write_output(path, data)
