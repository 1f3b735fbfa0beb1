"""Every threshold of the diagnosis, in one place, each with the reason for its value. A check
fires when its number crosses its threshold (CheckSpec.threshold names the field it is held to)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    # Fraction of inputs whose output gradient is exactly 0. AutoAttack warns at any zero gradient;
    # 1% leaves room for a few inputs that a plain classifier saturates in float32.
    zero_grad: float = 0.01
    # Fraction of output entries exactly at the activation's bound (tanh: +-1.0): the output cannot
    # move.
    saturated: float = 0.10
    # Fraction of clean predictions decided by an argmax tie among saturated outputs.
    ties: float = 0.01
    # Accuracy gap that counts as "attack A beats attack B" (single-step vs iterative, black-box or
    # transfer vs white-box on the output, logits vs output), as "the paper's attacks overestimate
    # the worst case" (masking detected) and as "above the undefended reference", on shared samples.
    # 5 points: smaller gaps do not change what a reader concludes. It applies together with an
    # exact McNemar test at stats.ALPHA, so on a few dozen samples a 5-point gap alone never fires.
    beats: float = 0.05
    # Linf budget at which any image can be turned into any other (inputs live in [0, 1]) ...
    large_eps: float = 1.0
    # ... so a working gradient attack must leave at most this accuracy there.
    large_eps_acc: float = 0.05
    # An accuracy this much higher at a larger eps than at a smaller one (same attack) is
    # non-monotone.
    monotone: float = 0.02
    # Fraction of clean-correct samples that a second random restart (seed) of PGD breaks and no
    # other attack at the budget breaks (the drop it causes in the worst case). It applies together
    # with an exact McNemar test at stats.ALPHA, so PGD's ordinary seed-to-seed variance on samples
    # that other attacks already break never fires it.
    restarts: float = 0.03
    # Worst-case accuracy at the reference eps from which a model is called robust; applied to the
    # 95% interval (robust: its lower end >= this; not robust: its upper end < this).
    robust_acc: float = 0.30
    # Queries a query-based black-box attack (Square) needs before "robust" counts it. Measured on
    # the zoo's digits models at Linf 0.15, 100 samples (docs/zoo.md, "Square's query budget"): from
    # 1,000 queries on, every model's Square accuracy is within 0.02 of its accuracy at 3,000
    # queries (thermometer 0.200 vs 0.180, undefended 0.210 vs 0.220, PGD-AT 0.610 vs 0.610), where
    # 300 queries still leave up to 0.04 more (PGD-AT 0.650, the wrong-gradient network 0.250 vs
    # 0.210) and 100 queries up to 0.26.
    square_queries: int = 1000


THRESHOLDS = Thresholds()
