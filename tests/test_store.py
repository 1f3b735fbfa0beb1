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

from .conftest import CPU, NONE1, TANH50


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
    from hotbench.checked_files import sha256_file
    from hotbench.store import WEIGHTS, weights_sha256

    for record in trained_ws.records():
        assert record.weights_sha256 == sha256_file(record.path / WEIGHTS)
        assert weights_sha256(record) == record.weights_sha256


# ---- stored documents checked on load (issue 29) ----------------------------------------------
# A result or run.json can hold a valid checksum over content that must not be trusted (a script
# that re-signs what it edits, a copied folder): what fails its checks is skipped with one warning
# naming it, and never counted.
@pytest.fixture(scope="module")
def _attacked_root(_trained_root, tmp_path_factory):
    import shutil

    from hotbench.store import Workspace

    root = tmp_path_factory.mktemp("attacked") / "ws"
    shutil.copytree(_trained_root, root)
    ws = Workspace(root)
    record = ws.load_record(TANH50.run_id)
    for method in ("fgsm", "pgd"):
        cfg = AttackConfig(method=method, eps=0.3, steps=2, n_samples=40, eval_temp=1.0)
        ensure_attacked(Context(ws, CPU), record, cfg)
    return root


@pytest.fixture
def attacked_ws(_attacked_root, tmp_path):
    from .conftest import private_copy

    return private_copy(_attacked_root, tmp_path)


def _results(ws):
    return sorted((ws.run_dir(TANH50.run_id) / "attacks").glob("*.json"))


def _report_json(ws):
    from typer.testing import CliRunner

    from hotbench.cli import app

    result = CliRunner().invoke(app, ["report", "-w", str(ws.root), "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def _clean_wrong(ps) -> int:
    """A sample the model misclassifies before any attack (made so if there is none)."""
    for i, (c, y) in enumerate(zip(ps["clean_pred"], ps["label"], strict=True)):
        if c != y:
            return i
    ps["clean_pred"][0] = (ps["label"][0] + 1) % 10
    ps["adv_pred"][0] = ps["clean_pred"][0]
    return 0


def _adv_right_clean_wrong(d):
    ps = d["per_sample"]
    ps["adv_pred"][_clean_wrong(ps)] = ps["label"][_clean_wrong(ps)]


def _move(d, key, value):
    d["per_sample"][key][1] = value


CORRUPT = {
    "unknown-schema": (lambda d: d.update(schema="hotbench.result/9"), "schema"),
    "adv-right-clean-wrong": (_adv_right_clean_wrong, "correct after the attack"),
    "duplicate-index": (lambda d: _move(d, "index", d["per_sample"]["index"][0]), "appears twice"),
    "string-index": (lambda d: _move(d, "index", "1"), "'index'"),
    "bool-label": (lambda d: _move(d, "label", True), "'label'"),
    "negative-index": (lambda d: _move(d, "index", -3), "'index'"),
    "linf-beyond-eps": (lambda d: _move(d, "linf", 0.31), "beyond its eps"),
    "linf-nan": (lambda d: _move(d, "linf", float("nan")), "'linf'"),
    "other-config": (lambda d: d["config"].update(steps=3), "attack id"),
    "other-run": (lambda d: d.update(run_id=NONE1.run_id), "run"),
    # classes beyond the dataset's were counted (a label 12 of digits' 10: one more clean error)
    "label-beyond-the-classes": (
        lambda d: _move(d, "label", 12),
        "beyond the 10 classes of digits",
    ),
    "prediction-beyond-the-classes": (
        lambda d: _move(d, "adv_pred", 99),
        "beyond the 10 classes of digits",
    ),
    # an index beyond the test set was counted (n=50, the worst case on the 49 shared)
    "index-beyond-the-test-set": (
        lambda d: _move(d, "index", 5000),
        "sample index 5000 is beyond the 397 images of digits' test set",
    ),
    # grouped as Linf (its config's) while its record said L2
    "threat-model-edited": (
        lambda d: d.update(threat_model="L2"),
        "its threat_model 'L2' is not its attack's",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_result_that_cannot_hold_is_skipped_by_name_and_never_counted(attacked_ws, case):
    from .test_reliability import resign

    mutate, why = CORRUPT[case]
    bad, good = _results(attacked_ws)
    kept = json.loads(good.read_text())["attack_id"]
    resign(bad, mutate)
    doc, err = _report_json(attacked_ws)
    line = next(ln for ln in err.splitlines() if str(bad) in ln)
    assert line.startswith(f"warning: skipped result file '{bad}'") and why in line, line
    assert {r["attack_id"] for r in doc["records"]} == {kept}
    assert all(r["attacks"] and bad.stem not in str(r) for r in doc.get("robust", []))


def test_perturbation_within_float_tolerance_of_eps_is_kept(attacked_ws):
    """What the engine itself accepts as inside the budget (eps * (1 + 1e-5) + 1e-6), stored rounded
    to 6 decimals, is not a violation."""
    from .test_reliability import resign

    bad, _ = _results(attacked_ws)
    resign(bad, lambda d: _move(d, "linf", round(0.3 * (1 + 1e-5) + 1e-6, 6)))
    doc, err = _report_json(attacked_ws)
    assert "skipped" not in err and len(doc["records"]) == 2


def _write_run(ws, run_id, mutate=None):
    from hotbench.checked_files import atomic_write_json, read_json_checked

    path = ws.run_dir(run_id) / "run.json"
    doc = read_json_checked(path)
    if mutate is not None:
        mutate(doc)
    atomic_write_json(path, doc)


def test_run_whose_config_does_not_hash_to_its_id_is_skipped_by_name(attacked_ws):
    """Trained at T=50, its run.json edited to say T=7 and re-signed: the config no longer names
    the weights."""
    _write_run(attacked_ws, TANH50.run_id, lambda d: d["config"].update(temp=7.0))
    doc, err = _report_json(attacked_ws)
    folder = attacked_ws.run_dir(TANH50.run_id)
    assert f"warning: skipped run folder '{folder}'" in err and "hashes to" in err, err
    assert {r["run_id"] for r in doc["records"]} <= {NONE1.run_id}
    assert [r.run_id for r in attacked_ws.records()] == [NONE1.run_id]


def test_copied_run_folder_is_skipped_by_name_and_not_a_second_seed(attacked_ws):
    import shutil

    copy = attacked_ws.runs / "my-copy"
    shutil.copytree(attacked_ws.run_dir(TANH50.run_id), copy)
    doc, err = _report_json(attacked_ws)
    assert f"warning: skipped run folder '{copy}'" in err and TANH50.run_id in err, err
    assert "seeds" not in doc, doc.get("seeds")
    assert {r["run_id"] for r in doc["records"]} == {TANH50.run_id}
    assert sorted(r.run_id for r in attacked_ws.records()) == sorted([TANH50.run_id, NONE1.run_id])


def test_imported_runs_are_checked_against_their_own_id(attacked_ws, tmp_path):
    """Imported weights are named by config and file hash, not by the config alone: still
    valid."""
    from hotbench.checkpoints import import_weights

    src = attacked_ws.run_dir(TANH50.run_id) / "model.safetensors"
    cfg = TrainConfig(dataset="digits", act="tanh", temp=50)
    record, stored = import_weights(Context(attacked_ws, CPU), src, cfg)
    assert stored
    assert record.run_id in [r.run_id for r in attacked_ws.records()]
    _write_run(attacked_ws, record.run_id, lambda d: d["config"].update(temp=5.0))
    assert record.run_id not in [r.run_id for r in attacked_ws.records()]
