"""Every line hotbench prints about the quick preset's workspace fits the terminal, at 80, 100 and
120 columns, on stdout and stderr alike: the report, the gate's diff, `run` on a stored preset,
`compare` and `attacks` (issue 26: at 80 columns the table lines were 97 wide, the gate's table on
stderr 108, and `hotbench attacks` cut its defaults with '…')."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from hotbench.cli import app

WIDTHS = (80, 100, 120)


def invoke(width: int, *args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(width), "NO_COLOR": "1"})


def assert_fits(text: str, width: int, what: str) -> None:
    lines = text.splitlines()
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, (what, width, too_wide[:3])
    assert "…" not in text, (what, "a cell was cut")


@pytest.fixture(scope="module")
def baselines(quick_root: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The quick workspace's results as a baseline, and a copy with a planted move (so the gate's
    table has a failing row)."""
    out = tmp_path_factory.mktemp("baselines")
    base = out / "base.json"
    r = invoke(100, "report", "-w", str(quick_root), "--save-baseline", str(base), "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(base.read_text())
    doc["records"][3]["adv_acc"] = 0.5 if doc["records"][3]["adv_acc"] < 0.4 else 0.1
    moved = out / "moved.json"
    moved.write_text(json.dumps(doc))
    return base, moved


@pytest.mark.parametrize("width", WIDTHS)
def test_report_and_gate_fit_on_stdout_and_stderr(width, quick_root, baselines):
    base, moved = baselines
    r = invoke(width, "report", "-w", str(quick_root))
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout, width, "report")
    assert_fits(r.stderr, width, "report stderr")
    # the transfer attack's surrogate is no model of the sweep: neither a row nor a warning
    assert "has no attack result yet" not in r.stderr and " s0 " not in r.stdout
    r = invoke(width, "report", "-w", str(quick_root), "--verbose")  # every evidence line
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout, width, "report --verbose")
    r = invoke(width, "report", "-w", str(quick_root), "--baseline", str(moved), "-f", "json")
    assert r.exit_code == 1 and "gate FAILED" in r.stderr, r.output
    assert_fits(r.stderr, width, "gate")
    r = invoke(width, "compare", str(base), str(moved))
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout, width, "compare")


@pytest.mark.parametrize("width", WIDTHS)
def test_run_of_a_stored_preset_and_attacks_fit(width, quick_root):
    r = invoke(width, "run", "quick", "-w", str(quick_root), "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert re.search(r"all \d+ units already stored, nothing computed", r.stderr), r.stderr
    assert_fits(r.stdout, width, "run")
    assert_fits(r.stderr, width, "run stderr")
    r = invoke(width, "run", "quick", "-w", str(quick_root), "--device", "cpu", "--verbose")
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout, width, "run --verbose")
    assert_fits(r.stderr, width, "run --verbose stderr")
    r = invoke(width, "attacks")
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout, width, "attacks")
    for line in ("random_start=True", "surrogate_act=none", "n_queries=5000", "push=0.0001"):
        assert line in r.stdout  # every default whole, one per line


def test_at_80_columns_a_panel_holds_model_clean_an_attack_robust_and_verdict(quick_root):
    r = invoke(80, "report", "-w", str(quick_root))
    panels = re.split(r"\n(?=Linf ε=)", r.stdout)[1:]
    assert panels
    for panel in panels:
        lines = panel.splitlines()
        header = lines[next(i for i, x in enumerate(lines) if x.startswith("─")) - 1].split()
        assert header[:2] == ["model", "clean"], header
        # the verdict: a column per axis, or both in one where the terminal is narrow
        axes = {"robustness", "masking"} <= set(header) or "verdict" in header
        assert "robust" in header and axes, header
        assert len(header) >= 5  # model, clean, at least one attack, robust, verdict
