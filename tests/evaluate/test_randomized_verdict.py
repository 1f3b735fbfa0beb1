"""The verdict on a randomized model (issue 25), on constructed results over draws: the check
"randomized model", results without EOT cannot support "robust" or "masking: not detected", the
masking comparison uses the paper's attacks without EOT, comparisons are sign tests on expected
accuracies."""

from __future__ import annotations

import numpy as np

from hotbench import draws
from hotbench.evaluate import diagnose as dg
from hotbench.evaluate.worstcase import StoredResult
from tests.evaluate.test_diagnose import (
    BUDGET,
    HEALTHY,
    SQUARE,
    UNSATURATED,
    _broken,
    _doc,
    _reference,
)

N, M = 100, 16
NOISY = {"randomized": True, "changed": 0.36, "moved": 1.2, "passes": 10, "n": 100}


def _rnd(method: str, acc: np.ndarray, eot: int, **cfg) -> StoredResult:
    """A randomized model's result: sample i correct on round(acc[i] * M) of M draws (which ones
    drawn at random per sample) at the attack's point, clean-correct on every draw; every sample
    perturbed by eps."""
    doc = _doc(method, list(range(N)), n=N, **cfg)
    hits = np.round(np.asarray(acc) * M).astype(int)
    rng = np.random.default_rng(0)
    adv = np.stack([rng.permutation(np.arange(M) < h) for h in hits])
    doc["per_sample"]["clean_draws"] = draws.pack(np.ones((N, M), bool))
    doc["per_sample"]["adv_draws"] = draws.pack(adv)
    doc["randomness"] = {**NOISY, "eot": eot, "draws": M}
    return StoredResult.from_doc(doc)


def _evidence(results, randomness=NOISY) -> dg.Evidence:
    extra = [_broken("pgd", list(range(N)), eps=1.0)]  # the large-eps probe breaks everything
    ev = dg.evidence_of(
        results + extra,
        BUDGET,
        dg.Where("r", 1.0, 0.3, N, 397),
        HEALTHY,
        UNSATURATED,
        _reference(list(range(95))),
    )
    ev.randomness = randomness
    return ev


def _half(n: int = N) -> np.ndarray:
    return np.full(n, 0.5)


def test_the_randomized_model_check():
    check = dg.CHECKS.get("randomized model")
    fired = check.run(_evidence([]), dg.THRESHOLDS)
    assert fired.fired and "0.36 of predictions change between draws" in fired.evidence
    assert fired.numbers["changed"] == 0.36
    steady = {**NOISY, "randomized": False, "changed": 0.0, "moved": 0.0}
    clear = check.run(_evidence([], steady), dg.THRESHOLDS)
    assert clear.fired is False and "deterministic" in clear.evidence
    assert check.run(_evidence([], None), dg.THRESHOLDS).fired is None
    # a result that recorded a randomized model speaks when no measurement is stored
    recorded = check.run(_evidence([_rnd("pgd", _half(), 8)], None), dg.THRESHOLDS)
    assert recorded.fired


def _attacks(eot: int) -> list[StoredResult]:
    """Every attack "robust" needs, at 0.5 expected accuracy each; gradient attacks with `eot`."""
    return [
        _rnd("pgd", _half(), eot),
        _rnd("pgd", _half(), eot, on="logits"),
        _rnd("square", _half(), eot, **SQUARE),
        _broken("transfer", [], n=N, independent=True),
    ]


def test_without_eot_neither_robust_nor_masking_not_detected():
    plain = _attacks(eot=1)
    v, _ = dg.judge(_evidence(plain))
    assert v.robustness == "incomplete", v.evidence
    assert v.masking == "not measured", v.masking_evidence
    eot_cmd = dg.Where("r", 1.0, 0.3, N, 397).eot_cmd()
    assert eot_cmd in v.complete
    assert any("no gradient attack with EOT" in line for line in v.evidence)
    # with EOT results at the budget, the same accuracies complete both axes
    v, _ = dg.judge(_evidence(plain + _attacks(eot=8)[:2]))
    assert (v.robustness, v.masking) == ("robust", "not detected"), (v.evidence, v.complete)
    # the same results on a deterministic model were never held to it
    steady = {**NOISY, "randomized": False}
    v, _ = dg.judge(_evidence(plain, steady))
    assert (v.robustness, v.masking) == ("robust", "not detected")


def test_not_robust_needs_no_eot():
    """Attacks that already find the adversarial examples settle "not robust", EOT or not."""
    weak = [_rnd("pgd", np.full(N, 0.1), 1), *_attacks(eot=1)[1:]]
    v, _ = dg.judge(_evidence(weak))
    assert v.robustness == "not robust"


def test_masking_compares_the_paper_attacks_without_eot():
    """The authors' evaluation of a randomized defense (plain PGD, --eot 1) says 0.875; EOT-PGD
    finds 0.125: masking detected, by the sign test on per-sample expected accuracies."""
    results = [
        _rnd("pgd", np.full(N, 14 / M), 1),
        _rnd("pgd", np.full(N, 2 / M), 8),
        *_attacks(eot=8)[2:],
    ]
    v, _ = dg.judge(_evidence(results))
    assert v.masking == "detected", v.masking_evidence
    o = v.overestimate
    assert abs(o["paper_acc"] - 0.875) < 1e-9 and abs(o["worst_acc"] - 0.125) < 1e-9
    assert o["discordant"] == N and o["p_value"] < 1e-6
    # without a plain paper attack, the masking axis names the command that runs one
    v, _ = dg.judge(_evidence(results[1:]))
    assert v.masking == "not measured" and any("--eot 1" in c for c in v.complete)
