"""Worst case per sample and the diagnosis (issues 4 and 24): constructed results for each check
firing and not firing, the two-axis verdict rule on constructed evidence, then real end-to-end
runs on the trained tanh T=50 / none T=1 digits models.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.config import AttackConfig
from hotbench.context import Context
from hotbench.evaluate import diagnose as dg
from hotbench.evaluate.worstcase import StoredResult, worst_case, worst_cases
from hotbench.units import ensure_attacked
from tests.conftest import CPU, NONE1, TANH50, report_text

BUDGET = ("Linf", 0.3)


def _doc(
    method: str,
    broken: list[int],
    n: int = 6,
    eps: float = 0.3,
    size: float | None = None,
    clean_wrong: tuple[int, ...] = (),
    independent: bool | None = None,
    **cfg,
) -> dict:
    """A result document as the store writes it: `broken` samples misclassified after the attack
    with perturbation `size` (default: eps), `clean_wrong` misclassified before it. A transfer
    result records its surrogate (`independent`, as units.persist_attack does)."""
    config = AttackConfig(method=method, eps=eps, eval_temp=1.0, n_samples=n, **cfg).resolved(
        50, 397
    )
    label = [0] * n
    clean = [1 if i in clean_wrong else 0 for i in range(n)]
    adv = [1 if (i in broken or i in clean_wrong) else 0 for i in range(n)]
    s = eps if size is None else size
    linf = [s if i in broken else 0.0 for i in range(n)]
    doc = {
        "run_id": TANH50.run_id,
        "attack_id": config.attack_id(TANH50.run_id),
        "config": config.model_dump(),
        "threat_model": config.norm,  # what the store writes (checked on load)
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
    if independent is not None:
        doc["surrogate"] = {
            "run_id": "digits-none-T1-s",
            "arch": "digits-cnn",
            "independent": independent,
        }
    return doc


def _res(method: str, acc: float, n: int = 20, eps: float = 0.3, **cfg) -> StoredResult:
    """A stored result with accuracy `acc` at its budget (all samples clean-correct); the first
    n - acc * n samples are broken."""
    k = n - round(acc * n)
    return StoredResult.from_doc(_doc(method, list(range(k)), n=n, eps=eps, **cfg))


def _broken(method: str, broken: list[int], n: int = 100, **cfg) -> StoredResult:
    return StoredResult.from_doc(_doc(method, broken, n=n, **cfg))


def _check(name: str, results, budget=BUDGET, **kw) -> dg.Check:
    ev = dg.evidence_of(results, budget, **kw)
    return dg.CHECKS.get(name).run(ev, dg.THRESHOLDS)


HEALTHY = {
    "output": {"zero_frac": 0.0, "median_norm": 0.2},
    "logits": {"zero_frac": 0.0, "median_norm": 0.1},
}
MASKED = {
    "output": {"zero_frac": 0.9, "median_norm": 0.0},
    "logits": {"zero_frac": 0.0, "median_norm": 0.1},
}
UNSATURATED = {"at_bound_frac": 0.0, "tie_frac": 0.0}


# ---- worst case ----------------------------------------------------------------------------------
def test_worst_case_counts_disjoint_breaks_of_two_attacks_through_the_store(trained_ws):
    rec = trained_ws.load_record(TANH50.run_id)
    pgd = _doc("pgd", [0, 1], clean_wrong=(5,))
    square = _doc("square", [2, 3], clean_wrong=(5,))
    # a skip-mode mask must not disturb the AND
    square["per_sample"]["attacked"] = [True] * 5 + [False]
    for d in (pgd, square):
        trained_ws.save_result(rec.run_id, d)
    (wc,) = worst_cases(trained_ws, rec)
    assert (wc.threat, wc.eps, wc.n_samples) == ("Linf", 0.3, 6)
    # each attack alone leaves 4/6
    assert wc.robust.tolist() == [False, False, False, False, True, False]
    assert wc.robust_acc == pytest.approx(1 / 6)
    assert wc.breaks == {"pgd": 2, "square": 2}


def test_min_norm_attack_breaks_only_within_the_budget():
    pgd = StoredResult.from_doc(_doc("pgd", [0]))
    cw_small = StoredResult.from_doc(_doc("cw", [1], size=0.2))  # linf 0.2 <= 0.3: counts
    cw_large = StoredResult.from_doc(_doc("cw", [2], size=0.5))  # linf 0.5 > 0.3: does not
    wc = worst_case([pgd, cw_small, cw_large], "r", 1.0, "Linf", 0.3)
    assert wc.robust.tolist() == [False, False, True, True, True, True]
    # under L2 the stored l2 (3 x linf here) decides: 0.6 and 1.5 against eps 1.0
    l2 = worst_case([cw_small, cw_large], "r", 1.0, "L2", 1.0)
    assert l2.robust.tolist() == [True, False] + [True] * 4


def test_worst_case_uses_the_samples_all_attacks_saw():
    long = StoredResult.from_doc(_doc("pgd", [0], n=6))
    short = StoredResult.from_doc(_doc("fgsm", [1], n=3))
    wc = worst_case([long, short], "r", 1.0, "Linf", 0.3)
    assert wc.n_samples == 3 and wc.robust.tolist() == [False, False, True]
    # one break each on the shared samples: a tie, so both are named (issue 13, point 6)
    assert wc.top_attacks == ["pgd", "fgsm"] and wc.top_attack == "pgd = fgsm"
    assert wc.mixed and wc.coverage == {"pgd ε=0.3": 6, "fgsm ε=0.3": 3}


def test_an_attack_at_another_budget_does_not_leak_into_this_one():
    """Issue 24: `attack --method pgd --eps 8 --n-samples 10` shrank a model's eps 0.3 worst case
    to those 10 samples, and its coverage listed attacks of every eps. Only attacks that count at
    a budget (that eps or smaller in its norm, or minimum-norm) enter its worst case."""
    at_03 = StoredResult.from_doc(_doc("pgd", [0, 1], n=100))
    at_01 = StoredResult.from_doc(_doc("fgsm", [2], n=100, eps=0.1))  # counts at 0.3
    huge = StoredResult.from_doc(
        _doc("pgd", list(range(10)), n=10, eps=1.0)
    )  # the largest Linf budget
    l2 = StoredResult.from_doc(_doc("pgdl2", [3], n=10, eps=2.0))
    wc = worst_case([at_03, at_01, huge, l2], "r", 1.0, "Linf", 0.3)
    assert wc.n_samples == 100 and wc.robust_acc == pytest.approx(0.97)
    assert wc.coverage == {"pgd ε=0.3": 100, "fgsm ε=0.1": 100}
    # the larger budget has its own worst case, on its own samples
    assert worst_case([at_03, huge], "r", 1.0, "Linf", 1.0).n_samples == 10


# ---- each check fires and does not fire ----------------------------------------------------------
def test_gradient_and_saturation_checks():
    masked = _check("zero gradients", [], gradients=MASKED)
    assert masked.fired and "0.90" in masked.evidence
    assert _check("zero gradients", [], gradients=HEALTHY).fired is False
    assert _check("zero gradients", []).fired is None
    sat = {"at_bound_frac": 0.8, "tie_frac": 0.0}
    assert _check("saturated outputs", [], saturation=sat).fired
    assert _check("saturated outputs", [], saturation=UNSATURATED).fired is False
    no_bound = {"at_bound_frac": None, "tie_frac": 0.0}  # act none
    assert _check("saturated outputs", [], saturation=no_bound).fired is False
    assert _check("argmax ties", [], saturation={"at_bound_frac": 0.8, "tie_frac": 0.2}).fired
    assert _check("argmax ties", [], saturation=sat).fired is False


def test_single_step_beats_iterative():
    name = "single-step beats iterative"
    assert _check(name, [_res("fgsm", 0.4), _res("pgd", 0.9)]).fired
    assert _check(name, [_res("fgsm", 0.9), _res("pgd", 0.4)]).fired is False
    assert _check(name, [_res("pgd", 0.4)]).fired is None


def test_black_box_needs_a_query_budget_that_counts():
    name = "black-box beats white-box"
    q = {"params": {"n_queries": 1000}}
    check = _check(name, [_res("square", 0.25, **q), _res("pgd", 0.85)])
    assert check.fired and "0.250" in check.evidence and "0.850" in check.evidence
    assert _check(name, [_res("square", 0.3, **q), _res("pgd", 0.0)]).fired is False
    # 500 queries: a Square that cannot show much; not measured, and the fix names the budget
    few = _check(name, [_res("square", 0.3, params={"n_queries": 500}), _res("pgd", 0.0)])
    assert few.fired is None and "500 queries, fewer than the 1000" in few.evidence
    assert "--method square --param n_queries=1000" in few.complete
    # a transfer attack is not a query-based black-box attack
    assert _check(name, [_res("transfer", 0.0, independent=True), _res("pgd", 0.9)]).fired is None


def test_transfer_counts_only_from_an_independent_surrogate():
    name = "transfer beats white-box"
    assert _check(name, [_res("transfer", 0.0, independent=True), _res("pgd", 0.9)]).fired
    assert _check(name, [_res("transfer", 0.9, independent=True), _res("pgd", 0.9)]).fired is False
    own = _check(name, [_res("transfer", 0.9, independent=False), _res("pgd", 0.9)])
    assert own.fired is None and "not independent" in own.evidence
    assert "--method transfer" in own.complete
    # a result stored before surrogates were recorded
    assert _check(name, [_res("transfer", 0.9), _res("pgd", 0.9)]).fired is None


def test_logit_attack_beats_output_attack():
    name = "logit attack beats output attack"
    assert _check(name, [_res("pgd", 0.0, on="logits"), _res("pgd", 0.9)]).fired
    assert _check(name, [_res("pgd", 0.0, on="logits"), _res("pgd", 0.0)]).fired is False


def test_large_eps():
    name = "no success at large eps"
    assert _check(name, [_res("pgd", 0.3, eps=1.0)]).fired
    assert _check(name, [_res("pgd", 0.0, eps=1.0)]).fired is False
    assert _check(name, [_res("pgd", 0.3)]).fired is None


def test_monotone_in_eps():
    name = "accuracy not monotone in eps"
    assert _check(name, [_res("pgd", 0.5, eps=0.1), _res("pgd", 0.7, eps=0.3)]).fired
    assert _check(name, [_res("pgd", 0.7, eps=0.1), _res("pgd", 0.5, eps=0.3)]).fired is False
    assert _check(name, [_res("pgd", 0.5)]).fired is None


def test_restarts():
    name = "results change with restarts"
    # 200 samples: seed 0 breaks 10, seed 1 breaks 30 others that no other attack breaks (p < 1e-6,
    # 0.150 of the clean-correct samples); a second seed that agrees with the first never fires
    a = _broken("pgd", list(range(10)), n=200)
    b = _broken("pgd", list(range(10, 40)), n=200, seed=1)
    same = _broken("pgd", list(range(10)), n=200, seed=1)
    check = _check(name, [a, b])
    assert check.fired and check.numbers["only_second_seed"] == 30
    assert check.numbers["drop_frac"] == pytest.approx(0.15)
    assert _check(name, [a, same]).fired is False
    assert _check(name, [a]).fired is None


def test_restarts_ignore_seed_variance_on_samples_other_attacks_break():
    # PGD's ordinary variance near the boundary (the PGD-AT control: 9 of 200 samples flip between
    # seeds, in both directions): every sample seed 1 breaks that seed 0 misses, APGD already
    # breaks, so the second start finds nothing the other attacks missed
    name = "results change with restarts"
    apgd = _broken("apgd", list(range(60)), n=200)
    seed0 = _broken("pgd", list(range(50)) + [60, 61, 62], n=200)
    seed1 = _broken("pgd", list(range(56)), n=200, seed=1)
    check = _check(name, [apgd, seed0, seed1])
    assert check.fired is False
    assert check.numbers["only_second_seed"] == 0 and "0 of 200" in check.evidence
    # a few samples only the second seed breaks: neither significant (4 discordant, p = 0.125) nor
    # above the threshold (0.020 of the clean-correct samples)
    seed1_few = _broken("pgd", list(range(56)) + [70, 71, 72, 73], n=200, seed=1)
    check = _check(name, [apgd, seed0, seed1_few])
    assert check.fired is False and check.numbers["only_second_seed"] == 4
    assert "p = 0.125" in check.evidence and "n=200" in check.evidence
    # significant (8 discordant, p = 0.008) but a 2-point drop on the 397 test images: below the
    # threshold
    all0 = _broken("pgd", list(range(50)), n=397)
    all1 = _broken("pgd", list(range(58)), n=397, seed=1)
    check = _check(name, [all0, all1])
    assert check.numbers["p_value"] < 0.05 and check.fired is False
    assert check.numbers["drop_frac"] == pytest.approx(8 / 397)


def test_restarts_fire_when_the_second_seed_breaks_what_no_other_attack_breaks():
    # masking: where PGD starts decides whether it gets anywhere, so the second start breaks 40
    # samples that APGD, FGSM and the first start all missed
    name = "results change with restarts"
    apgd = _broken("apgd", list(range(20)), n=200)
    fgsm = _broken("fgsm", list(range(15)), n=200)
    seed0 = _broken("pgd", list(range(20)), n=200)
    seed1 = _broken("pgd", list(range(20, 60)), n=200, seed=1)
    check = _check(name, [apgd, fgsm, seed0, seed1])
    assert check.fired and check.numbers["only_second_seed"] == 40
    assert "40 of 200" in check.evidence and "n=200" in check.evidence
    assert "p < 1e-6" in check.evidence
    assert check.numbers["acc_without"] == pytest.approx(0.9)
    assert check.numbers["acc_with"] == pytest.approx(0.7)


def _reference(broken: list[int], n: int = 100, same: bool = False) -> dg.Reference:
    from hotbench.config import TrainConfig

    cfg = TrainConfig(dataset="digits", act="none", temp=1)
    ref = dg.Reference(cfg.run_id, cfg, same)
    if not same:
        ref.worst = worst_case([_broken("pgd", broken, n=n)], cfg.run_id, 1.0, *BUDGET)
    return ref


def test_the_undefended_reference_check():
    """ "robust" needs the worst case significantly above the undefended reference's on shared
    samples (exact McNemar): a threshold alone means nothing (an undefended digits CNN keeps 0.495
    at eps 0.1)."""
    name = "no better than undefended"
    target = [_broken("pgd", list(range(40)))]  # 0.60
    above = _check(name, target, reference=_reference(list(range(90))))  # 0.10
    assert above.fired is False and "significantly above" in above.evidence
    assert "0.600 vs 0.100" in above.evidence
    level = _check(name, target, reference=_reference(list(range(38))))  # 0.62
    assert level.fired and level.effect == "not robust"
    assert _check(name, target, reference=_reference([], same=True)).fired
    missing = dg.Reference("digits-none-T1-x", _reference([]).config, False, missing="not trained")
    gone = _check(name, target, reference=missing)
    assert gone.fired is None and "no undefended reference: not trained" in gone.evidence
    assert gone.complete.startswith("hotbench diagnose --run")
    # more than 5 points above but on 10 samples: too few to tell, and the fix asks for more
    few = _check(
        name,
        [_broken("pgd", [0, 1, 2], n=10)],
        reference=_reference([0, 1, 2, 3, 4], n=10),
    )
    assert few.fired is None and "too few samples" in few.evidence
    assert "--complete --n-samples 40" in few.complete


# ---- the two-axis rule ---------------------------------------------------------------------------
SQUARE = {"params": {"n_queries": 1000}}


def _complete_evidence(results, reference=None, gradients=HEALTHY, sat=UNSATURATED):
    """Everything "robust" requires, around the given attack results at eps 0.3 on 100 samples."""
    extra = [_broken("pgd", list(range(100)), eps=1.0)]  # the large-eps probe breaks everything
    return dg.evidence_of(
        results + extra,
        BUDGET,
        dg.Where("r", 1.0, 0.3, 100, 397),
        gradients,
        sat,
        reference if reference is not None else _reference(list(range(95))),
    )


def test_robust_needs_every_required_check_measured_and_clear():
    attacks = [
        _broken("pgd", list(range(30))),
        _broken("pgd", list(range(30)), on="logits"),
        _broken("square", list(range(25)), **SQUARE),
        _broken("transfer", list(range(10)), independent=True),
    ]
    v, checks = dg.judge(_complete_evidence(attacks))
    assert (v.robustness, v.masking) == ("robust", "not detected"), v.evidence
    assert {c.name for c in checks if c.required} == set(dg.required_checks())
    assert "significantly above no defense" in "\n".join(v.evidence)
    # drop any one required attack: incomplete, and the command that completes it is named
    for i, cmd in enumerate(("--on logits", "--method square", "--method transfer")):
        v, _ = dg.judge(_complete_evidence(attacks[: i + 1] + attacks[i + 2 :]))
        assert v.robustness == "incomplete" and any(cmd in c for c in v.complete), v.evidence
    v, _ = dg.judge(_complete_evidence(attacks, gradients=None))
    assert v.robustness == "incomplete" and "not measured: zero gradients" in "\n".join(v.evidence)


def test_not_robust_below_the_threshold_or_no_better_than_undefended():
    low = [_broken("pgd", list(range(95)))]
    v, _ = dg.judge(_complete_evidence(low))
    assert v.robustness == "not robust" and "is below 0.3" in v.evidence[-1]
    # an undefended model at a small eps: its worst case clears 0.30, its reference is itself
    v, _ = dg.judge(
        _complete_evidence([_broken("pgd", list(range(50)))], _reference([], same=True))
    )
    assert v.robustness == "not robust"
    assert "no defense to credit" in v.evidence[-1]


def test_the_paper_attacks_overestimate_is_masking_detected():
    """FGSM and PGD (the paper's attacks) leave 0.820, a logit attack 0.000: masking detected, with
    the overestimate, and the robustness axis is not robust."""
    results = [
        _broken("fgsm", list(range(15))),
        _broken("pgd", list(range(18))),
        _broken("pgd", list(range(100)), on="logits"),
    ]
    v, _ = dg.judge(dg.evidence_of(results, BUDGET, gradients=MASKED))
    assert (v.robustness, v.masking) == ("not robust", "detected")
    assert (
        "the paper's attacks (fgsm, pgd) say 0.820, the worst case is 0.000"
        in v.masking_evidence[0]
    )
    assert v.overestimate["paper_acc"] == pytest.approx(0.82)
    assert v.overestimate["found_by"] == {"pgd@z": 82}
    assert any(e.startswith("zero gradients:") for e in v.masking_evidence)


def test_a_strong_adaptive_attack_cannot_hide_what_the_paper_attacks_miss():
    """Issue 24: APGD-DLR reaching the worst case used to mean "nothing is hidden" although FGSM,
    PGD, BIM and CW were fooled at 0.9. The masking comparison uses the paper's attacks only."""
    results = [
        _broken("fgsm", list(range(10))),
        _broken("pgd", list(range(10))),
        _broken("bim", list(range(10))),
        _broken("cw", list(range(10))),
        _broken("apgd", list(range(100)), params={"loss": "dlr"}),
    ]
    v, _ = dg.judge(dg.evidence_of(results, BUDGET))
    assert v.masking == "detected" and v.overestimate["paper_acc"] == pytest.approx(0.9)
    assert v.overestimate["found_by"] == {"apgd-dlr": 90}


def test_masking_not_detected_needs_a_gradient_free_attack_or_a_broken_model():
    agree = [_broken("pgd", list(range(30))), _broken("pgd", list(range(30)), on="logits")]
    v, _ = dg.judge(dg.evidence_of(agree, BUDGET))
    assert v.masking == "not measured" and any("n_queries=1000" in c for c in v.complete)
    v, _ = dg.judge(dg.evidence_of(agree + [_broken("square", list(range(30)), **SQUARE)], BUDGET))
    assert v.masking == "not detected"
    # the paper's attacks already break everything: nothing is left to hide
    broken = [_broken("pgd", list(range(100)))]
    v, _ = dg.judge(dg.evidence_of(broken, BUDGET))
    assert v.masking == "not detected" and "nothing is left to hide" in v.masking_evidence[-1]
    # no paper attack at all
    v, _ = dg.judge(dg.evidence_of([_broken("pgd", list(range(30)), on="logits")], BUDGET))
    assert v.masking == "not measured" and "--suite paper" in v.complete[-1]


def test_a_fired_masking_sign_never_allows_robust():
    attacks = [
        _broken("pgd", list(range(30))),
        _broken("pgd", list(range(30)), on="logits"),
        _broken("square", list(range(25)), **SQUARE),
        _broken("transfer", list(range(10)), independent=True),
    ]
    v, _ = dg.judge(_complete_evidence(attacks, gradients=MASKED))
    assert v.robustness == "incomplete" and "never allowed" in v.evidence[-1]


def test_the_interval_straddling_the_threshold_is_incomplete():
    attacks = [
        _broken("pgd", list(range(13)), n=20),
        _broken("pgd", list(range(13)), n=20, on="logits"),
        _broken("square", list(range(13)), n=20, **SQUARE),
        _broken("transfer", list(range(13)), n=20, independent=True),
        _broken("pgd", list(range(20)), n=20, eps=1.0),
    ]
    ref = _reference(list(range(20)), n=20)
    ev = dg.evidence_of(
        attacks, BUDGET, dg.Where("r", 1.0, 0.3, 20, 397), HEALTHY, UNSATURATED, ref
    )
    v, _ = dg.judge(ev)
    assert v.robustness == "incomplete" and "straddles 0.3" in "\n".join(v.evidence)
    assert "--complete --n-samples 80" in v.complete[0]


def test_every_check_is_one_registration():
    for name, spec in dg.CHECKS.items():
        assert spec.name == name and spec.description
        assert spec.threshold is None or hasattr(dg.THRESHOLDS, spec.threshold)
        assert spec.effect in ("masking", "not robust", "randomized")
    assert "no better than undefended" in dg.required_checks()


# ---- end to end on real models -------------------------------------------------------------------
def test_end_to_end_masked_tanh_and_plain_baseline(surrogate_ws):
    """tanh T=50 at eval T=1: zero gradients, broken by the logit attack -> not robust, masking
    detected; none T=1: not robust, masking not detected. diagnose runs the probes the checks
    need (Square, transfer from an independent surrogate, PGD at eps 1.0 and with a second seed;
    none T=1 with these epochs is tanh's undefended reference). Stored, shown by the report."""
    trained_ws = surrogate_ws
    cfg = dict(eval_temp=1.0, n_samples=40, steps=10)
    tanh = trained_ws.load_record(TANH50.run_id)
    none = trained_ws.load_record(NONE1.run_id)
    for rec in (tanh, none):
        ensure_attacked(Context(trained_ws, CPU), rec, AttackConfig(method="pgd", **cfg))
        ensure_attacked(
            Context(trained_ws, CPU), rec, AttackConfig(method="pgd", on="logits", **cfg)
        )

    doc = dg.save(trained_ws, dg.diagnose_run(Context(trained_ws, CPU), tanh, 1.0))
    assert (doc["robustness"], doc["masking"]) == ("not robust", "detected"), doc["evidence"]
    assert doc["overestimate"]["paper_acc"] > 0.5 and doc["overestimate"]["worst_acc"] <= 0.1
    assert doc["gradients"]["output"]["zero_frac"] > 0.5
    assert doc["gradients"]["logits"]["zero_frac"] < 0.05
    assert doc["undefended"]["run_id"] == NONE1.run_id
    states = {c["name"]: c["state"] for c in doc["checks"]}
    assert all(states[n] != "not measured" for n in dg.required_checks()), states
    docs = trained_ws.load_results(tanh.run_id)
    (sur,) = [d["surrogate"] for d in docs if d["config"]["method"] == "transfer"]
    assert sur["independent"] and sur["arch"] == "digits-cnn" and sur["seed"] == 1
    assert sur["weights_sha256"] == trained_ws.load_record(sur["run_id"]).weights_sha256
    # the probes diagnose ran are marked as such (the budget rule does not count them)
    probes = {d["config"]["method"] for d in docs if d["provenance"].get("probe") == "diagnose"}
    assert {"square", "transfer"} <= probes and "fgsm" not in probes
    assert dg.diagnosis_path(trained_ws, tanh.run_id, 1.0).is_file()
    assert dg.current(trained_ws, tanh, 1.0) is not None  # the probes it ran are in its inputs

    plain = dg.diagnose_run(Context(trained_ws, CPU), none, 1.0)
    assert (plain["robustness"], plain["masking"]) == ("not robust", "not detected")
    assert plain["undefended"]["same"]

    table = report_text(trained_ws, "table")
    assert "not robust" in table and "detected" in table and "not detected" in table
    assert "Linf ε=0.3" in table and " robust " in table  # the budget's panel and its worst case
    r = CliRunner().invoke(
        app, ["diagnose", "-w", str(trained_ws.root), "--no-probe", "-f", "json", "-q"]
    )
    assert r.exit_code == 0, r.output
    got = {(d["robustness"], d["masking"]) for d in json.loads(r.output)}
    assert got == {("not robust", "detected"), ("not robust", "not detected")}


def test_report_keeps_the_documented_budget_after_diagnose_at_another_eps(trained_ws):
    """Issue 24: after `diagnose --eps 0.1`, report showed the eps 0.1 verdict instead of the
    documented rule's budget (the one with the most results)."""
    rec = trained_ws.load_record(NONE1.run_id)
    ctx = Context(trained_ws, CPU)
    for method, eps in (("fgsm", 0.3), ("pgd", 0.3), ("fgsm", 0.1)):
        cfg = AttackConfig(method=method, eps=eps, eval_temp=1.0, n_samples=20, steps=5)
        ensure_attacked(ctx, rec, cfg)
    args = ["diagnose", "-w", str(trained_ws.root), "--run", NONE1.run_id, "--eps", "0.1"]
    r = CliRunner().invoke(app, [*args, "--no-probe", "-q"])
    assert r.exit_code == 0, r.output
    stored = json.loads(dg.diagnosis_path(trained_ws, NONE1.run_id, 1.0).read_text())
    assert stored["budget"]["eps"] == 0.1
    r = CliRunner().invoke(app, ["report", "-w", str(trained_ws.root), "-f", "json", "-o", "-"])
    (v,) = json.loads(r.stdout)["verdicts"]
    assert v["budget"] == {"threat_model": "Linf", "eps": 0.3}


def test_the_probes_diagnose_runs_do_not_move_the_budget():
    """diagnose --eps 0.1 runs up to six probes at 0.1: counted, they would outnumber the two
    attacks a user ran at 0.3 and move every later verdict to 0.1."""
    th = dg.THRESHOLDS
    asked = [_res("fgsm", 0.5), _res("pgd", 0.4)]
    probes = [_res(m, 0.9, eps=0.1, seed=s) for m, s in (("pgd", 0), ("pgd", 1), ("square", 0))]
    for r in probes:
        r.doc["provenance"]["probe"] = "diagnose"
    assert dg.reference_budget(asked + probes, th) == ("Linf", 0.3)
    for r in probes:
        del r.doc["provenance"]["probe"]
    assert dg.reference_budget(asked + probes, th) == ("Linf", 0.1)


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
    assert g["output"]["zero_frac"] > 0.5
    assert g["logits"]["zero_frac"] < 0.05 and g["logits"]["median_norm"] > 0
    # at its own T: alive
    assert dg.gradient_health(tanh, test.x, test.y, 50.0)["output"]["zero_frac"] < 0.05
    assert dg.gradient_health(none, test.x, test.y, 1.0)["output"]["zero_frac"] < 0.05
    sat = dg.saturation(tanh, test.x, 1.0)
    assert sat["at_bound_frac"] > 0.5
    assert dg.saturation(none, test.x, 1.0) == {"at_bound_frac": None, "tie_frac": 0.0}
    assert np.isfinite(g["output"]["median_norm"])


def test_an_adversarially_trained_model_is_judged_at_its_training_eps():
    """The budget with the most results decides for an undefended or temperature model (ties: the
    larger eps), but a PGD-AT model trained at eps 0.1 claims robustness at 0.1 only: with more
    results at 0.3 (where it is broken like any model) its verdict still speaks about 0.1, where
    it was attacked. Before, a preset with its masking checks at 0.3 called it not robust there."""
    th = dg.THRESHOLDS
    results = [_res(m, 0.9, eps=0.1) for m in ("fgsm", "pgd")] + [
        _res(m, 0.0, eps=0.3) for m in ("fgsm", "pgd", "square")
    ]
    assert dg.reference_budget(results, th) == ("Linf", 0.3)
    assert dg.reference_budget(results, th, train_eps=0.1) == ("Linf", 0.1)
    # never a budget it was not attacked at
    assert dg.reference_budget(results, th, train_eps=0.2) == ("Linf", 0.3)
    # a tie in count goes to the larger eps
    tie = [_res("pgd", 0.9, eps=0.1), _res("pgd", 0.0, eps=0.3)]
    assert dg.reference_budget(tie, th) == ("Linf", 0.3)
