"""Worst case per sample and the gradient-masking diagnosis (issue 4): constructed results for each
check firing and not firing, then one real end-to-end run on the trained tanh T=50 / none T=1 digits
models.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.config import AttackConfig
from hotbench.context import Context
from hotbench.evaluate import diagnose as dg
from hotbench.evaluate.worstcase import StoredResult, worst_case, worst_cases
from hotbench.units import ensure_attacked
from tests.conftest import CPU, NONE1, TANH50, report_text


def _doc(
    method: str,
    broken: list[int],
    n: int = 6,
    eps: float = 0.3,
    size: float | None = None,
    clean_wrong: tuple[int, ...] = (),
    **cfg,
) -> dict:
    """A result document as the store writes it: `broken` samples misclassified after the attack
    with perturbation `size` (default: eps), `clean_wrong` misclassified before it."""
    config = AttackConfig(method=method, eps=eps, eval_temp=1.0, n_samples=n, **cfg).resolved(
        50, 397
    )
    label = [0] * n
    clean = [1 if i in clean_wrong else 0 for i in range(n)]
    adv = [1 if (i in broken or i in clean_wrong) else 0 for i in range(n)]
    s = eps if size is None else size
    linf = [s if i in broken else 0.0 for i in range(n)]
    return {
        "run_id": TANH50.run_id,
        "attack_id": config.attack_id(TANH50.run_id),
        "config": config.model_dump(),
        "threat_model": None,
        "metrics": {},
        "time_s": 0.0,
        "provenance": {"versions": {}, "hardware": {"device": "cpu"}, "created": "now"},
        "per_sample": {
            "index": list(range(n)),
            "label": label,
            "clean_pred": clean,
            "adv_pred": adv,
            "linf": linf,
            "l2": [3 * v for v in linf],
        },
    }


def _res(method: str, acc: float, n: int = 20, eps: float = 0.3, **cfg) -> StoredResult:
    """A stored result with accuracy `acc` at its budget (all samples clean-correct)."""
    k = n - round(acc * n)
    return StoredResult.from_doc(_doc(method, list(range(k)), n=n, eps=eps, **cfg))


# ---- worst case ----------------------------------------------------------------------------------
def test_worst_case_counts_disjoint_breaks_of_two_attacks_through_the_store(trained_ws):
    rec = trained_ws.load_record(TANH50.run_id)
    pgd = _doc("pgd", [0, 1], clean_wrong=(5,))
    square = _doc("square", [2, 3], clean_wrong=(5,))
    square["per_sample"]["attacked"] = [True] * 5 + [
        False
    ]  # a skip-mode mask must not disturb the AND
    for d in (pgd, square):
        trained_ws.save_result(rec.run_id, d)
    (wc,) = worst_cases(trained_ws, rec)
    assert (wc.threat, wc.eps, wc.n_samples) == ("Linf", 0.3, 6)
    assert wc.robust.tolist() == [
        False,
        False,
        False,
        False,
        True,
        False,
    ]  # each attack alone leaves 4/6
    assert wc.robust_acc == pytest.approx(1 / 6)
    assert wc.breaks == {"pgd": 2, "square": 2}


def test_min_norm_attack_breaks_only_within_the_budget():
    pgd = StoredResult.from_doc(_doc("pgd", [0]))
    cw_small = StoredResult.from_doc(_doc("cw", [1], size=0.2))  # linf 0.2 <= 0.3: counts
    cw_large = StoredResult.from_doc(_doc("cw", [2], size=0.5))  # linf 0.5 > 0.3: does not
    wc = worst_case([pgd, cw_small, cw_large], "r", 1.0, "Linf", 0.3)
    assert wc.robust.tolist() == [False, False, True, True, True, True]
    # under L2 the stored l2 (3 x linf here) decides: 0.6 and 1.5 against eps 1.0
    assert (
        worst_case([cw_small, cw_large], "r", 1.0, "L2", 1.0).robust.tolist()
        == [True, False] + [True] * 4
    )


def test_worst_case_uses_the_samples_all_attacks_saw():
    long = StoredResult.from_doc(_doc("pgd", [0], n=6))
    short = StoredResult.from_doc(_doc("fgsm", [1], n=3))
    wc = worst_case([long, short], "r", 1.0, "Linf", 0.3)
    assert wc.n_samples == 3 and wc.robust.tolist() == [False, False, True]
    # one break each on the shared samples: a tie, so both are named (issue 13, point 6)
    assert wc.top_attacks == ["pgd", "fgsm"] and wc.top_attack == "pgd = fgsm"
    assert wc.mixed and wc.coverage == {"pgd ε=0.3": 6, "fgsm ε=0.3": 3}


# ---- each check fires and does not fire ----------------------------------------------------------
def test_gradient_and_saturation_checks():
    masked = {
        "output": {"zero_frac": 0.9, "median_norm": 0.0},
        "logits": {"zero_frac": 0.0, "median_norm": 0.1},
    }
    healthy = {
        "output": {"zero_frac": 0.0, "median_norm": 0.2},
        "logits": {"zero_frac": 0.0, "median_norm": 0.1},
    }
    assert (
        dg.check_zero_gradients(masked).fired and "0.90" in dg.check_zero_gradients(masked).evidence
    )
    assert dg.check_zero_gradients(healthy).fired is False
    assert dg.check_zero_gradients(None).fired is None
    assert dg.check_saturation({"at_bound_frac": 0.8, "tie_frac": 0.0}).fired
    assert dg.check_saturation({"at_bound_frac": 0.0, "tie_frac": 0.0}).fired is False
    assert (
        dg.check_saturation({"at_bound_frac": None, "tie_frac": 0.0}).fired is False
    )  # no bound (act none)
    assert dg.check_ties({"at_bound_frac": 0.8, "tie_frac": 0.2}).fired
    assert dg.check_ties({"at_bound_frac": 0.8, "tie_frac": 0.0}).fired is False


def test_single_step_beats_iterative():
    assert dg.check_single_step([_res("fgsm", 0.4), _res("pgd", 0.9)], "Linf", 0.3).fired
    assert dg.check_single_step([_res("fgsm", 0.9), _res("pgd", 0.4)], "Linf", 0.3).fired is False
    assert dg.check_single_step([_res("pgd", 0.4)], "Linf", 0.3).fired is None


def test_black_box_beats_white_box():
    check = dg.check_black_box([_res("square", 0.25), _res("pgd", 0.85)], "Linf", 0.3)
    assert check.fired and "0.250" in check.evidence and "0.850" in check.evidence
    assert dg.check_black_box([_res("square", 0.3), _res("pgd", 0.0)], "Linf", 0.3).fired is False
    assert dg.check_black_box([_res("transfer", 0.0), _res("pgd", 0.9)], "Linf", 0.3).fired


def test_logit_attack_beats_output_attack():
    assert dg.check_logits([_res("pgd", 0.0, on="logits"), _res("pgd", 0.9)], "Linf", 0.3).fired
    assert (
        dg.check_logits([_res("pgd", 0.0, on="logits"), _res("pgd", 0.0)], "Linf", 0.3).fired
        is False
    )


def test_large_eps():
    assert dg.check_large_eps([_res("pgd", 0.3, eps=1.0)]).fired
    assert dg.check_large_eps([_res("pgd", 0.0, eps=1.0)]).fired is False
    assert dg.check_large_eps([_res("pgd", 0.3)]).fired is None


def test_monotone_in_eps():
    assert dg.check_monotone([_res("pgd", 0.5, eps=0.1), _res("pgd", 0.7, eps=0.3)]).fired
    assert dg.check_monotone([_res("pgd", 0.7, eps=0.1), _res("pgd", 0.5, eps=0.3)]).fired is False
    assert dg.check_monotone([_res("pgd", 0.5)]).fired is None


def test_restarts():
    # 200 samples: seed 0 breaks 10, seed 1 breaks 30 others that no other attack breaks (p < 1e-6,
    # 0.150 of the clean-correct samples); a second seed that agrees with the first never fires
    a = StoredResult.from_doc(_doc("pgd", list(range(10)), n=200))
    b = StoredResult.from_doc(_doc("pgd", list(range(10, 40)), n=200, seed=1))
    same = StoredResult.from_doc(_doc("pgd", list(range(10)), n=200, seed=1))
    check = dg.check_restarts([a, b], "Linf", 0.3)
    assert check.fired and check.numbers["only_second_seed"] == 30
    assert check.numbers["drop_frac"] == pytest.approx(0.15)
    assert dg.check_restarts([a, same], "Linf", 0.3).fired is False
    assert dg.check_restarts([a], "Linf", 0.3).fired is None


def test_restarts_ignore_seed_variance_on_samples_other_attacks_break():
    # PGD's ordinary variance near the boundary (the PGD-AT control: 9 of 200 samples flip between
    # seeds, in both directions): every sample seed 1 breaks that seed 0 misses, APGD already
    # breaks, so the second start finds nothing the other attacks missed
    apgd = StoredResult.from_doc(_doc("apgd", list(range(60)), n=200))
    seed0 = StoredResult.from_doc(_doc("pgd", list(range(50)) + [60, 61, 62], n=200))
    seed1 = StoredResult.from_doc(_doc("pgd", list(range(56)), n=200, seed=1))
    check = dg.check_restarts([apgd, seed0, seed1], "Linf", 0.3)
    assert check.fired is False
    assert check.numbers["only_second_seed"] == 0 and "0 of 200" in check.evidence
    # a few samples only the second seed breaks: neither significant (4 discordant, p = 0.125) nor
    # above the threshold (0.020 of the clean-correct samples)
    seed1_few = StoredResult.from_doc(
        _doc("pgd", list(range(56)) + [70, 71, 72, 73], n=200, seed=1)
    )
    check = dg.check_restarts([apgd, seed0, seed1_few], "Linf", 0.3)
    assert check.fired is False and check.numbers["only_second_seed"] == 4
    assert "p = 0.125" in check.evidence and "n=200" in check.evidence
    # significant (8 discordant, p = 0.008) but a 2-point drop on the 397 test images: below the
    # threshold
    all0 = StoredResult.from_doc(_doc("pgd", list(range(50)), n=397))
    all1 = StoredResult.from_doc(_doc("pgd", list(range(58)), n=397, seed=1))
    check = dg.check_restarts([all0, all1], "Linf", 0.3)
    assert check.numbers["p_value"] < 0.05 and check.fired is False
    assert check.numbers["drop_frac"] == pytest.approx(8 / 397)


def test_restarts_fire_when_the_second_seed_breaks_what_no_other_attack_breaks():
    # masking: where PGD starts decides whether it gets anywhere, so the second start breaks 40
    # samples that APGD, FGSM and the first start all missed
    apgd = StoredResult.from_doc(_doc("apgd", list(range(20)), n=200))
    fgsm = StoredResult.from_doc(_doc("fgsm", list(range(15)), n=200))
    seed0 = StoredResult.from_doc(_doc("pgd", list(range(20)), n=200))
    seed1 = StoredResult.from_doc(_doc("pgd", list(range(20, 60)), n=200, seed=1))
    check = dg.check_restarts([apgd, fgsm, seed0, seed1], "Linf", 0.3)
    assert check.fired and check.numbers["only_second_seed"] == 40
    assert "40 of 200" in check.evidence and "n=200" in check.evidence
    assert "p < 1e-6" in check.evidence
    assert check.numbers["acc_without"] == pytest.approx(0.9)
    assert check.numbers["acc_with"] == pytest.approx(0.7)


def test_decide():
    fired = dg.Check("zero gradients", True, "0.97 zero")
    quiet = dg.Check("zero gradients", False, "0.00 zero")
    low = worst_case([_res("pgd", 0.0)], "r", 1.0, "Linf", 0.3)
    high = worst_case([_res("pgd", 0.8)], "r", 1.0, "Linf", 0.3)
    verdict, evidence = dg.decide([fired, quiet], low)
    assert verdict == "masking suspected" and evidence[0] == "zero gradients: 0.97 zero"
    assert any("most breaks: pgd" in e for e in evidence)
    assert dg.decide([quiet], low)[0] == "not robust"
    # robust needs every check that can hide masking measured and clear (issue 13): with only the
    # gradient check measured the verdict is incomplete, and names the command that completes it
    verdict, evidence = dg.decide([quiet], high)
    assert verdict == "incomplete" and any("hotbench diagnose --run r" in e for e in evidence)
    measured = [
        dg.Check(name, False, "clear") for name in dg.REQUIRED_FOR_ROBUST
    ]  # all measured and clear; worst case 16/20, 95% CI above 0.30
    assert dg.decide(measured, high)[0] == "robust"
    assert dg.decide([quiet], None)[0] == "not evaluated"
    # indicators fire, but the output's own gradient attack already reaches the worst case: nothing
    # is hidden
    verdict, evidence = dg.decide([fired], low, output_best=(0.02, "pgd"))
    assert verdict == "not robust" and "reaches 0.020" in evidence[-1]
    # ... whereas a gap between the output attack and the worst case is the masking the paper missed
    assert dg.decide([fired], low, output_best=(0.85, "pgd"))[0] == "masking suspected"
    assert all(v in dg.VERDICTS for v in ("robust", "masking suspected", "not robust"))


# ---- end to end on real models -------------------------------------------------------------------
def test_end_to_end_masked_tanh_and_plain_baseline(trained_ws):
    """tanh T=50 at eval T=1: zero gradients, broken by the logit attack -> masking suspected;
    none T=1: -> not robust. Stored in the run directory, shown by the report."""
    cfg = dict(eval_temp=1.0, n_samples=40, steps=10)
    tanh = trained_ws.load_record(TANH50.run_id)
    none = trained_ws.load_record(NONE1.run_id)
    for rec in (tanh, none):
        ensure_attacked(Context(trained_ws, CPU), rec, AttackConfig(method="pgd", **cfg))
        ensure_attacked(
            Context(trained_ws, CPU), rec, AttackConfig(method="pgd", on="logits", **cfg)
        )

    doc = dg.save(trained_ws, dg.diagnose_run(Context(trained_ws, CPU), tanh, 1.0))
    assert doc["verdict"] == "masking suspected"
    assert (
        doc["gradients"]["output"]["zero_frac"] > 0.5
        and doc["gradients"]["logits"]["zero_frac"] < 0.05
    )
    assert doc["robust_acc"] <= 0.1 and doc["top_attack"] == "pgd@z"
    assert any(e.startswith("zero gradients:") for e in doc["evidence"])
    assert any("most breaks: pgd@z" in e for e in doc["evidence"])
    assert dg.diagnosis_path(trained_ws, tanh.run_id, 1.0).is_file()
    assert dg.current(trained_ws, tanh, 1.0) is not None  # the probes it ran are in its attack ids

    plain = dg.diagnose_run(Context(trained_ws, CPU), none, 1.0)
    assert plain["verdict"] == "not robust", plain["evidence"]
    assert plain["gradients"]["output"]["zero_frac"] < 0.05

    table = report_text(trained_ws, "table")
    assert "masking suspected" in table and "not robust" in table
    assert "Linf ε=0.3" in table and " robust " in table  # the budget's panel and its worst case
    r = CliRunner().invoke(
        app, ["diagnose", "-w", str(trained_ws.root), "--no-probe", "-f", "json", "-q"]
    )
    assert r.exit_code == 0, r.output
    assert {d["verdict"] for d in json.loads(r.output)} == {"masking suspected", "not robust"}


def test_diagnose_needs_results_or_eps(trained_ws):
    r = CliRunner().invoke(app, ["diagnose", "-w", str(trained_ws.root), "--run", "none", "-q"])
    assert r.exit_code == 2 and "hotbench attack --suite adaptive" in r.output
    r = CliRunner().invoke(app, ["diagnose", "-w", str(trained_ws.root), "-f", "yaml"])
    assert r.exit_code == 2 and "--format" in r.output


def test_gradient_health_and_saturation_on_the_trained_models(trained_ws):
    """The measured mechanism: at eval T=1, tanh T=50's output gradient is exactly zero almost
    everywhere and its outputs sit at +-1.0; the logits' gradient is alive. The plain softmax model
    has neither."""
    from hotbench.data import load_dataset

    test = load_dataset("digits").test.head(100)
    tanh = trained_ws.load_model(trained_ws.load_record(TANH50.run_id))
    none = trained_ws.load_model(trained_ws.load_record(NONE1.run_id))
    g = dg.gradient_health(tanh, test.x, test.y, 1.0)
    assert (
        g["output"]["zero_frac"] > 0.5
        and g["logits"]["zero_frac"] < 0.05
        and g["logits"]["median_norm"] > 0
    )
    assert (
        dg.gradient_health(tanh, test.x, test.y, 50.0)["output"]["zero_frac"] < 0.05
    )  # at its own T: alive
    assert dg.gradient_health(none, test.x, test.y, 1.0)["output"]["zero_frac"] < 0.05
    sat = dg.saturation(tanh, test.x, 1.0)
    assert sat["at_bound_frac"] > 0.5 and dg.check_saturation(sat).fired
    assert dg.saturation(none, test.x, 1.0) == {"at_bound_frac": None, "tie_frac": 0.0}


def test_an_adversarially_trained_model_is_judged_at_its_training_eps():
    """The budget with the most results decides for an undefended or temperature model (ties: the
    larger eps), but a PGD-AT model trained at eps 0.1 claims robustness at 0.1 only: with more
    results at 0.3 (where it is broken like any model) its verdict still speaks about 0.1, where
    it was attacked. Before, a preset with its masking checks at 0.3 called it not robust there."""
    results = [_res(m, 0.9, eps=0.1) for m in ("fgsm", "pgd")] + [
        _res(m, 0.0, eps=0.3) for m in ("fgsm", "pgd", "square")
    ]
    assert dg.reference_budget(results) == ("Linf", 0.3)
    assert dg.reference_budget(results, train_eps=0.1) == ("Linf", 0.1)
    # never a budget it was not attacked at
    assert dg.reference_budget(results, train_eps=0.2) == ("Linf", 0.3)
    # a tie in count goes to the larger eps
    tie = [_res("pgd", 0.9, eps=0.1), _res("pgd", 0.0, eps=0.3)]
    assert dg.reference_budget(tie) == ("Linf", 0.3)
