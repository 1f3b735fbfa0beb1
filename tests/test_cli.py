"""The CLI end to end through Typer's CliRunner, and once through the installed `hotbench`
script."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotbench.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def attacked_ws(trained_ws):
    w = str(trained_ws.root)
    r = invoke(
        "attack",
        "-w",
        w,
        "--method",
        "fgsm",
        "--method",
        "pgd",
        "--steps",
        "5",
        "--n-samples",
        "60",
        "--eval-temp",
        "1",
        "--act",
        "tanh",
        "-q",
    )
    assert r.exit_code == 0, r.output
    r = invoke("attack", "-w", w, "--method", "pgd", "--steps", "5", "--n-samples", "60", "-q")
    assert r.exit_code == 0, r.output
    return trained_ws


def test_train_sweep_and_reuse(tmp_path):
    w = str(tmp_path / "ws")
    r = invoke(
        "train", "-w", w, "--act", "sigmoid", "--temp", "1", "--temp", "10", "--epochs", "1", "-q"
    )
    assert r.exit_code == 0, r.output
    runs = sorted(p.name for p in (tmp_path / "ws" / "runs").glob("[!.]*"))  # not .locks
    assert (
        len(runs) == 2
        and runs[0].startswith("digits-sigmoid-T1-")
        and runs[1].startswith("digits-sigmoid-T10-")
    )
    r = invoke("train", "-w", w, "--act", "sigmoid", "--temp", "10", "--epochs", "1")
    assert r.exit_code == 0 and "reused" in r.output


def test_workspace_defaults_to_hotbench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTBENCH_HOME", str(tmp_path / "home"))
    r = invoke("train", "--act", "none", "--temp", "1", "--epochs", "1", "-q")
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "home" / "runs").glob("[!.]*"))) == 1


def test_report_table_rows_per_model_and_eval_temperature(attacked_ws):
    # the terminal layout: one panel per budget, the dataset in the title when there is one
    r = invoke("report", "-w", str(attacked_ws.root))
    assert r.exit_code == 0, r.output
    assert "clean vs adversarial accuracy (digits)" in r.output
    assert "Linf ε=0.3, n=60" in r.output  # the rows' n in the title when every row has it
    # one model cell per row: act, train T @ eval T (the act says none vs temperature)
    panels, summary = re.split(r"\nSummary(?: at [^\n]*)?\n", r.output, maxsplit=1)
    rows = [ln.split()[:2] for ln in panels.splitlines() if ln.startswith(("none ", "tanh "))]
    # and the report ends with a summary table: one row per model and eval T, both axes
    summary_rows = [ln.split() for ln in summary.splitlines() if ln.startswith(("none ", "tanh "))]
    models = [" ".join(row[:2]) for row in summary_rows]
    assert models == ["none T1@1", "tanh T50@50", "tanh T50@1"], summary
    assert summary.split("\n", 1)[0].split() == [
        "model",
        "clean",
        "worst",
        "case",
        "robustness",
        "masking",
    ], summary
    # every panel (one per budget, split where too wide) lists the same rows in the same order
    assert rows and len(rows) % 3 == 0
    assert rows == [["none", "T1@1"], ["tanh", "T50@50"], ["tanh", "T50@1"]] * (len(rows) // 3)
    # --wide: every column in one table
    r = invoke("report", "-w", str(attacked_ws.root), "--wide")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip().startswith("digits")]
    # none T=1 (eval 1), tanh T=50 at eval 50 and at eval 1
    assert len(lines) == 3
    assert "pgd ε=0.3" in r.output and "fgsm ε=0.3" in r.output
    # dataset, defense (tanh at T=50 is the temperature defense), act, train T, eval T
    assert lines[1].split()[:5] == ["digits", "temperature", "tanh", "50", "50"]
    assert lines[2].split()[:5] == ["digits", "temperature", "tanh", "50", "1"]


def test_report_json_csv_markdown_agree(attacked_ws, tmp_path):
    w = str(attacked_ws.root)
    js = json.loads(invoke("report", "-w", w, "--format", "json").stdout)
    records = js["records"]
    assert js["schema_version"] >= 1 and len(records) == 4
    by_key = {(r["run_id"], r["eval_temp"], r["label"]): r["adv_acc"] for r in records}
    out = tmp_path / "r.csv"
    r = invoke("report", "-w", w, "--format", "csv", "--output", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    for row in rows:
        for (run_id, eval_temp, label), adv in by_key.items():
            if row["run_id"] == run_id and float(row["eval_temp"]) == eval_temp:
                assert float(row[label]) == pytest.approx(adv)
    md = invoke("report", "-w", w, "--format", "markdown").stdout
    assert md.startswith("| dataset | defense | act | train T | eval T | n | clean |")
    assert (
        sum(line.startswith("|") for line in md.splitlines()) == 2 + 3
    )  # header, alignment, 3 rows


def test_attack_filters_select_models(trained_ws):
    w = str(trained_ws.root)
    r = invoke("attack", "-w", w, "--method", "fgsm", "--n-samples", "20", "--act", "none", "-q")
    assert r.exit_code == 0, r.output
    records = json.loads(invoke("report", "-w", w, "--format", "json").stdout)["records"]
    assert {r["act"] for r in records} == {"none"}


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--dataset", "mnsit"], "did you mean 'mnist'"),
        (["train", "--act", "tahn"], "did you mean 'tanh'"),
        (["train", "--arch", "resnet"], "unknown arch 'resnet'"),
        (["train", "--temp", "0"], "temperature must be"),
        (["train", "--temp", "-5"], "temperature must be"),
        (["attack", "--method", "pgdd"], "did you mean 'pgd'"),
        (["train", "--dataset", "mnist"], "mnist files not found"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    r = invoke(*args, "-w", str(tmp_path / "ws"))
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_empty_workspace_is_an_error(tmp_path):
    for cmd in ("attack", "report"):
        r = invoke(cmd, "-w", str(tmp_path / "nothing"))
        assert r.exit_code == 2 and "no trained models" in r.stderr


@pytest.mark.skipif(
    shutil.which("hotbench") is None and not (Path(sys.executable).parent / "hotbench").exists(),
    reason="hotbench script not installed",
)
def test_installed_script_runs(tmp_path):
    exe = shutil.which("hotbench") or str(Path(sys.executable).parent / "hotbench")
    env = {**os.environ, "HOTBENCH_HOME": str(tmp_path / "ws")}
    p = subprocess.run(
        [exe, "train", "--act", "tanh", "--temp", "5", "--epochs", "1", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    p = subprocess.run(
        [exe, "report", "--format", "json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0 and json.loads(p.stdout)["records"] == []
    p = subprocess.run(
        [exe, "report", "--dataset", "nope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert (
        p.returncode == 2 and "unknown dataset 'nope'" in p.stderr and "Traceback" not in p.stderr
    )
