"""Figures: adversarial accuracy against training temperature, and against epsilon.

Headless by construction: figures are built with `matplotlib.figure.Figure` and written by its own
canvas (Agg for PNG, the SVG backend for SVG), never through pyplot. That needs no display, and it
leaves the process-wide pyplot backend alone, so importing hotbench in a notebook does not change
how the user's own plots are shown.

Input is the flat records of `report.flat_records` (one per model and attack config) and,
optionally, the worst-case records of `report.worst_case_records`; nothing here reads the workspace.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import HotbenchError
from ..files import write_output
from ..stats import interval
from .records import flat_records, worst_case_records

PLOT_FORMATS = {".png": "png", ".svg": "svg"}
ROBUST = "robust (worst case)"
CLEAN = "clean"
PANEL_W, PANEL_H, MAX_COLS = 4.6, 3.4, 3


def plot_format(path: Path) -> str:
    """'png' or 'svg' from the file name; checked before any work so that a typo fails at once."""
    fmt = PLOT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise HotbenchError(
            f"cannot write a plot to '{path}': unsupported extension '{Path(path).suffix}'",
            "name the file .png or .svg",
        )
    return fmt


def family(label: str) -> str:
    """An attack's label without its eps: the line that an eps sweep draws (`pgd ε=0.3` ->
    `pgd`)."""
    return label.split(" ε=")[0]


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


def _grid(n: int, title: str, extra_legend_rows: int):
    from matplotlib.figure import Figure

    ncols = min(MAX_COLS, n)
    nrows = math.ceil(n / ncols)
    legend_h = 0.3 * extra_legend_rows + 0.3
    fig = Figure(figsize=(PANEL_W * ncols, PANEL_H * nrows + 0.7 + legend_h), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    return fig, list(axes.flat[:n])


def _finish(fig, axes, handles: dict[str, Any], path: Path | None, fmt: str) -> bytes:
    # one legend for the figure, below the panels: per-panel legends would cover the curves
    ncol = min(6, max(1, len(handles)))
    fig.legend(
        list(handles.values()),
        list(handles.keys()),
        loc="outside lower center",
        ncol=ncol,
        frameon=False,
        fontsize=9,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150)
    data = buf.getvalue()
    if path is not None:
        write_output(path, data)
    return data


def _style_acc_axis(ax) -> None:
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)


def _log_x(ax, xs: Iterable[float], label: str) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    xs = sorted({x for x in xs if x > 0})
    if xs and (
        len(xs) == 1 or xs[-1] / xs[0] >= 5
    ):  # log scale where it spreads the points (T in 1..100)
        ax.set_xscale(
            "log"
        )  # a single temperature also gets one tick at its value, not 0.96 .. 1.04
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.set_xlim(xs[0] / 1.4, xs[-1] * 1.4)
    ax.set_xlabel(label)


def _fixed_ticks(ax, xs: Iterable[float]) -> None:
    from matplotlib.ticker import FixedLocator

    xs = sorted(set(xs))
    if len(xs) <= 8:  # ticks at the measured values; more would crowd the axis
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.set_xticklabels([f"{x:g}" for x in xs])


def _line(
    ax, handles: dict[str, Any], name: str, xs: list[float], ys: list[float], **style
) -> None:
    pts = sorted(
        (x, y) for x, y in zip(xs, ys, strict=False) if y is not None and not math.isnan(y)
    )
    if not pts:
        return
    (h,) = ax.plot(
        [p[0] for p in pts],
        [p[1] for p in pts],
        marker=style.pop("marker", "o"),
        markersize=4,
        label=name,
        **style,
    )
    handles.setdefault(name, h)


def _label_order(records: list[dict[str, Any]]) -> list[str]:
    """Attack labels in the report's column order: families as first seen, then by eps within a
    family."""
    fams: dict[str, int] = {}
    eps: dict[str, float] = {}
    for r in records:  # flat_records are sorted by the attack registry's order
        fams.setdefault(family(r["label"]), len(fams))
        eps[r["label"]] = r["eps"] if r.get("eps") is not None else -1.0
    return sorted(eps, key=lambda lab: (fams[family(lab)], eps[lab]))


def _colors(names: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def plot_vs_temperature(
    records: list[dict[str, Any]],
    path: Path | None = None,
    fmt: str | None = None,
    robust: list[dict[str, Any]] | None = None,
) -> bytes:
    """Adversarial accuracy against the training temperature: one line per attack label, one panel
    per (dataset, act, eval mode), with clean accuracy dashed and the worst case (when known) in
    black. Writes `path` atomically when given; returns the encoded figure either way."""
    fmt = fmt or plot_format(path)
    if not records:
        raise HotbenchError(
            "no attack results to plot", "run `hotbench attack` first (or loosen the filters)"
        )
    panels = _eval_panels(records)
    robust_panels = _eval_panels(robust or [])
    labels = _label_order(records)
    colors = _colors(labels)
    robust_eps = sorted({r["eps"] for r in robust or [] if r.get("eps") is not None})
    fig, axes = _grid(
        len(panels),
        "Adversarial accuracy vs training temperature",
        math.ceil((len(labels) + 1 + len(robust_eps)) / 6),
    )
    handles: dict[str, Any] = {}
    for ax, (key, recs) in zip(axes, panels.items(), strict=False):
        clean: dict[float, float] = {}
        for r in recs:
            clean.setdefault(r["train_temp"], r["clean_acc"])
        _line(
            ax,
            handles,
            CLEAN,
            list(clean),
            list(clean.values()),
            color="0.45",
            linestyle="--",
            marker="s",
        )
        for lab in labels:
            pts = [r for r in recs if r["label"] == lab]
            _line(
                ax,
                handles,
                lab,
                [r["train_temp"] for r in pts],
                [r["adv_acc"] for r in pts],
                color=colors[lab],
            )
        for i, eps in enumerate(
            robust_eps
        ):  # black throughout; budgets told apart by dash and marker
            pts = [r for r in robust_panels.get(key, []) if r.get("eps") == eps]
            name = ROBUST if len(robust_eps) == 1 else f"{ROBUST} ε={eps:g}"
            _line(
                ax,
                handles,
                name,
                [r["train_temp"] for r in pts],
                [r["robust_acc"] for r in pts],
                color="black",
                linewidth=2.2,
                marker="DvsP"[i % 4],
                linestyle=["-", "-.", ":", "--"][i % 4],
                alpha=0.85,
            )
        _log_x(ax, (r["train_temp"] for r in recs), "training temperature T")
        _style_acc_axis(ax)
        ax.set_title(f"{key[0]} · {key[1]} · {key[2]}", fontsize=10)
    return _finish(fig, axes, handles, path, fmt)


def eps_sweeps(records: list[dict[str, Any]]) -> set[tuple[str, float, str]]:
    """(run_id, eval T, attack family) run at two or more eps: the curves an eps plot can draw."""
    seen: dict[tuple[str, float, str], set[float]] = defaultdict(set)
    for r in records:
        if r.get("eps") is not None:
            seen[(r["run_id"], r["eval_temp"], family(r["label"]))].add(r["eps"])
    return {k for k, v in seen.items() if len(v) > 1}


def plot_vs_eps(
    records: list[dict[str, Any]],
    path: Path | None = None,
    fmt: str | None = None,
    robust: list[dict[str, Any]] | None = None,
) -> bytes:
    """Adversarial accuracy against eps for every attack family swept over several eps: one panel
    per (dataset, act, train T, eval T), one line per family, the worst case (when known) in
    black."""
    fmt = fmt or plot_format(path)
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
    colors = _colors(names)
    fig, axes = _grid(
        len(panels),
        "Adversarial accuracy vs perturbation budget ε",
        math.ceil((len(names) + 1) / 6),
    )
    handles: dict[str, Any] = {}
    for ax, (key, prs) in zip(axes, panels.items(), strict=False):
        for name in names:
            pts = [r for r in prs if family(r["label"]) == name]
            _line(
                ax,
                handles,
                name,
                [r["eps"] for r in pts],
                [r["adv_acc"] for r in pts],
                color=colors[name],
            )
        rob = [
            r
            for r in robust or []
            if r["run_id"] == key[4] and _same(r["eval_temp"], key[3]) and r.get("eps") is not None
        ]
        _line(
            ax,
            handles,
            ROBUST,
            [r["eps"] for r in rob],
            [r["robust_acc"] for r in rob],
            color="black",
            linewidth=2.2,
            marker="D",
        )
        _fixed_ticks(ax, [r["eps"] for r in prs])
        ax.set_xlabel("ε (perturbation budget)")
        _style_acc_axis(ax)
        ax.set_title(f"{key[0]} · {key[1]} · train T={key[2]:g} · eval T={key[3]:g}", fontsize=10)
    return _finish(fig, axes, handles, path, fmt)


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
    colors = _colors(names)
    fig, axes = _grid(len(panels), "Defenses side by side: worst-case accuracy at each ε", 1)
    handles: dict[str, Any] = {}
    width = 0.8 / max(1, len(names))
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
                handles.setdefault(name, h)
        ax.set_xticks(range(len(budgets)))
        ax.set_xticklabels([f"{'L∞' if t == 'Linf' else t} ε={e:g}" for t, e in budgets])
        _style_acc_axis(ax)
        ax.set_ylabel("worst-case accuracy (95% CI)")
        ax.set_title(f"{dataset} · eval T={eval_t:g}", fontsize=10)
    return _finish(fig, axes, handles, path, fmt)


def write_report_plots(
    ws,
    filters,
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
    robust = worst_case_records(ws, filters)
    if temp_path is not None:
        plot_vs_temperature(records, temp_path, robust=robust)
    if eps_path is not None:
        plot_vs_eps(records, eps_path, robust=robust)
    if defenses_path is not None:
        plot_defenses(robust, defenses_path)
