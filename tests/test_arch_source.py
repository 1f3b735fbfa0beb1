"""A user's `--arch` source edited after training (issue 24): its sha256 no longer matches
run.json's, and it was attacked without a word. Now every command that loads it warns in one line,
and each result records the source it was measured with."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.store import Workspace

NET = """
from torch import nn


def build(input_shape, num_classes):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "edited_net.py").write_text(NET)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder / "edited_net.py"
    sys.modules.pop("edited_net", None)


def test_an_edited_arch_source_is_a_warning_and_results_keep_their_sha(user_module, tmp_path):
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    common = ["-w", ws, "-q"]
    r = runner.invoke(
        app, ["train", "--arch", "edited_net:build", "--act", "none", "--epochs", "1", *common]
    )
    assert r.exit_code == 0, r.output
    attack = ["attack", "--n-samples", "10", *common]
    r = runner.invoke(app, [*attack, "--method", "fgsm"])  # one step: it takes no --steps
    assert r.exit_code == 0 and "warning" not in r.stderr, r.output
    (rec,) = Workspace(ws).records()
    trained_sha = rec.doc["provenance"]["arch_source"]["sha256"]

    user_module.write_text(NET + "\n# tuned after training\n")
    r = runner.invoke(app, [*attack, "--method", "pgd", "--steps", "2"])
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, r.stderr
    assert "edited_net:build" in warnings[0] and "has changed since run" in warnings[0]
    assert trained_sha[:12] in warnings[0]

    shas = {
        d["config"]["method"]: d["provenance"]["arch_source"]["sha256"]
        for d in Workspace(ws).load_results(rec.run_id)
    }
    assert shas["fgsm"] == trained_sha  # measured with the code it was trained with
    assert shas["pgd"] != trained_sha  # measured with the edited code, and says so
    # the report reads JSON only: it loads no model, so it has nothing to warn about
    r = runner.invoke(app, ["report", "-w", ws, "-f", "json"])
    assert r.exit_code == 0 and "warning" not in r.stderr
    assert json.loads(r.stdout)["records"]
