"""`hotbench doctor`: what a bug report needs, what is missing with its fix; it writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import hotbench
from hotbench.cli import app
from hotbench.data import DATASETS
from hotbench.doctor import examine, render_text

runner = CliRunner()


def _fake_mnist(data: Path) -> None:
    for rel in DATASETS.get("mnist").files:
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(b"")  # presence only: doctor never loads a dataset


def test_json_report_describes_environment_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _fake_mnist(data)
    ws = tmp_path / "not-yet" / "ws"
    result = runner.invoke(
        app, ["doctor", "--format", "json", "-w", str(ws), "--data-dir", str(data)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout is pure JSON
    assert doc["ok"] is True
    assert doc["versions"]["hotbench"] == hotbench.__version__
    assert doc["versions"]["torch"] and doc["versions"]["python"]
    assert doc["devices"]["auto"] in ("cpu", "cuda", "mps")
    assert doc["threads"]["torch_threads"] >= 1
    assert doc["workspace"] == {
        "path": str(ws),
        "absolute": str(ws.absolute()),
        "exists": False,
        "writable": True,
        "runs": 0,
    }
    assert doc["data"]["present"]["digits"] is True and doc["data"]["present"]["mnist"] is True
    assert doc["data"]["present"]["cifar10"] is False
    assert "cifar-10-batches-py/test_batch" in doc["data"]["missing_files"]["cifar10"]
    assert doc["torchattacks"]["installed"] is True
    assert any(
        "datasets not found" in p["what"] and "--data-dir" in p["fix"] for p in doc["problems"]
    )
    assert not (tmp_path / "not-yet").exists(), "doctor created the workspace"


def test_unusable_workspace_is_an_error_with_exit_1(tmp_path: Path, trained_ws) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(app, ["doctor", "-w", str(blocker / "ws")])
    assert result.exit_code == 1
    assert "error: workspace" in result.stdout and "not writable (Not a directory)" in result.stdout
    assert "fix: pass --workspace" in result.stdout

    report = examine(trained_ws.root, tmp_path / "no-data")
    assert report.workspace["runs"] == 2 and report.workspace["writable"]
    text = render_text(report)
    assert f"workspace  {trained_ws.root.absolute()} (exists, writable, 2 trained models)" in text
    assert "mnist no" in text


def test_unknown_format_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--format", "yaml"])
    assert result.exit_code == 2 and "unknown format 'yaml'" in result.stderr
