"""The regression gate: exit 0 on identical results, 1 on a drop / a missing record / a threshold
not met, 2 on bad input; stdout stays clean JSON while the diff table goes to stderr."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hotbench
from hotbench.cli import app
from hotbench.errors import HotbenchError
from hotbench.reports.baseline import compare
from hotbench.reports.gate_result import BELOW, DROP, MISSING, NEW, OK
from hotbench.reports.gate_text import render_checks
from hotbench.reports.records import SCHEMA_VERSION, results_document
from hotbench.reports.thresholds import check_thresholds, parse_threshold

runner = CliRunner()


@pytest.fixture
def baseline(results_ws, tmp_path):
    path = tmp_path / "baseline.json"
    r = gate(results_ws, "--save-baseline", str(path))
    assert r.exit_code == 0, r.output
    assert "baseline written" in r.stderr
    return path


def gate(ws, *args: str):
    return runner.invoke(app, ["report", "-w", str(ws.root), "--format", "json", *args])


def edit(path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_identical_results_pass_and_stdout_stays_json(results_ws, baseline):
    r = gate(results_ws, "--baseline", str(baseline))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["records"]  # the diff table did not leak into stdout
    assert "gate passed" in r.stderr and DROP not in r.stderr
    saved = json.loads(baseline.read_text())
    assert [x["adv_acc"] for x in saved["records"]] == [
        x["adv_acc"] for x in json.loads(r.stdout)["records"]
    ]


def test_planted_drop_fails_with_exit_1(results_ws, baseline):
    target = {}

    def plant(doc):
        rec = next(x for x in doc["records"] if x["adv_acc"] < 0.9)
        rec["adv_acc"] += 0.1  # the baseline was better: the current result "dropped" by 0.1
        target.update(rec)

    edit(baseline, plant)
    r = gate(results_ws, "--baseline", str(baseline))
    assert r.exit_code == 1, r.output
    assert "gate FAILED" in r.stderr and "-0.100" in r.stderr and DROP in r.stderr
    assert target["label"] in r.stderr
    json.loads(r.stdout)  # the report itself was still written, clean
    # the same drop passes under a looser tolerance
    assert gate(results_ws, "--baseline", str(baseline), "--tolerance", "0.15").exit_code == 0


def test_drop_within_tolerance_passes(results_ws, baseline):
    edit(baseline, lambda d: d["records"][0].update(clean_acc=d["records"][0]["clean_acc"] + 0.015))
    r = gate(results_ws, "--baseline", str(baseline), "--tolerance", "0.02")
    assert r.exit_code == 0, r.output


def test_missing_record_fails(results_ws, baseline):
    def extra(doc):
        ghost = dict(doc["records"][0], attack_id="pgd-0123456789")
        doc["records"].append(ghost)

    edit(baseline, extra)
    r = gate(results_ws, "--baseline", str(baseline))
    assert r.exit_code == 1, r.output
    assert MISSING in r.stderr


def test_new_current_records_pass_and_are_listed():
    cur = {
        "schema_version": 1,
        "records": [
            {
                "run_id": "m-00000000",
                "attack_id": "fgsm-0000000000",
                "clean_acc": 0.9,
                "adv_acc": 0.5,
                "label": "fgsm",
            },
            {
                "run_id": "m-00000000",
                "attack_id": "pgd-0000000000",
                "clean_acc": 0.9,
                "adv_acc": 0.4,
                "label": "pgd",
            },
        ],
    }
    base = {"schema_version": 1, "records": cur["records"][:1]}
    res = compare(base, cur, 0.02)
    assert res.exit_code == 0
    assert [c.status for c in res.checks] == [OK, OK, NEW, NEW]


def test_robust_threshold_without_worst_case_is_bad_input():
    doc = {
        "schema_version": 1,
        "records": [
            {
                "run_id": "m-00000000",
                "attack_id": "fgsm-0000000000",
                "clean_acc": 0.9,
                "adv_acc": 0.5,
                "label": "fgsm",
            }
        ],
    }
    with pytest.raises(HotbenchError, match="no worst-case"):
        check_thresholds(doc, [parse_threshold("robust_acc=0.5")])


def test_robust_threshold_on_real_results(results_ws):
    doc = results_document(results_ws)
    assert doc["robust"], "fgsm + pgd at one eps give a worst case per model and eval T"
    worst = min(r["robust_acc"] for r in doc["robust"])
    assert gate(results_ws, "--fail-under", f"robust_acc={worst}").exit_code == 0
    if worst < 1.0:
        r = gate(results_ws, "--fail-under", f"robust_acc={min(worst + 0.01, 1.0)}")
        assert r.exit_code == 1 and "robust_acc" in r.stderr


def test_worst_case_accuracy_is_gated_when_present():
    rec = {
        "run_id": "m-00000000",
        "attack_id": "pgd-0000000000",
        "clean_acc": 0.9,
        "adv_acc": 0.5,
        "label": "pgd",
    }
    rob = {
        "run_id": "m-00000000",
        "robust_id": "Linf-0.3@T1",
        "robust_acc": 0.30,
        "eps": 0.3,
        "threat_model": "Linf",
        "dataset": "digits",
        "act": "tanh",
        "train_temp": 50,
        "eval_temp": 1,
    }
    base = {"schema_version": 1, "records": [rec], "robust": [rob]}
    cur = {"schema_version": 1, "records": [rec], "robust": [dict(rob, robust_acc=0.2)]}
    res = compare(base, cur, 0.02)
    assert [(c.metric, c.status) for c in res.failures] == [("robust_acc", DROP)]
    assert check_thresholds(cur, [parse_threshold("robust_acc=0.1")]).exit_code == 0
    assert check_thresholds(cur, [parse_threshold("robust_acc=0.25")]).exit_code == 1


def test_fail_under_fires_and_does_not(results_ws):
    doc = results_document(results_ws)
    lowest = min(r["adv_acc"] for r in doc["records"])
    r = gate(results_ws, "--fail-under", f"adv_acc={lowest}")
    assert r.exit_code == 0, r.output  # ">= value" passes at equality
    r = gate(results_ws, "--fail-under", f"adv_acc={min(lowest + 0.01, 1.0)}")
    assert r.exit_code == 1 and BELOW in r.stderr
    # scoped: only the FGSM results must reach their own minimum
    fgsm_min = min(x["adv_acc"] for x in doc["records"] if x["method"] == "fgsm")
    assert gate(results_ws, "--fail-under", f"fgsm:adv_acc={fgsm_min}").exit_code == 0
    label = next(x["label"] for x in doc["records"] if x["method"] == "pgd")
    pgd_max = max(x["adv_acc"] for x in doc["records"] if x["label"] == label)
    if pgd_max < 1.0:
        assert gate(results_ws, "--fail-under", f"{label}:adv_acc={pgd_max + 0.001}").exit_code == 1


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("adv_acc", "no '=VALUE'"),
        ("adv=0.5", "unknown metric 'adv'"),
        ("adv_acc=high", "not a number"),
        ("adv_acc=1.5", "lie in [0, 1]"),
        ("pgdd:adv_acc=0.5", "matches no result"),
        ("pgd:robust_acc=0.5", "takes no attack scope"),
    ],
)
def test_fail_under_bad_input_is_exit_2_not_a_regression(results_ws, tmp_path, spec, needle):
    out = tmp_path / "r.json"
    r = gate(results_ws, "--fail-under", spec, "-o", str(out))
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and r.stderr.strip().count("\n") == 0
    assert not out.exists()  # checked before the report is written


@pytest.mark.parametrize(
    "content,needle",
    [
        (None, "does not exist"),
        ("{not json", "not readable JSON"),
        ('{"records": []}', "no schema_version"),
        ('{"schema_version": 99, "records": []}', "schema_version 99"),
        ('{"schema_version": 3, "records": [{"run_id": "x"}]}', "records[0].attack_id is missing"),
    ],
)
def test_bad_baseline_is_exit_2(results_ws, tmp_path, content, needle):
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    r = gate(results_ws, "--baseline", str(path))
    assert r.exit_code == 2 and needle in r.stderr, r.output


def test_bad_tolerance_is_exit_2(results_ws, baseline):
    assert gate(results_ws, "--baseline", str(baseline), "--tolerance", "-0.1").exit_code == 2
    with pytest.raises(HotbenchError):
        compare({"records": []}, {"records": []}, 1.5)


def test_save_baseline_is_not_written_when_the_gate_fails(results_ws, baseline, tmp_path):
    edit(baseline, lambda d: d["records"][0].update(clean_acc=1.0, adv_acc=1.0))
    new = tmp_path / "new-baseline.json"
    r = gate(results_ws, "--baseline", str(baseline), "--save-baseline", str(new))
    assert r.exit_code == 1 and not new.exists() and "not written" in r.stderr


def test_filters_apply_to_the_baseline_too(results_ws, baseline):
    r = gate(results_ws, "--act", "none", "--baseline", str(baseline))
    assert r.exit_code == 0, (
        r.output
    )  # the tanh records of the baseline are out of scope, not missing
    assert "tanh" not in r.stderr


# ---- a gate that checks nothing fails (issue 26, issue 30) ---------------------------------------
def _doc(*records, robust=()):
    return {"schema_version": SCHEMA_VERSION, "records": list(records), "robust": list(robust)}


REC = {
    "run_id": "digits-tanh-T50-00000000",
    "attack_id": "pgd-0000000000",
    "clean_acc": 0.9,
    "adv_acc": 0.5,
    "label": "pgd ε=0.3",
}


def test_a_baseline_that_matches_nothing_fails_with_one_line():
    other = dict(REC, run_id="digits-none-T1-11111111")
    res = compare(_doc(other), _doc(REC))
    assert res.exit_code == 1
    assert "none of the baseline's 1 results is among the 1 current ones" in res.summary()
    text = render_checks(res, "regression gate against b.json")
    assert text.count("\n") == 1 and "gate FAILED" in text and "b.json" in text
    assert compare(_doc(), _doc(REC)).exit_code == 1  # an empty baseline checks nothing too


def test_a_baseline_whose_accuracies_are_all_null_fails():
    null = dict(REC, clean_acc=None, adv_acc=None)
    with pytest.raises(HotbenchError, match="no accuracy in it matched"):
        compare(_doc(null), _doc(REC))
    # one number is enough to check something
    assert compare(_doc(dict(null, adv_acc=0.5)), _doc(REC)).exit_code == 0


def test_a_null_baseline_with_verdicts_checks_no_number_and_fails():
    """Issue 30: verdicts alone do not make a baseline check numbers; it passed with "ok"s."""
    verdict = {"run_id": REC["run_id"], "eval_temp": 1.0, "robustness": "robust"}
    verdict["masking"] = "not detected"
    null = dict(REC, clean_acc=None, adv_acc=None)
    base = dict(_doc(null), verdicts=[verdict])
    with pytest.raises(HotbenchError) as exc:
        compare(base, dict(_doc(REC), verdicts=[verdict]), source="b.json")
    msg = str(exc.value)
    assert "baseline 'b.json'" in msg and "no accuracy in it matched" in msg
    assert "regenerate it with --save-baseline" in msg


@pytest.mark.parametrize("keep_verdicts", [True, False])
def test_a_null_baseline_fails_on_the_command_line(results_ws, baseline, keep_verdicts):
    def null(doc):
        for r in doc["records"]:
            r.update(clean_acc=None, adv_acc=None)
        for r in doc.get("robust", []):
            r.update(robust_acc=None)
        if not keep_verdicts:
            doc.pop("verdicts", None)

    edit(baseline, null)
    r = gate(results_ws, "--baseline", str(baseline))
    assert r.exit_code == 2, r.output  # a bad baseline (input), not a regression
    assert str(baseline) in r.stderr and "no accuracy in it matched" in r.stderr
    assert "--save-baseline" in r.stderr and r.stderr.strip().count("\n") == 0
    assert "Traceback" not in r.output and not r.stdout


# ---- the gate under --preset ---------------------------------------------------------------------
PRESET = """\
description: gate test
train:
  datasets: [digits]
  acts: [{act}]
  temps: [{temp}]
  epochs: {epochs}
  n_train: 300
