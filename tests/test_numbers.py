"""Issue 13, "Numbers you can trust": one test per numbered point of the issue, each reproducing the
wrong output of the old code and showing the fix."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hotbench import data as data_mod
from hotbench.cli import app
from hotbench.config import AttackConfig
from hotbench.context import Context
from hotbench.evaluate import diagnose as dg
from hotbench.evaluate.worstcase import StoredResult, worst_case
from hotbench.reports.baseline import compare
from hotbench.reports.records import SCHEMA_FILE, SCHEMA_VERSION, results_document, unique_labels
from hotbench.reports.tables import pivot
from hotbench.store import Workspace
from hotbench.units import ensure_attacked
from tests.conftest import CPU, NONE1, TANH50, report_text
from tests.test_data import write_tiny_mnist

runner = CliRunner()


def _doc(
    method: str,
    broken: list[int],
    n: int,
    run_id: str = TANH50.run_id,
    size: float = 0.3,
    clean_wrong: tuple[int, ...] = (),
    **cfg,
) -> dict:
    """A stored result of `method` at eval T=1 on the first n test samples (label 0): `broken`
    misclassified after the attack with perturbation `size`, `clean_wrong` before it."""
    config = AttackConfig(method=method, eval_temp=1.0, n_samples=n, **cfg).resolved(50, 1000)
    linf = [size if i in broken else 0.0 for i in range(n)]
    return {
        "run_id": run_id,
        "attack_id": config.attack_id(run_id),
        "config": config.model_dump(),
        "threat_model": config.norm,  # what the store writes (checked on load)
        "metrics": {"n_samples": n},
        "time_s": 0.0,
        "provenance": {"versions": {}, "hardware": {"device": "cpu"}, "created": "now"},
        "per_sample": {
            "index": list(range(n)),
            "label": [0] * n,
            "clean_pred": [1 if i in clean_wrong else 0 for i in range(n)],
            "adv_pred": [1 if (i in broken or i in clean_wrong) else 0 for i in range(n)],
            "linf": linf,
            "l2": linf,
        },
    }


def _save(ws, *docs):
    for d in docs:
        ws.save_result(d["run_id"], d)


def _tanh_row(table: str) -> str:
    return next(line for line in table.splitlines() if " tanh" in line and " 50 " in line)


# ---- 1. one sample set per comparison ------------------------------------------------------------
def test_1_worst_case_on_a_smaller_sample_set_is_marked_with_its_n(trained_ws):
    """fgsm/pgd on 100 samples, cw on 10: the old report showed `robust ε=0.3` 0.900 next to pgd
    0.870 with no n. Now the cell says n=10, the row is marked, JSON says which samples."""
    _save(
        trained_ws,
        _doc("fgsm", list(range(95, 100)), 100),
        _doc("pgd", list(range(87, 100)), 100, steps=10),
        _doc("cw", [0], 10, size=0.1),
    )
    table = report_text(trained_ws, "table", wide=True)  # the whole row on one line
    row = _tanh_row(table)
    assert "0.870 [" in row and "0.900 [" in row and "n=10" in row and "tanh *" in row
    doc = json.loads(report_text(trained_ws, "json"))
    (wc,) = [r for r in doc["robust"] if r["run_id"] == TANH50.run_id]
    assert wc["n_samples"] == 10 and wc["mixed_samples"] and wc["samples"] == {"first": 10}
    assert wc["coverage"] == {"fgsm ε=0.3": 100, "pgd ε=0.3": 100, "cw": 10}
    rec = next(r for r in doc["records"] if r["method"] == "pgd")
    assert rec["samples"] == {"first": 100} and rec["n_adv_correct"] == 87


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 40), st.lists(st.booleans(), min_size=40, max_size=40)),
        min_size=1,
        max_size=5,
    ),
    st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_1_worst_case_never_exceeds_an_attack_on_the_same_samples(attacks, clean_wrong):
    """Property: over random per-sample outcomes and sample sets (first n of 40), the worst case is
    <= every attack's accuracy on the worst case's samples, and exact on them."""
    wrong = tuple(i for i, w in enumerate(clean_wrong) if w)
    results = [
        StoredResult.from_doc(
            _doc(
                "pgd",
                [i for i in range(n) if b[i]],
                n,
                clean_wrong=tuple(w for w in wrong if w < n),
                seed=k,
            )
        )
        for k, (n, b) in enumerate(attacks)
    ]
    wc = worst_case(results, "r", 1.0, "Linf", 0.3)
    assert wc.n_samples == min(n for n, _ in attacks)
    for r in results:
        on_shared = r.robust("Linf", 0.3)[r.on(wc.index)]
        assert wc.n_robust <= int(on_shared.sum())
        assert not (wc.robust & ~on_shared).any()
    lo, hi = wc.ci
    assert lo <= wc.robust_acc <= hi


def test_1_attack_complete_extends_a_stored_attack_instead_of_shrinking(trained_ws):
    """fgsm stored on 20 samples, pgd on 40: `attack --complete` attacks only fgsm's 20 missing
    samples, and the row's worst case is then on all 40 and below each cell."""
    rec = trained_ws.load_record(TANH50.run_id)
    small, _ = ensure_attacked(
        Context(trained_ws, CPU), rec, AttackConfig(method="fgsm", n_samples=20, eval_temp=1.0)
    )
    ensure_attacked(
        Context(trained_ws, CPU),
        rec,
        AttackConfig(method="pgd", steps=3, n_samples=40, eval_temp=1.0),
    )
    r = runner.invoke(
        app,
        [
            "attack",
            "-w",
            str(trained_ws.root),
            "--run",
            "tanh",
            "--eval-temp",
            "1",
            "--complete",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    docs = {
        (d["config"]["method"], d["config"]["n_samples"]): d
        for d in trained_ws.load_results(rec.run_id)
    }
    done = docs[("fgsm", 40)]
    assert done["provenance"]["completed_from"] == small["attack_id"]
    for k in ("adv_pred", "linf", "clean_pred"):
        assert done["per_sample"][k][:20] == small["per_sample"][k]
    fresh = ensure_attacked(
        Context(trained_ws, CPU, force=True),
        rec,
        AttackConfig(method="fgsm", n_samples=40, eval_temp=1.0),
    )[0]
    assert fresh["per_sample"]["adv_pred"] == done["per_sample"]["adv_pred"]
    (wc,) = [
        w
        for w in results_document(trained_ws)["robust"]
        if w["run_id"] == rec.run_id and w["eval_temp"] == 1.0
    ]
    assert wc["n_samples"] == 40
    cells = [
        r["adv_acc"]
        for r in results_document(trained_ws)["records"]
        if r["run_id"] == rec.run_id and r["eval_temp"] == 1.0 and r["n_samples"] == 40
    ]
    assert cells and all(wc["robust_acc"] <= c for c in cells)


@pytest.mark.parametrize("command", [["run"], ["attack", "--preset"]])
def test_1_run_complete_extends_a_presets_smaller_attacks(tmp_path, command):
    """A preset that gives one attack fewer samples (as the CPU reproductions do for Square and
    CW) leaves its rows on mixed sample sets: `run --complete` attacks only the missing samples,
    so every stored attack of the preset's models ends on the largest n and the row is unmarked."""
    preset = tmp_path / "mixed.yaml"
    preset.write_text(
        "description: mixed sample counts\n"
        "train: {datasets: [digits], acts: [none], temps: [1], epochs: 2, seed: 0}\n"
        "attack:\n"
        "  n_samples: 30\n"
        "  attacks:\n"
        "    - {method: fgsm, eps: [0.3]}\n"
        "    - {method: pgd, eps: [0.3], steps: 3, n_samples: 12}\n"
    )
    ws = tmp_path / "ws"
    r = runner.invoke(app, ["run", str(preset), "-w", str(ws), "-f", "csv", "-q"])
    assert r.exit_code == 0, r.output
    [rec] = Workspace(ws).records()
    assert sorted(d["config"]["n_samples"] for d in Workspace(ws).load_results(rec.run_id)) == [
        12,
        30,
    ]
    assert "*" in report_text(Workspace(ws), "markdown")  # the row mixes sample sets
    complete = [*command, str(preset), "-w", str(ws), "--complete", "-q"]
    r = runner.invoke(app, complete + (["-f", "csv"] if command == ["run"] else []))
    assert r.exit_code == 0, r.output
    docs = Workspace(ws).load_results(rec.run_id)
    pgd = [d for d in docs if d["config"]["method"] == "pgd" and d["config"]["n_samples"] == 30]
    assert len(pgd) == 1 and pgd[0]["provenance"]["completed_from"]
    assert len(pgd[0]["per_sample"]["index"]) == 30
    [row] = [
        line
        for line in report_text(Workspace(ws), "markdown").splitlines()
        if line.startswith("| digits")
    ]
    assert "*" not in row and "n=" not in row


# ---- 2. verdicts from measurements only; the data location is remembered ------------------------
def test_2_mnist_data_dir_is_remembered_and_a_move_is_one_line(tmp_path, monkeypatch):
    data = tmp_path / "d"
    write_tiny_mnist(data, n_train=32, n_test=16)
    ws = str(tmp_path / "ws")
    data_mod._CACHE.clear()
    r = runner.invoke(
        app,
        ["train", "-w", ws, "--dataset", "mnist", "--data-dir", str(data), "--epochs", "1", "-q"],
    )
    assert r.exit_code == 0, r.output
    monkeypatch.delenv("HOTBENCH_DATA")
    # the old code: "mnist files not found under 'data'"
    r = runner.invoke(app, ["attack", "-w", ws, "--method", "pgd", "--steps", "2", "-q"])
    assert r.exit_code == 0, r.output
    with_dir = render_report_cli(ws, "--data-dir", str(data))
    without = render_report_cli(ws)
    axes = ("robustness", "masking")
    assert [[v[a] for a in axes] for v in with_dir["verdicts"]] == [
        [v[a] for a in axes] for v in without["verdicts"]
    ]
    checks = {c["name"]: c["state"] for c in without["verdicts"][0]["checks"]}
    assert checks["zero gradients"] != "not measured"
    # the data moves: one line naming the folder and the fix, exit 2, no traceback
    shutil.move(str(data), str(tmp_path / "moved"))
    data_mod._CACHE.clear()
    r = runner.invoke(app, ["attack", "-w", ws, "--method", "fgsm", "-q"])
    assert r.exit_code == 2 and "where run" in r.output and "--data-dir" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    # `attack` stored the gradient measurements with the run (issue 15): the report needs no data
    r = runner.invoke(app, ["report", "-w", ws, "-f", "json"])
    assert r.exit_code == 0 and "warning" not in r.stderr
    v = json.loads(r.stdout)["verdicts"][0]
    assert {c["state"] for c in v["checks"] if c["name"] == "zero gradients"} == {"clear"}
    # without them (a workspace from before issue 15), the report still renders, but never
    # "robust" from checks that were not measured, and says so
    for path in Path(ws).glob("runs/*/diagnosis/measurements.json"):
        path.unlink()
    r = runner.invoke(app, ["report", "-w", ws, "-f", "json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    v = doc["verdicts"][0]
    assert v["robustness"] != "robust"
    assert {c["state"] for c in v["checks"] if c["name"] == "zero gradients"} == {"not measured"}
    assert "warning: checks not measured" in r.stderr
    # --data-dir reaches the rendered report, not only the gate (main measured with run.json's
    # folder for the text and printed the warning although --data-dir named the new one)
    data_mod._CACHE.clear()
    moved = ["--data-dir", str(tmp_path / "moved")]
    r = runner.invoke(app, ["report", "-w", ws, "-f", "json", *moved])
    assert r.exit_code == 0 and "warning" not in r.stderr, r.output
    v = json.loads(r.stdout)["verdicts"][0]
    assert {c["state"] for c in v["checks"] if c["name"] == "zero gradients"} == {"clear"}


def render_report_cli(ws: str, *extra: str) -> dict:
    data_mod._CACHE.clear()
    r = runner.invoke(app, ["report", "-w", ws, "-f", "json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_2_robust_needs_the_masking_checks_measured():
    """A model whose only result is a weak PGD and whose gradients were never measured: the old
    rule said "robust"; now "incomplete", naming the commands that complete it."""
    where = dg.Where("r", 1.0, 0.3, 60, 397, "mnist files not found under 'data'")
    ev = dg.evidence_of([StoredResult.from_doc(_doc("pgd", [0, 1], 60))], ("Linf", 0.3), where)
    v, _ = dg.judge(ev)
    assert v.robustness == "incomplete"
    text = "\n".join(v.evidence)
    assert "hotbench attack --run r --eval-temp 1 --method pgd --on logits --eps 0.3" in text
    assert "--method square --param n_queries=1000 --eps 0.3 --n-samples 60" in text
    assert "hotbench diagnose --run r --eval-temp 1 --eps 0.3 --data-dir DIR" in text
    assert "mnist files not found" in text


# ---- 3. "not robust" applies its threshold -------------------------------------------------------
def test_3_fired_check_with_a_high_worst_case_is_not_called_not_robust():
    """Saturation fired, worst case 0.8, the output attack at 0.8: the old decide said "not
    robust" regardless of the 0.30 threshold. Now "incomplete" (a fired sign never allows
    "robust"); "not robust" only when the interval lies below 0.30."""
    sat = {"at_bound_frac": 0.5, "tie_frac": 0.0}
    pgd = StoredResult.from_doc(_doc("pgd", list(range(20)), 100))
    v, _ = dg.judge(dg.evidence_of([pgd], ("Linf", 0.3), saturation=sat))
    assert v.robustness == "incomplete"
    low = StoredResult.from_doc(_doc("pgd", list(range(95)), 100))
    v, _ = dg.judge(dg.evidence_of([low], ("Linf", 0.3), saturation=sat))
    assert v.robustness == "not robust"


# ---- 4. labels that never collide ----------------------------------------------------------------
def test_4_two_pgd_configs_at_one_eps_get_two_columns(trained_ws):
    _save(
        trained_ws,
        _doc("pgd", list(range(2)), 30, steps=40),
        _doc("pgd", [0], 30, steps=1),
    )
    table = report_text(trained_ws, "table")
    # the terminal panel's title says the budget, its headers the rest of each label
    assert "Linf ε=0.3" in table and "pgd steps=40" in table and "pgd steps=1" in table
    wide = report_text(trained_ws, "table", wide=True)
    assert "pgd steps=40 ε=0.3" in wide and "pgd steps=1 ε=0.3" in wide
    rows = list(csv.DictReader(io.StringIO(report_text(trained_ws, "csv"))))
    tanh = next(r for r in rows if r["act"] == "tanh" and r["eval_temp"] == "1.0")
    assert float(tanh["pgd steps=40 ε=0.3"]) == pytest.approx(28 / 30)
    assert float(tanh["pgd steps=1 ε=0.3"]) == pytest.approx(29 / 30)
    html = report_text(trained_ws, "html")
    assert "pgd steps=40 ε=0.3" in html and "pgd steps=1 ε=0.3" in html


def test_4_configs_that_would_still_share_a_label_are_warned_about():
    cfg = AttackConfig(method="pgd", eval_temp=1.0, n_samples=10).resolved(50, 397)
    labels, warnings = unique_labels(
        [("r", 1.0, cfg, "pgd-aaaaaaaaaa"), ("r", 1.0, cfg, "pgd-bbbbbbbbbb")]
    )
    assert len(set(labels.values())) == 2 and len(warnings) == 1
    assert "share the column 'pgd ε=0.3'" in warnings[0]


# ---- 5. targeted attacks measure targeted success ------------------------------------------------
def test_5_targeted_attack_reports_reaching_its_target(trained_ws):
    rec = trained_ws.load_record(NONE1.run_id)
    cfg = AttackConfig(method="pgd", steps=10, n_samples=40, targeted="least-likely", eps=0.3)
    doc, _ = ensure_attacked(Context(trained_ws, CPU), rec, cfg)
    ps = doc["per_sample"]
    target = np.array(ps["target"])
    correct = np.array(ps["clean_pred"]) == np.array(ps["label"])
    assert (target[correct] >= 0).all() and (
        target[correct] != np.array(ps["label"])[correct]
    ).all()
    hit = correct & (np.array(ps["adv_pred"]) == target)
    assert 0 < hit.sum()
    (r,) = [x for x in results_document(trained_ws)["records"] if x["targeted"]]
    assert r["n_target_hit"] == int(hit.sum())
    assert r["targeted_success"] == pytest.approx(hit.sum() / correct.sum())
    # a targeted attack still counts in the untargeted worst case where it misclassified
    mis = correct & (np.array(ps["adv_pred"]) != np.array(ps["label"]))
    assert r["n_adv_correct"] == int((correct & ~mis).sum())
    assert "target hit" in report_text(trained_ws, "table")


# ---- 6. ties and integer-count fractions ---------------------------------------------------------
def test_6_ties_list_every_attack_and_no_negative_zero(trained_ws):
    _save(
        trained_ws,
        _doc("square", list(range(9)), 10, clean_wrong=(9,)),  # 1 - 9/10 - 1/10 = -2.8e-17
        _doc("fgsm", list(range(9)), 10, clean_wrong=(9,)),
    )
    table = report_text(trained_ws, "table")
    assert "-0.000" not in table
    row = _tanh_row(report_text(trained_ws, "table", wide=True))  # the whole row on one line
    assert "fgsm = square" in row or "square = fgsm" in row
    doc = json.loads(report_text(trained_ws, "json"))
    (wc,) = [r for r in doc["robust"] if r["run_id"] == TANH50.run_id]
    assert sorted(wc["top_attacks"]) == ["fgsm", "square"]
    assert all(r["adv_acc"] == 0.0 for r in doc["records"])


# ---- 7. uncertainty everywhere -------------------------------------------------------------------
def test_7_intervals_in_every_format_and_the_threshold_on_the_interval(trained_ws):
    _save(trained_ws, _doc("pgd", list(range(13)), 20))  # 7/20 = 0.35, CI 0.18-0.57
    doc = results_document(trained_ws)
    (r,) = doc["records"]
    assert r["adv_ci_low"] < 0.35 < r["adv_ci_high"] and doc["schema_version"] == SCHEMA_VERSION
    md = report_text(trained_ws, "markdown")
    assert "0.350 [.18,.57]" in md and "verdict of" in md
    assert "0.350 [.18,.57]" in report_text(trained_ws, "html")
    # the interval straddling 0.30 (0.35 on 20 samples) is tested with every check measured and
    # clear in tests/evaluate/test_diagnose.py (the old rule said "robust" from the point estimate)


def test_7_beats_is_a_paired_test_and_its_evidence_shows_it():
    """A 10-point gap on 20 samples (2 discordant) is noise; 427 discordant of 500 is not."""
    logits = dg.CHECKS.get("logit attack beats output attack")

    def check_logits(results, *budget):
        return logits.run(dg.evidence_of(results, budget), dg.THRESHOLDS)

    small = check_logits(
        [
            StoredResult.from_doc(_doc("pgd", [0, 1, 2], 20, on="logits")),
            StoredResult.from_doc(_doc("pgd", [0], 20)),
        ],
        "Linf",
        0.3,
    )
    # 0.850 vs 0.950: the old rule fired on the 10-point gap alone
    assert small.fired is False and "2 discordant, p = 0.500" in small.evidence
    big = check_logits(
        [
            StoredResult.from_doc(_doc("pgd", list(range(500)), 500, on="logits")),
            StoredResult.from_doc(_doc("pgd", list(range(73)), 500)),
        ],
        "Linf",
        0.3,
    )
    assert big.fired and big.state == "fired"
    assert "pgd@z 0.000 beats output attack pgd 0.854" in big.evidence
    assert "427 discordant, p < 1e-6" in big.evidence


def test_7_several_seeds_report_mean_and_spread(tmp_path):
    ws = str(tmp_path / "ws")
    r = runner.invoke(
        app,
        ["train", "-w", ws, "--act", "none", "--epochs", "2", "--seed", "0", "--seed", "1", "-q"],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["attack", "-w", ws, "--method", "fgsm", "--n-samples", "30", "-q"])
    assert r.exit_code == 0, r.output
    table = report_text(Workspace(ws), "table")
    assert "none T1@1 mean of 2" in table and " sd " in table
    # and in JSON, beside the per-seed records (the mean of the records' own numbers)
    doc = json.loads(report_text(Workspace(ws), "json"))
    [seeds] = doc["seeds"]
    assert seeds["n_seeds"] == 2 and seeds["train_seeds"] == [0, 1]
    accs = [r["adv_acc"] for r in doc["records"]]
    [(label, spread)] = seeds["adv_acc"].items()
    assert label == doc["records"][0]["label"]
    assert spread["mean"] == pytest.approx(sum(accs) / 2)
    assert spread["sd"] == pytest.approx(abs(accs[0] - accs[1]) / 2**0.5)
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))


# ---- 8. a two-sided gate -------------------------------------------------------------------------
def _gate_docs():
    def rec(acc: float, n: int = 100) -> dict:
        return {
            "run_id": "digits-tanh-T50-0123abcd",
            "attack_id": "pgd-logits-0123456789",
            "label": "pgd@z ε=0.3",
            "clean_acc": 0.9,
            "adv_acc": acc,
            "n_samples": n,
        }

    return {"schema_version": SCHEMA_VERSION, "records": [rec(0.0)]}, rec


def test_8_an_attack_that_stops_working_fails_the_gate():
    base, rec = _gate_docs()
    now = {"schema_version": SCHEMA_VERSION, "records": [rec(0.9)]}
    res = compare(base, now, 0.02)  # the old gate passed this (exit 0)
    assert res.exit_code == 1 and [c.status for c in res.failures] == ["RISE"]
    assert compare(base, now, 0.02, direction="down").exit_code == 0
    assert compare(base, now, 0.02, direction="up").exit_code == 1
    # auto: a move the two sample sizes explain passes, one they do not fails
    assert compare(base, {"records": [rec(0.1, 100)]}, "auto").exit_code == 0
    assert compare(base, {"records": [rec(0.2, 100)]}, "auto").exit_code == 1
    with pytest.raises(Exception, match="direction"):
        compare(base, now, 0.02, direction="sideways")


def test_8_old_baselines_are_refused_with_the_regenerate_hint(results_ws_or_trained, tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema_version": 1, "records": []}))
    r = runner.invoke(
        app, ["report", "-w", str(results_ws_or_trained.root), "--baseline", str(old)]
    )
    assert r.exit_code == 2 and "schema_version 1" in r.output and "--save-baseline" in r.output


@pytest.fixture
def results_ws_or_trained(trained_ws):
    _save(trained_ws, _doc("pgd", [0], 10))
    return trained_ws


def _two_seeds_attacked(tmp_path, n_samples: int) -> str:
    """A workspace with tanh T=5 trained at seeds 0 and 1 and attacked by FGSM: its report has a
    seed-mean row."""
    ws = str(tmp_path / "ws")
    args = ["--act", "tanh", "--temp", "5", "--epochs", "2", "--n-train", "300"]
    r = runner.invoke(app, ["train", "-w", ws, *args, "--seed", "0", "--seed", "1", "-q"])
    assert r.exit_code == 0, r.output
    cmd = ["attack", "-w", ws, "--method", "fgsm", "--n-samples", str(n_samples), "-q"]
    r = runner.invoke(app, cmd)
    assert r.exit_code == 0, r.output
    return ws


def test_7_a_seed_row_takes_every_identity_column_from_its_rows(tmp_path):
    """Issue 30: after `train --seed 0 --seed 1` the seeds' row said defense "none" (and act
    "tanh (mean, sd of 2 seeds)") while its own rows said "temperature" and "tanh"."""
    ws = _two_seeds_attacked(tmp_path, n_samples=20)
    rows, _ = pivot(Workspace(ws))
    *seeds, mean = rows
    assert len(seeds) == 2 and mean.seeds == 2
    for field in ("dataset", "defense", "act", "arch", "train_temp", "eval_temp"):
        assert {getattr(r, field) for r in rows} == {getattr(seeds[0], field)}, field
    assert mean.defense == "temperature"
    md = report_text(Workspace(ws), "markdown").splitlines()
    body = [line.split(" | ")[:5] for line in md if line.startswith("| digits")]
    assert len(body) == 3 and body[0] == body[1] == body[2]  # dataset, defense, act, T, eval T


def test_7_seed_rows_keep_csv_numeric_and_name_their_seeds(tmp_path):
    """The seeds' mean row put "0.010 sd 0.014" text in CSV's numeric columns and clean_acc
    0.5700000000000001; in Markdown and LaTeX the per-seed rows and the mean row shared every
    identity column (no seed)."""
    ws = _two_seeds_attacked(tmp_path, n_samples=30)
    rows, columns = pivot(Workspace(ws))
    *seeds, mean = rows
    table = list(csv.DictReader(io.StringIO(report_text(Workspace(ws), "csv"))))
    head = list(table[0])
    accuracies = [c for c in columns if all(isinstance(s.adv.get(c), float) for s in seeds)]
    assert accuracies and set(columns) - set(accuracies)  # the verdict's text columns too
    numeric = ["clean_acc", *accuracies]
    assert all(f"{c}_sd" in head and head.index(f"{c}_sd") == head.index(c) + 1 for c in numeric)
    assert not any(f"{c}_sd" in head for c in set(columns) - set(accuracies))
    for row in table:
        for c in numeric + [f"{c}_sd" for c in numeric]:
            if row[c] != "":
                float(row[c])  # a number, never "0.010 sd 0.014"
    csv_mean = table[2]
    for c, values in [("clean_acc", [s.clean_acc for s in seeds])] + [
        (c, [s.adv[c] for s in seeds]) for c in accuracies
    ]:
        m, sd = np.mean(values), np.std(values, ddof=1)
        # the numbers in full, without binary rounding's tail (0.5700000000000001)
        assert csv_mean[c] == repr(float(f"{m:.15g}")), (c, csv_mean[c])
        assert csv_mean[f"{c}_sd"] == repr(float(f"{sd:.15g}"))
        assert table[0][f"{c}_sd"] == table[1][f"{c}_sd"] == ""  # a seed's own row has no spread
    for fmt in ("markdown", "latex"):
        text = report_text(Workspace(ws), fmt)
        body = [ln for ln in text.splitlines() if ln.startswith(("| digits", "digits &"))]
        assert len(body) == 3 and len(set(body)) == 3, fmt
        assert "mean of 0,1" in body[2], (fmt, body[2])
        lines = text.splitlines()
        header = lines[0] if fmt == "markdown" else lines[lines.index(r"\toprule") + 1]
        assert "seed" in header, (fmt, header)
