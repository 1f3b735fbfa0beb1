"""The workspace: config-hash naming, reuse, atomic files, and refusal of edited or truncated
files."""

from __future__ import annotations

import json

import pytest
import torch

from hotbench.config import AttackConfig, TrainConfig
from hotbench.context import Context
from hotbench.errors import HotbenchError
from hotbench.units import ensure_attacked, ensure_trained

from .conftest import CPU, TANH50


def test_run_id_is_a_hash_of_the_resolved_config():
    a = TrainConfig(dataset="digits", act="tanh", temp=50)
    b = TrainConfig(
        dataset="digits", act="tanh", temp=50, epochs=40, arch="digits-cnn"
    )  # the defaults, explicit
    assert a.run_id == b.run_id and a.run_id.startswith("digits-tanh-T50-")
    assert TrainConfig(act="tanh", temp=10).run_id != a.run_id
    assert TrainConfig(act="tanh", temp=50, seed=1).run_id != a.run_id


def test_identical_config_is_reused_and_force_retrains(ws):
    cfg = TrainConfig(act="tanh", temp=10, epochs=2)
    rec, trained = ensure_trained(Context(ws, CPU), cfg)
    assert trained
    again, trained_again = ensure_trained(Context(ws, CPU), cfg)
    assert not trained_again and again.doc == rec.doc
    _, forced = ensure_trained(Context(ws, CPU, force=True), cfg)
    assert forced


def test_run_json_records_what_reproduces_it(trained_ws):
    doc = trained_ws.load_record(TANH50.run_id).doc
    assert doc["config"] == TANH50.resolved().model_dump()
    prov = doc["provenance"]
    assert {"python", "torch", "torchvision", "torchattacks", "hotbench"} <= set(prov["versions"])
    assert prov["seed"] == 0 and prov["hardware"]["device"] == "cpu"
    assert 0.9 < doc["metrics"]["test_acc"] <= 1.0 and doc["metrics"]["train_time_s"] > 0
    assert len(doc["weights"]["sha256"]) == 64


def test_weights_round_trip_through_safetensors(trained_ws):
    rec = trained_ws.load_record(TANH50.run_id)
    a = trained_ws.load_model(rec)
    b = trained_ws.load_model(rec)
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(a.logits(x), b.logits(x))


def test_attack_results_are_stored_once_per_config(trained_ws):
    rec = trained_ws.load_record(TANH50.run_id)
    cfg = AttackConfig(method="fgsm", eps=0.1, n_samples=50)
    doc, fresh = ensure_attacked(Context(trained_ws, CPU), rec, cfg)
    assert fresh and len(doc["per_sample"]["adv_pred"]) == 50
    again, fresh_again = ensure_attacked(Context(trained_ws, CPU), rec, cfg)
    assert not fresh_again and again == doc
    files = list((rec.path / "attacks").glob("*.json"))
    assert len(files) == 1 and not list(rec.path.rglob("*.tmp"))


def test_tampered_run_json_is_refused(trained_ws):
    path = trained_ws.run_dir(TANH50.run_id) / "run.json"
    doc = json.loads(path.read_text())
    doc["metrics"]["test_acc"] = 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(HotbenchError, match="checksum"):
        trained_ws.load_record(TANH50.run_id)


def test_truncated_weights_are_refused(trained_ws):
    rec = trained_ws.load_record(TANH50.run_id)
    weights = rec.path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(HotbenchError, match="checksum"):
        trained_ws.load_model(rec)


def test_weights_sha256_is_the_hash_of_the_stored_file(trained_ws):
    from hotbench.store import WEIGHTS, sha256_file, weights_sha256

    for record in trained_ws.records():
        assert record.weights_sha256 == sha256_file(record.path / WEIGHTS)
        assert weights_sha256(record) == record.weights_sha256
