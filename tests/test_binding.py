"""Results belong to the weights they measured (issue 17).

- Training does not depend on torch's thread count, so a run id (a hash of the config) names one set
  of weights: every architecture, trained with 1 and with 2 threads, gives the same bytes.
- Every result and diagnosis records the sha256 of the weights it measured; after the weights are
  replaced (`train --force`, or an import stored again), the old results are never reported as
  current: the report leaves them out and says how to refresh them; `attack` computes them again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from typer.testing import CliRunner

from hotbench.checked_files import atomic_write_json, read_json_checked
from hotbench.cli import app
from hotbench.store import Workspace

from .conftest import TANH50

runner = CliRunner()

# Trains every registered arch on a small batch of its dataset's shape (real digits; random images
# for the others: the property is about summation order, not accuracy) and prints the sha256 of the
# weights. A fresh interpreter per thread count, as the CLI runs.
TRAIN_EACH_ARCH = r"""
import hashlib, sys, torch
import hotbench
from hotbench.config import TrainConfig
from hotbench.data import DATASETS, Dataset, Split, load_dataset
from hotbench.models import ARCHS
from hotbench.training import train_model
from safetensors.torch import save

torch.set_num_threads(int(sys.argv[1]))
homes = {"digits-cnn": "digits", "mnist-cnn": "mnist", "cifar-vgg": "cifar10"}
for arch in ARCHS.names():
    ds = homes.get(arch, "digits")
    spec = DATASETS.get(ds)
    if ds == "digits":
        data = load_dataset("digits")
    else:
        g = torch.Generator().manual_seed(0)
        shape = (96, spec.channels, spec.size, spec.size)
        split = Split(torch.rand(shape, generator=g), torch.randint(0, 10, (96,), generator=g))
        data = Dataset(spec, split, Split(split.x[:16], split.y[:16]))
    cfg = TrainConfig(dataset=ds, arch=arch, act="tanh", temp=50, epochs=2, batch_size=48)
    model = train_model(cfg, data, torch.device("cpu")).model
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    print(arch, hashlib.sha256(blob).hexdigest(), torch.get_num_threads())
"""


def _train_each(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", TRAIN_EACH_ARCH, str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    ).stdout
    rows = [line.split() for line in out.splitlines()]
    assert all(int(n) == threads for _, _, n in rows)  # the thread count is restored after training
    return {arch: sha for arch, sha, _ in rows}


def test_weights_do_not_depend_on_the_thread_count() -> None:
    one, two = _train_each(1), _train_each(2)
    assert set(one) >= {"digits-cnn", "mnist-cnn", "cifar-vgg"}
    assert one == two


def _replace_weights(ws: Workspace, run_id: str) -> str:
    """What `train --force` does when the new weights differ: store other weights under the id."""
    record = ws.load_record(run_id)
    model = ws.load_model(record)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    new = ws.save_run(record.config, model, record.doc["metrics"], record.doc["provenance"])
    assert new.weights_sha256 != record.weights_sha256
    return new.weights_sha256


def _attack(ws: Workspace, *extra: str):
    return runner.invoke(
        app,
        [
            "attack",
            "-w",
            str(ws.root),
            "--run",
            TANH50.run_id,
            "--steps",
            "2",
            "--n-samples",
            "20",
            "--device",
            "cpu",
            *extra,
        ],
    )


def test_results_and_diagnoses_record_the_weights_they_measured(trained_ws: Workspace) -> None:
    assert _attack(trained_ws, "-q").exit_code == 0
    diag = runner.invoke(
        app,
        ["diagnose", "-w", str(trained_ws.root), "--run", TANH50.run_id, "--no-probe", "-q"],
    )
    assert diag.exit_code == 0, diag.output
    sha = trained_ws.load_record(TANH50.run_id).weights_sha256
    d = trained_ws.run_dir(TANH50.run_id)
    docs = [read_json_checked(p) for p in [*d.glob("attacks/*.json"), *d.glob("diagnosis/*.json")]]
    assert len(docs) == 3  # the result, the diagnosis and the gradient measurements (issue 15)
    assert {doc["weights_sha256"] for doc in docs} == {sha}


def test_results_of_replaced_weights_are_not_reported_and_attack_recomputes_them(
    trained_ws: Workspace,
) -> None:
    assert _attack(trained_ws, "-q").exit_code == 0
    (old,) = trained_ws.load_results(TANH50.run_id)
    new_sha = _replace_weights(trained_ws, TANH50.run_id)

    report = runner.invoke(app, ["report", "-w", str(trained_ws.root), "-f", "json"])
    assert report.exit_code == 0, report.output
    ids = [r["attack_id"] for r in json.loads(report.stdout)["records"]]
    assert old["attack_id"] not in ids
    assert "measured on earlier weights" in report.stderr
    assert f"hotbench attack --run {TANH50.run_id}" in report.stderr

    again = _attack(trained_ws)
    assert again.exit_code == 0, again.output
    assert f"attacked {TANH50.run_id}" in again.stderr  # computed again, not "stored"
    (fresh,) = trained_ws.load_results(TANH50.run_id)
    assert fresh["attack_id"] == old["attack_id"] and fresh["weights_sha256"] == new_sha


def test_results_from_before_hashes_were_recorded_turn_stale_when_weights_change(
    trained_ws: Workspace,
) -> None:
    assert _attack(trained_ws, "-q").exit_code == 0
    (path,) = (trained_ws.run_dir(TANH50.run_id) / "attacks").glob("*.json")
    legacy = {k: v for k, v in read_json_checked(path).items() if k != "weights_sha256"}
    atomic_write_json(path, legacy)  # as an older hotbench wrote it
    assert len(trained_ws.load_results(TANH50.run_id)) == 1  # unknown: taken as current
    _replace_weights(trained_ws, TANH50.run_id)
    assert trained_ws.load_results(TANH50.run_id) == []


def test_stale_diagnosis_is_not_reused(trained_ws: Workspace) -> None:
    from hotbench.evaluate.diagnose import current

    assert _attack(trained_ws, "-q").exit_code == 0
    args = ["diagnose", "-w", str(trained_ws.root), "--run", TANH50.run_id, "--no-probe", "-q"]
    assert runner.invoke(app, args).exit_code == 0
    record = trained_ws.load_record(TANH50.run_id)
    assert current(trained_ws, record, TANH50.temp) is not None
    (path,) = (trained_ws.run_dir(TANH50.run_id) / "diagnosis").glob("T*.json")
    doc = read_json_checked(path)
    atomic_write_json(path, {**doc, "weights_sha256": "0" * 64})  # made from other weights
    assert current(trained_ws, record, TANH50.temp) is None
