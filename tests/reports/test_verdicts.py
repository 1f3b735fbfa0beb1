"""Verdicts in every format and in the gate (issue 24): two axes, robustness and masking, in the
table, Markdown, HTML and the JSON document (schema_version 3, validated against its schema), and a
baseline whose verdict moves on either axis fails the gate."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.errors import HotbenchError
from hotbench.reports.baseline import compare
from hotbench.reports.gate_result import CHANGED, MISSING, OK
from hotbench.reports.records import SCHEMA_FILE, SCHEMA_VERSION, results_document
from tests.conftest import report_text

runner = CliRunner()


def test_both_axes_in_every_format(results_ws):
    doc = results_document(results_ws)
    assert doc["schema_version"] == SCHEMA_VERSION == 3
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    verdicts = doc["verdicts"]
    assert verdicts and all(
        {"robustness", "masking", "masking_evidence"} <= v.keys() for v in verdicts
    )
    assert "verdict" not in verdicts[0]  # renamed: a reader of version 2 must not misread it
    pairs = {(v["robustness"], v["masking"]) for v in verdicts}
    table = report_text(results_ws, "table", wide=True)  # evidence lines unwrapped
    markdown = report_text(results_ws, "markdown")
    html = report_text(results_ws, "html")
    csv = report_text(results_ws, "csv")
    for robustness, masking in pairs:
        line = f"{robustness}, masking {masking}"
        assert line in table and "**verdict of" in markdown and line in markdown
        assert f"v-robustness-{'-'.join(robustness.split())}" in html
        assert f"v-masking-{'-'.join(masking.split())}" in html
        assert f"{robustness},{masking}" in csv.replace(" ,", ",")
    assert "robustness" in csv.splitlines()[0] and "masking" in csv.splitlines()[0]


def _docs(robustness: str = "robust", masking: str = "not detected"):
    def verdict(r: str, m: str) -> dict:
        return {
            "run_id": "digits-none-T1-0123abcd",
            "eval_temp": 1.0,
            "robustness": r,
            "masking": m,
        }

    # one accuracy beside the verdicts: a baseline of verdicts alone checks no number (issue 30)
    record = {
        "run_id": "digits-none-T1-0123abcd",
        "attack_id": "pgd-0000000000",
        "clean_acc": 0.9,
        "adv_acc": 0.5,
        "label": "pgd ε=0.3",
    }
    base = {
        "schema_version": SCHEMA_VERSION,
        "records": [record],
        "verdicts": [verdict("robust", "not detected")],
    }
    now = {
        "schema_version": SCHEMA_VERSION,
        "records": [record],
        "verdicts": [verdict(robustness, masking)],
    }
    return base, now


def test_a_verdict_that_moves_on_either_axis_fails_the_gate():
    res = compare(*_docs())
    assert res.exit_code == 0 and [c.status for c in res.checks] == [OK, OK, OK, OK]
    assert [c.metric for c in res.checks][2:] == ["robustness", "masking"]
    res = compare(*_docs(masking="detected"))
    assert res.exit_code == 1
    (bad,) = res.failures
    assert (bad.metric, bad.baseline, bad.now, bad.status) == (
        "masking",
        "not detected",
        "detected",
        CHANGED,
    )
    res = compare(*_docs(robustness="incomplete"))
    assert [c.metric for c in res.failures] == ["robustness"]
    base, _ = _docs()
    gone = compare(base, {"schema_version": SCHEMA_VERSION, "records": base["records"]})
    assert {c.status for c in gone.failures} == {MISSING}


def test_a_baseline_of_verdicts_alone_checks_no_number():
    base, now = _docs()
    base["records"] = []
    with pytest.raises(HotbenchError, match="no accuracy in it matched"):
        compare(base, now)


def test_the_gate_table_shows_the_verdict_that_moved(results_ws, tmp_path):
    path = tmp_path / "baseline.json"
    r = runner.invoke(
        app, ["report", "-w", str(results_ws.root), "-f", "json", "--save-baseline", str(path)]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(path.read_text())
    before = doc["verdicts"][0]["robustness"]
    doc["verdicts"][0]["robustness"] = "robust" if before != "robust" else "not robust"
    path.write_text(json.dumps(doc))
    r = runner.invoke(
        app, ["report", "-w", str(results_ws.root), "-f", "json", "--baseline", str(path)]
    )
    assert r.exit_code == 1
    assert CHANGED in r.stderr and before in r.stderr and "robustness" in r.stderr