attack:
  n_samples: 30
  attacks:
    - method: fgsm
      eps: 0.3
"""


@pytest.fixture(scope="module")
def preset_ws(tmp_path_factory):
    """A workspace holding two tiny presets' results, and their files: `mine` (the preset the
    baseline is made of), `changed` (its copy with other epochs, run too) and `other` (another
    model altogether)."""
    root = tmp_path_factory.mktemp("gate-presets")
    files = {}
    for name, act, temp, epochs in (
        ("mine", "tanh", 5, 2),
        ("changed", "tanh", 5, 3),
        ("other", "none", 1, 2),
    ):
        files[name] = root / f"{name}.yaml"
        files[name].write_text(PRESET.format(act=act, temp=temp, epochs=epochs))
        r = runner.invoke(app, ["run", str(files[name]), "-w", str(root / "ws"), "-q"])
        assert r.exit_code == 0, r.output
    base = root / "baseline.json"
    r = runner.invoke(
        app,
        [
            "report",
            "-w",
            str(root / "ws"),
            "--preset",
            str(files["mine"]),
            "--save-baseline",
            str(base),
        ],
    )
    assert r.exit_code == 0, r.output
    return root / "ws", files, base


def test_a_config_change_under_preset_fails_the_gate(preset_ws):
    ws, files, base = preset_ws
    args = ["report", "-w", str(ws), "--baseline", str(base), "-f", "json"]
    assert runner.invoke(app, [*args, "--preset", str(files["mine"])]).exit_code == 0
    r = runner.invoke(app, [*args, "--preset", str(files["changed"])])
    assert r.exit_code == 1, r.output
    assert "gate FAILED" in r.stderr and "none of the baseline's" in r.stderr
    assert r.stderr.strip().count("\n") == 0  # one line, not every record as MISSING and new
    json.loads(r.stdout)  # the report itself is still written


def test_a_baseline_of_another_preset_fails_the_gate(preset_ws):
    ws, files, base = preset_ws
    r = runner.invoke(
        app,
        ["report", "-w", str(ws), "--preset", str(files["other"]), "--baseline", str(base)],
    )
    assert r.exit_code == 1, r.output
    assert "another preset" in r.stderr


def test_a_baseline_record_the_preset_no_longer_has_is_missing(preset_ws, tmp_path):
    ws, files, base = preset_ws
    both = tmp_path / "both.json"
    r = runner.invoke(app, ["report", "-w", str(ws), "--save-baseline", str(both), "-f", "json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["report", "-w", str(ws), "--preset", str(files["mine"]), "--baseline", str(both)]
    )
    assert r.exit_code == 1, r.output
    assert MISSING in r.stderr and "gate FAILED" in r.stderr


def _gate_example() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "python-api.md").read_text()
    section = text[text.index("## The CI gate from Python") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _run_gate_example(cwd: Path, capsys) -> tuple[int, str]:
    try:
        exec(compile(_gate_example(), "docs/python-api.md", "exec"), {"__name__": "docs_gate"})
    except SystemExit as exc:
        return exc.code, capsys.readouterr().out
    raise AssertionError("the gate example must end in sys.exit(outcome.exit_code)")


def test_docs_gate_example_passes_on_its_baseline_and_fails_on_a_regression(
    results_ws, tmp_path, monkeypatch, capsys
):
    """The CI gate from Python (docs/python-api.md): the same numbers pass with exit code 0, a
    planted drop in the baseline's reference (current results worse than it) fails with 1 and
    names the number; the outcome is what `hotbench report --baseline` turns into its exit code."""
    shutil.copytree(results_ws.root, tmp_path / "smoke-ws")
    monkeypatch.chdir(tmp_path)
    saved = hotbench.report("smoke-ws", gate=hotbench.Gate(save_baseline="baseline-ci-smoke.json"))
    assert saved.passed and saved.gate.note.startswith("baseline written to")
    assert str(saved) == saved.text and "clean" in saved.text
    code, out = _run_gate_example(tmp_path, capsys)
    assert code == 0 and "gate passed" in out, out

    doc = json.loads((tmp_path / "baseline-ci-smoke.json").read_text())
    record = next(r for r in doc["records"] if r["adv_acc"] is not None and r["adv_acc"] < 0.9)
    record["adv_acc"] += 0.1  # the baseline was better: now is a drop of 0.1 > tolerance 0.02
    (tmp_path / "baseline-ci-smoke.json").write_text(json.dumps(doc))
    code, out = _run_gate_example(tmp_path, capsys)
    assert code == 1 and "gate FAILED" in out and "DROP" in out and "adv_acc" in out, out
    outcome = hotbench.report("smoke-ws", gate=hotbench.Gate(baseline="baseline-ci-smoke.json"))
    assert outcome.exit_code == 1 and not outcome.passed
    assert [c.metric for _, _, r in outcome.gate.results for c in r.failures] == ["adv_acc"]
