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


# ---- what to install, said the way that works where hotbench runs (issue 26) ---------------------
def _hide_torchattacks(monkeypatch) -> None:
    import importlib.util
    import sys

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torchattacks" else real(name, *a),
    )
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # `import torchattacks` fails


def test_missing_torchattacks_says_make_setup_in_a_checkout(monkeypatch, tmp_path: Path) -> None:
    from hotbench.attacks.spec import torchattacks
    from hotbench.errors import HotbenchError
    from hotbench.install import checkout

    assert checkout() is not None  # the tests run from the checkout
    _hide_torchattacks(monkeypatch)
    report = examine(tmp_path / "ws", tmp_path)
    [problem] = [p for p in report.problems if p.what.startswith("torchattacks is not")]
    assert "make setup" in problem.fix
    try:
        torchattacks()
    except HotbenchError as exc:
        assert "make setup" in str(exc)
    else:
        raise AssertionError("torchattacks() found a hidden module")


def test_missing_torchattacks_gives_the_pip_command_outside_a_checkout(
    monkeypatch, tmp_path: Path
) -> None:
    import hotbench.install
    from hotbench.attacks.spec import torchattacks
    from hotbench.errors import HotbenchError

    monkeypatch.setattr(hotbench.install, "checkout", lambda: None)  # as from a wheel
    _hide_torchattacks(monkeypatch)
    result = runner.invoke(app, ["doctor", "-w", str(tmp_path / "ws"), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "pip install --no-deps torchattacks==3.5.1" in result.stdout
    assert "make setup" not in result.stdout
    try:
        torchattacks()
    except HotbenchError as exc:
        assert "pip install --no-deps torchattacks==3.5.1" in str(exc)
        assert "make setup" not in str(exc)
    else:
        raise AssertionError("torchattacks() found a hidden module")


def test_paths_with_escape_sequences_are_shown_escaped(tmp_path: Path) -> None:
    """A workspace or data folder named with an escape sequence (`\\x1b[2J` clears the screen) was
    written raw by the text report, in its 'workspace', 'data' and warning lines."""
    esc = "\x1b[2J\x1b]0;title\x07"
    ws, data = tmp_path / f"ws{esc}", tmp_path / f"data{esc}"
    result = runner.invoke(app, ["doctor", "-w", str(ws), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "ws\\x1b[2J\\x1b]0;title\\x07" in result.stdout
    assert "data\\x1b[2J" in result.stdout
