"""examples/ci/hotbench.yml, the GitHub Actions workflow docs/ci.md shows: its gate and job-summary
steps run here as written (bash, with the runner's variables), on a clean gate and on a planted
regression, and the summary carries the gate's result and diff (issue 26)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hotbench.store import Workspace

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "examples" / "ci" / "hotbench.yml"


def _steps() -> list[dict]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    [job] = doc["jobs"].values()
    return job["steps"]


def _step(name: str) -> dict:
    [step] = [s for s in _steps() if s.get("name", "").startswith(name)]
    return step


def test_the_workflow_sets_up_and_tests_as_the_readme_says():
    runs = [s.get("run", "").strip() for s in _steps()]
    assert {"make setup", "make lint", "make test"} <= set(runs)
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in _steps())
    assert _step("Job summary")["if"] == "always()"
    docs = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    assert "examples/ci/hotbench.yml" in docs
    assert WORKFLOW.read_text(encoding="utf-8").split("name: hotbench", 1)[1] in docs


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """What the runner has when the gate step starts: the repository's ci/ baseline and a .venv
    whose bin/hotbench is this environment's."""
    root = tmp_path_factory.mktemp("checkout")
    (root / "ci").mkdir()
    shutil.copy(REPO / "ci" / "baseline-ci-smoke.json", root / "ci")
    (root / ".venv" / "bin").mkdir(parents=True)
    hotbench = Path(sys.executable).with_name("hotbench")
    script = root / ".venv" / "bin" / "hotbench"
    script.write_text(f'#!/bin/sh\nexec "{hotbench}" "$@"\n')
    script.chmod(0o755)
    (root / "runner-temp").mkdir()
    return root


def _run(step: dict, root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HOTBENCH_HOME", "COLUMNS")}
    env["PYTHONPATH"] = str(REPO)  # this checkout's hotbench, not the one .venv was built from
    env |= {"RUNNER_TEMP": str(root / "runner-temp"), "GITHUB_STEP_SUMMARY": str(root / "summary")}
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_gate_and_summary_steps_run_as_written(checkout: Path):
    gate, summary = _step("Regression gate"), _step("Job summary")
    done = _run(gate, checkout)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gate passed" in done.stderr
    assert (checkout / "acc-vs-T.png").stat().st_size > 0
    # issue 25: deterministic models keep their results' hashes: the ci-smoke run stores exactly
    # the baseline's (run id, attack id) pairs, none more (the gate only fails on missing ones),
    # and none of its results carries the randomized models' fields
    ws = Workspace(checkout / "runner-temp" / "hotbench-ws")
    base = json.loads((checkout / "ci" / "baseline-ci-smoke.json").read_text())
    docs = [d for run in {r["run_id"] for r in base["records"]} for d in ws.load_results(run)]
    assert {(d["run_id"], d["attack_id"]) for d in docs} == {
        (r["run_id"], r["attack_id"]) for r in base["records"]
    }
    assert not any("randomness" in d or "eot" in d["config"] for d in docs)
    assert _run(summary, checkout).returncode == 0
    text = (checkout / "summary").read_text(encoding="utf-8")
    assert text.startswith("## Regression gate: passed")
    assert "| model" not in text.split("\n")[0] and "digits tanh T50@1" in text

    # a planted regression: the job goes red, and its summary says why at the top
    path = checkout / "ci" / "baseline-ci-smoke.json"
    doc = json.loads(path.read_text())
    record = next(r for r in doc["records"] if r["adv_acc"] > 0.5)
    record["adv_acc"] -= 0.3  # now is 0.3 above the baseline: an attack stopped working
    path.write_text(json.dumps(doc))
    (checkout / "summary").unlink()
    done = _run(gate, checkout)
    assert done.returncode == 1, done.stderr[-3000:]
    assert _run(summary, checkout).returncode == 0
    text = (checkout / "summary").read_text(encoding="utf-8")
    assert text.startswith("## Regression gate: FAILED")
    head = text[: text.index("<details>")]
    assert "**RISE**" in head and record["label"] in head and "+0.300" in head
