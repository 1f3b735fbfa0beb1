"""Results documents given to `report --baseline` and `compare` are checked on load: a malformed
or impossible document is one line naming the file and the field, exit 2 (never a DROP, never a
silent pass, never a traceback, never a hang)."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.errors import HotbenchError
from hotbench.reports.documents import check_document, load_document
from hotbench.reports.records import SCHEMA_VERSION

runner = CliRunner()

GOOD = {
    "schema_version": SCHEMA_VERSION,
    "records": [
        {
            "run_id": "digits-tanh-T50-00000000",
            "attack_id": "pgd-0000000000",
            "label": "pgd ε=0.3",
            "dataset": "digits",
            "act": "tanh",
            "train_temp": 50.0,
            "eval_temp": 1.0,
            "eps": 0.3,
            "n_samples": 100,
            "n_clean_correct": 90,
            "n_adv_correct": 40,
            "clean_acc": 0.9,
            "adv_acc": 0.4,
            "adv_ci_low": 0.309,
            "adv_ci_high": 0.498,
        }
    ],
    "robust": [
        {
            "run_id": "digits-tanh-T50-00000000",
            "robust_id": "robust-T1-Linf-0.3",
            "robust_acc": 0.1,
            "n_samples": 100,
            "n_robust": 10,
            "ci_low": 0.055,
            "ci_high": 0.174,
        }
    ],
}


def planted(fn):
    doc = copy.deepcopy(GOOD)
    fn(doc)
    return doc


def rec(**kw):
    return lambda d: d["records"][0].update(kw)


def rob(**kw):
    return lambda d: d["robust"][0].update(kw)


BAD = {
    "record-not-object": (
        lambda d: d["records"].append(3),
        "records[1] is a number, not an object",
    ),
    "record-a-list": (lambda d: d["records"].insert(0, []), "records[0] is a list"),
    "robust-not-list": (lambda d: d.update(robust={"a": 1}), "'robust' is an object, not a list"),
    "adv-acc-string": (rec(adv_acc="0.4"), 'records[0].adv_acc is "0.4", not a number'),
    "adv-acc-list": (rec(adv_acc=[0.4]), "records[0].adv_acc is [0.4], not a number"),
    "adv-acc-above-1": (rec(adv_acc=1.7), "records[0].adv_acc is 1.7, outside [0, 1]"),
    "clean-acc-negative": (rec(clean_acc=-0.1), "records[0].clean_acc is -0.1, outside [0, 1]"),
    "ci-above-1": (rec(adv_ci_high=1.9), "records[0].adv_ci_high is 1.9, outside [0, 1]"),
    "robust-above-1": (rob(robust_acc=2), "robust[0].robust_acc is 2, outside [0, 1]"),
    "n-infinite": (rec(n_samples=math.inf), "records[0].n_samples is inf, not a count"),
    "n-fraction": (rec(n_samples=99.5), "records[0].n_samples is 99.5, not a count"),
    "n-negative": (rec(n_samples=-1), "records[0].n_samples is -1, not a count"),
    "count-above-n": (rec(n_adv_correct=101), "n_adv_correct is 101, more than n_samples (100)"),
    "robust-count-above-n": (rob(n_robust=300), "robust[0].n_robust is 300, more than n_samples"),
    "run-id-null": (rec(run_id=None), "records[0].run_id is null, not an id"),
    "run-id-empty": (rec(run_id=""), 'records[0].run_id is "", not an id'),
    "attack-id-missing": (lambda d: d["records"][0].pop("attack_id"), "attack_id is missing"),
    "robust-id-number": (rob(robust_id=3), "robust[0].robust_id is 3, not an id"),
    "eval-temp-string": (rec(eval_temp="1"), 'records[0].eval_temp is "1", not a finite number'),
    "label-list": (rec(label=["x"]), 'records[0].label is ["x"], not a string'),
    # verdicts are compared by the gate too (run_id, eval T, one word per axis)
    "verdicts-not-list": (lambda d: d.update(verdicts={}), "'verdicts' is an object, not a list"),
    "verdict-not-object": (lambda d: d.update(verdicts=[1]), "verdicts[0] is a number"),
    "verdict-run-id-null": (
        lambda d: d.update(verdicts=[{"run_id": None, "eval_temp": 1.0}]),
        "verdicts[0].run_id is null, not an id",
    ),
    "verdict-eval-temp-nan": (
        lambda d: d.update(verdicts=[{"run_id": "r", "eval_temp": math.nan}]),
        "verdicts[0].eval_temp is nan, not a finite number",
    ),
    "verdict-axis-number": (
        lambda d: d.update(verdicts=[{"run_id": "r", "eval_temp": 1.0, "masking": 3}]),
        "verdicts[0].masking is 3, not a string",
    ),
    # an integer JSON reads beyond float's range was an OverflowError traceback
    "n-huge-integer": (rec(n_samples=10**400), "records[0].n_samples is 1000000000"),
    "eval-temp-huge-integer": (rec(eval_temp=10**400), "records[0].eval_temp is 10000000"),
    "verdict-eval-temp-huge": (
        lambda d: d.update(verdicts=[{"run_id": "r", "eval_temp": 10**400}]),
        "verdicts[0].eval_temp is 10000000",
    ),
    # NaN is "not measured" (n = 0): on 100 samples the gate passed it as "ok" (delta +nan)
    "adv-acc-nan-on-samples": (
        rec(adv_acc=math.nan),
        "records[0].adv_acc is nan (not measured), but n_samples is 100",
    ),
    "robust-nan-on-samples": (
        rob(robust_acc=math.nan),
        "robust[0].robust_acc is nan (not measured), but n_samples is 100",
    ),
    # compare printed "0.400 [.50,.10]" and flagged the two results "CIs apart"
    "ci-inverted": (
        rec(adv_ci_low=0.5, adv_ci_high=0.1),
        "records[0].adv_ci_low is 0.5, above adv_ci_high (0.1)",
    ),
    "robust-ci-inverted": (rob(ci_low=0.9, ci_high=0.2), "robust[0].ci_low is 0.9, above ci_high"),
}


def test_a_good_document_loads(tmp_path: Path):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(GOOD))
    assert load_document(path) == GOOD
    # not given is null, not measured (n = 0) is NaN: neither is an error
    check_document(planted(rec(adv_acc=None)), path)
    empty = dict(n_samples=0, n_clean_correct=0, n_adv_correct=0, adv_ci_low=0.0, adv_ci_high=1.0)
    check_document(planted(rec(clean_acc=math.nan, adv_acc=math.nan, **empty)), path)


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_document_names_the_file_and_the_field(case, tmp_path: Path):
    plant, message = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(planted(plant)))
    with pytest.raises(HotbenchError) as exc:
        load_document(path)
    text = str(exc.value)
    assert message in text and str(path) in text and "\n" not in text


@pytest.mark.parametrize(
    "case",
    [
        "adv-acc-above-1",
        "robust-not-list",
        "run-id-null",
        "adv-acc-nan-on-samples",
        "n-huge-integer",
    ],
)
def test_the_gate_and_compare_refuse_them_with_exit_2(case, tmp_path: Path, results_ws):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(GOOD))
    bad.write_text(json.dumps(planted(BAD[case][0])))
    for args in (
        ["report", "-w", str(results_ws.root), "--baseline", str(bad)],
        ["compare", str(good), str(bad)],
        ["compare", str(bad), str(good), "-f", "json"],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert BAD[case][1] in r.stderr and str(bad) in r.stderr, r.stderr
        assert r.stderr.strip().count("\n") == 0 and r.stdout == ""


def test_dev_zero_is_refused_without_reading_it():
    with pytest.raises(HotbenchError, match="not a regular file"):
        load_document(Path("/dev/zero"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_and_nothing_hangs(tmp_path: Path, results_ws):
    fifo = tmp_path / "doc.json"
    os.mkfifo(fifo)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    for args in (
        ["compare", str(fifo), str(good)],
        ["report", "-w", str(results_ws.root), "--baseline", str(fifo)],
    ):
        r = subprocess.run(
            [sys.executable, "-m", "hotbench", *args],
            capture_output=True,
            text=True,
            timeout=60,  # a hang fails here instead of blocking the suite
        )
        assert r.returncode == 2, r.stderr
        assert "is a FIFO" in r.stderr and r.stderr.strip().count("\n") == 0


def test_a_huge_document_is_refused_before_it_is_read(tmp_path: Path, monkeypatch):
    import hotbench.reports.documents as documents

    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(GOOD) + " " * 2000)
    with pytest.raises(HotbenchError, match="larger than any results document"):
        load_document(path)
