"""Plots a paper author would keep (issue 15): real figures from a tiny digits workspace, checked on
the figure objects and the files, not only on a file existing.

- one legend, grouped by attack family (one entry per attack, not per attack x eps), never cut off
  by the figure edge however many attacks there are;
- the adaptive attacks (pgd@z) drawn above the worst-case line, not hidden under it;
- minimum-norm attacks (cw, deepfool) on their own panels as success rate vs L2;
- Wilson error bars, PDF output, axis scales said in the labels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.config import AttackConfig
from hotbench.reports.min_norm_plots import min_norm_curves, success_curve
from hotbench.reports.plot_style import ADAPTIVE, GROUP_TITLES, MIN_NORM, PAPER, Z_WORST, finish
from hotbench.reports.plots import eps_figure, temperature_figure
from hotbench.reports.records import flat_records, robust_records
from hotbench.store import Workspace
from tests.conftest import private_copy
from tests.reports.conftest import populate

PDF_MAGIC = b"%PDF-"
# an adaptive attack (on the logits) and both minimum-norm attacks, cheap: a few steps, 40 samples
EXTRA = [
    AttackConfig(method="pgd", on="logits", steps=3, n_samples=40),
    AttackConfig(method="cw", steps=5, n_samples=40, params={"lr": 0.1}),
    AttackConfig(method="deepfool", steps=3, n_samples=40),
]


@pytest.fixture(scope="module")
def plot_root(results_root, tmp_path_factory) -> Path:
    """The report fixtures' workspace (fgsm, pgd) plus pgd@z, cw and deepfool, at eval T = train T
    and 1: every legend group and a minimum-norm panel."""
    root = tmp_path_factory.mktemp("plots")
    shutil.copytree(results_root, root, dirs_exist_ok=True)
    populate(Workspace(root), EXTRA)
    return root


@pytest.fixture
def plot_ws(plot_root, tmp_path) -> Workspace:
    return private_copy(plot_root, tmp_path)


def _inputs(ws: Workspace):
    records = flat_records(ws)
    return records, robust_records(ws), min_norm_curves(ws, records)


def _columns(fig) -> dict[str, list[str]]:
    """The legend as its reader sees it: group title -> entries of its column."""
    (leg,) = fig.legends
    texts = [t.get_text() for t in leg.get_texts()]
    rows = len(texts) // leg._ncols
    assert rows * leg._ncols == len(texts)  # padded: every group has a column of its own
    cols = [texts[i * rows : (i + 1) * rows] for i in range(leg._ncols)]
    bold = {t.get_text() for t in leg.get_texts() if t.get_fontweight() == "bold"}
    assert bold == {c[0] for c in cols}
    return {c[0]: [t for t in c[1:] if t] for c in cols}


def _inside(fig) -> bool:
    """The legend lies inside the figure as drawn (not cut off by its edge)."""
    renderer = fig.canvas.get_renderer()
    box = fig.legends[0].get_window_extent(renderer)
    fb = fig.bbox
    return box.x0 >= fb.x0 - 0.5 and box.x1 <= fb.x1 + 0.5 and box.y0 >= fb.y0 - 0.5


def test_temperature_figure_groups_attacks_and_draws_min_norm_apart(plot_ws, tmp_path):
    records, robust, curves = _inputs(plot_ws)
    fig, legend = temperature_figure(records, robust, curves)
    data = finish(fig, legend, tmp_path / "t.pdf", "pdf")
    assert data.startswith(PDF_MAGIC) and (tmp_path / "t.pdf").read_bytes() == data

    cols = _columns(fig)
    assert cols[GROUP_TITLES[PAPER]] == ["fgsm", "pgd"]  # one entry per attack, no "ε=" in them
    assert cols[GROUP_TITLES[ADAPTIVE]] == ["pgd@z"]
    assert cols[GROUP_TITLES[MIN_NORM]] == ["cw", "deepfool"]
    assert any("worst case" in e for e in cols[GROUP_TITLES["reference"]])
    assert _inside(fig)

    upper = [ax for ax in fig.axes if ax.get_visible() and "minimum-norm" not in ax.get_title()]
    lower = [ax for ax in fig.axes if ax.get_visible() and "minimum-norm" in ax.get_title()]
    assert len(upper) == len(lower) == 3  # tanh at T = train T and 1, softmax at T = 1
    for ax in upper:
        assert "log scale" in ax.get_xlabel() and "Wilson" in ax.get_ylabel()
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer) and c.has_yerr]
        assert bars and any(len(c.lines[2][0].get_segments()) for c in bars)
        # the worst case is a band (its interval) and a line beneath every attack
        assert any(isinstance(c, PolyCollection) for c in ax.collections)
        worst = [ln for ln in ax.lines if ln.get_linewidth() == 5]
        assert worst and all(ln.get_zorder() == Z_WORST for ln in worst)
        above = [ln for ln in ax.lines if ln.get_linewidth() > 1.5 and ln.get_zorder() > Z_WORST]
        assert above  # pgd@z, drawn over the worst case it defines
    for ax in lower:
        assert "L2" in ax.get_xlabel() and "linear scale" in ax.get_xlabel()
        assert "success rate" in ax.get_ylabel()
        steps = [ln for ln in ax.lines if ln.get_drawstyle() == "steps-post"]
        assert len(steps) == 2  # cw and deepfool on the panel's one model
    # the bounded panels draw no minimum-norm attack: 3 panels x (fgsm, pgd, pgd@z), with bars
    assert not [ln for ax in upper for ln in ax.lines if ln.get_drawstyle() == "steps-post"]
    assert sum(isinstance(c, ErrorbarContainer) for ax in upper for c in ax.containers) == 9


def test_legend_is_never_cut_off_with_many_attacks(plot_ws, tmp_path):
    """A single panel (narrow figure) with a dozen attack families at three eps each: 36 series,
    which used to give a 37-entry legend wider than the figure. Now one entry per family, and the
    figure grows to hold the legend."""
    records, robust, _ = _inputs(plot_ws)
    base = [r for r in records if r["method"] == "pgd" and r["on"] == "output"]
    base = [r for r in base if r["act"] == "tanh" and r["eval_temp"] == r["train_temp"]]
    methods = [
        ("fgsm", "output"),
        ("bim", "output"),
        ("pgd", "output"),
        ("mim", "output"),
        ("pgdl2", "output"),
        ("pgd", "logits"),
        ("apgd", "output"),
        ("apgd", "logits"),
        ("apgdt", "output"),
        ("square", "output"),
        ("transfer", "output"),
        ("autoattack", "output"),
    ]
    many = []
    for method, on in methods:
        for eps in (0.1, 0.2, 0.3):
            name = method + ("@z" if on == "logits" else "")
            for r in base:
                many.append(
                    {
                        **r,
                        "method": method,
                        "on": on,
                        "eps": eps,
                        "label": f"{name} ε={eps:g}",
                        "attack_id": f"{name}-{eps}",
                    }
                )
    fig, legend = temperature_figure(many, [w for w in robust if w["run_id"] == base[0]["run_id"]])
    png = finish(fig, legend, tmp_path / "many.png", "png")
    assert png.startswith(b"\x89PNG")
    cols = _columns(fig)
    assert len(cols[GROUP_TITLES[PAPER]]) == 5 and len(cols[GROUP_TITLES[ADAPTIVE]]) == 7
    assert cols[GROUP_TITLES["budget"]] == ["ε=0.1", "ε=0.2", "ε=0.3"]
    assert _inside(fig)
    assert fig.get_size_inches()[0] > 4.6  # widened past one panel's width to hold the legend
    ax = fig.axes[0]  # all 36 series drawn, none dodged out of the axis
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    lo, hi = ax.get_xlim()
    assert len(bars) == 36 and all(
        lo < c.lines[0].get_xdata()[0] < hi for c in bars
    )  # widened past one panel's width to hold the legend


def test_eps_figure_has_error_bars_and_grouped_legend(plot_ws, tmp_path):
    populate(
        plot_ws,
        [AttackConfig(method="pgd", on="logits", steps=3, n_samples=40, eps=e) for e in (0.1, 0.2)],
        eval_temps=(1.0,),
    )
    records, robust, _ = _inputs(plot_ws)
    fig, legend = eps_figure(records, robust)
    data = finish(fig, legend, tmp_path / "e.svg", "svg")
    assert b"<svg" in data[:500]
    assert _columns(fig)[GROUP_TITLES[ADAPTIVE]] == ["pgd@z"]
    ax = fig.axes[0]
    assert "linear scale" in ax.get_xlabel() and "L∞" in ax.get_xlabel()
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    assert _inside(fig)


def test_success_curve_is_the_fraction_broken_within_each_radius():
    xs, ys, lo, hi = success_curve([0.5, 0.2, 1.0], n_correct=4, x_max=2.0)
    assert xs == [0.0, 0.2, 0.5, 1.0, 2.0]
    assert ys == [0.0, 0.25, 0.5, 0.75, 0.75]  # one of the four clean-correct samples never broke
    assert all(a <= y <= b for a, y, b in zip(lo, ys, hi, strict=True)) and lo[0] == 0 < hi[0]


def test_report_writes_a_pdf_from_the_cli(plot_ws, tmp_path):
    out = tmp_path / "acc-vs-T.pdf"
    r = CliRunner().invoke(
        app, ["report", "-w", str(plot_ws.root), "-f", "csv", "--plot", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(PDF_MAGIC)
