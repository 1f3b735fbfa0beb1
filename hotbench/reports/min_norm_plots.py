"""The minimum-norm attacks (cw, deepfool) in the figures: they have no eps budget, so they are
drawn as attack success rate against the L2 size of the perturbation (the fraction of clean-correct
samples broken within each radius), one curve per training temperature, from the per-sample sizes
stored with each result (`min_norm_curves`, which reads the workspace)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluate.worstcase import load_stored
from ..stats import interval
from ..store import Workspace
from .plot_style import MIN_NORM, MIN_NORM_STYLES, TEMPS, Legend, line2d, style_acc_axis
from .records import Filters, select_runs


def curve_colors(curves: list[dict[str, Any]]) -> dict[float, Any]:
    """Training temperatures of the minimum-norm panels on a sequential scale (cold to hot), apart
    from the attacks' categorical colours."""
    from matplotlib import colormaps

    temps = sorted({c["train_temp"] for c in curves})
    cmap = colormaps["viridis"]
    return {t: cmap(0.85 * i / max(1, len(temps) - 1)) for i, t in enumerate(temps)}


def min_norm_styles(curves: list[dict[str, Any]]) -> dict[str, str]:
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


def draw_min_norm(ax, curves: list[dict[str, Any]], legend: Legend, look: tuple) -> None:
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
        ax.step(
            xs,
            ys,
            where="post",
            color=color,
            linestyle=styles[c["label"]],
            linewidth=1.7,
        )
        legend.add(MIN_NORM, c["label"], line2d(color="black", linestyle=styles[c["label"]]))
        legend.add(TEMPS, f"T={c['train_temp']:g}", line2d(color=color, linewidth=3))
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
    style_acc_axis(ax, "success rate within ‖δ‖₂ (band: 95% CI)")


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
