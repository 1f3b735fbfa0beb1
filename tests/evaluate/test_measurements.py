"""Diagnostic measurements (gradient health, saturation) are stored with the run, keyed by the
weights' sha256, by the commands that compute, and reused by `report`, which reads JSON only."""

from __future__ import annotations

from hotbench.config import AttackConfig
from hotbench.context import Context
from hotbench.evaluate import diagnose as dg
from hotbench.store import RunRecord
from hotbench.units import ensure_attacked
from tests.conftest import CPU, TANH50
from tests.test_startup import probe


def _boom(*a, **kw):
    raise AssertionError("measured again")


def test_report_reuses_the_measurements_stored_with_the_run(trained_ws, monkeypatch):
    ctx = Context(trained_ws, CPU)
    rec = trained_ws.load_record(TANH50.run_id)
    cfg = AttackConfig(method="fgsm", eps=0.3, eval_temp=1.0, n_samples=40)
    ensure_attacked(ctx, rec, cfg)
    assert dg.stored_measurement(trained_ws, rec, 1.0, 40) is None
    dg.store_measurements(ctx, [rec])
    stored = dg.stored_measurement(trained_ws, rec, 1.0, 40)
    assert stored is not None and stored["gradients"]["output"]["zero_frac"] > 0.5
    assert dg.measurements_path(trained_ws, rec.run_id).is_file()

    monkeypatch.setattr(dg, "gradient_health", _boom)
    monkeypatch.setattr(dg, "saturation", _boom)
    doc = dg.report_verdicts(trained_ws, [rec])[(rec.run_id, 1.0)]
    assert doc["gradients"] == stored["gradients"] and doc["saturation"] == stored["saturation"]

    # other weights under the same run id (retrained with --force, replaced) are measured again
    sha = {**rec.doc["weights"], "sha256": "0" * 64}
    other = RunRecord(rec.run_id, rec.path, {**rec.doc, "weights": sha})
    assert dg.stored_measurement(trained_ws, other, 1.0, 40) is None
    # and a different number of test images is a different measurement
    assert dg.stored_measurement(trained_ws, rec, 1.0, 41) is None


def test_report_on_a_measured_workspace_does_not_import_torch(trained_ws):
    ctx = Context(trained_ws, CPU)
    for rec in trained_ws.records():
        ensure_attacked(ctx, rec, AttackConfig(method="fgsm", eps=0.3, n_samples=30))
    dg.store_measurements(ctx, trained_ws.records())
    out = probe("report", "--workspace", str(trained_ws.root))
    assert out["code"] == 0 and set(out["heavy"]) <= {"scipy"}, out  # scipy: the intervals
