"""Outcomes of a randomized model over its random draws: the defaults hotbench evaluates such a
model with, and the compact form results store (numpy only: reports read it without torch).

A randomized model (noise at the input, random resizing and padding, dropout at inference) gives a
sample a different class on different forward passes, so one pass says little: its accuracy on an
input is a probability over the model's draws. hotbench therefore evaluates every sample of such a
model on `draws` passes whose randomness is fixed per draw (common random numbers: draw j of sample
i is the same noise whichever attack produced the input, attacks.randomized), and stores, per
sample, one bit per draw: set where the deployed model classified it correctly on that draw. The
expected accuracy is the mean over samples and draws; its interval accounts for both
(stats.draws_interval).

Why these defaults (measured on two digits models, Gaussian input noise and a random
resize-and-pad, with PGD over 150 samples and 32 draws: docs/randomized.md):
- DEFAULT_EOT = 8 forward passes averaged per query (Expectation over Transformation, Athalye et
  al. 2018): doubling K lowered PGD's expected accuracy up to 8 (by 0.019 and 0.028 in all over
  K = 1) and 16 added nothing (+0.004 on both), at twice the cost;
- DEFAULT_DRAWS = 16 draws per reported sample: the interval's width at 16 draws is within 1% and
  6% of its width at 32, for 2 x 16 forward passes per sample;
- SELECT_DRAWS = 8 separate draws choose each sample's point among the clean input, the attack's
  first success and its final point: the reported draws never take part in the choice, so the
  chosen point's reported accuracy is not biased by selecting on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_EOT = 8
DEFAULT_DRAWS = 16
SELECT_DRAWS = 8
MAX_DRAWS = 64  # one bit per draw in a 64-bit integer per sample
MAX_EOT = 1024
# Forward passes of the same clean inputs that decide whether a model is randomized (the issue that
# found the problem counted class changes over 10).
DETECT_PASSES = 10


def pack(correct: np.ndarray) -> list[int]:
    """Per sample (rows of a [n, m] boolean array), an integer whose bit j is draw j's outcome."""
    c = np.asarray(correct, dtype=bool)
    if c.ndim != 2 or c.shape[1] > MAX_DRAWS:
        raise ValueError(f"expected [n, m <= {MAX_DRAWS}] outcomes, got shape {c.shape}")
    weights = np.left_shift(np.uint64(1), np.arange(c.shape[1], dtype=np.uint64))
    return [int(v) for v in (c.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)]


def unpack(masks: Sequence[int], draws: int) -> np.ndarray:
    """The [n, draws] boolean outcomes that `pack` stored."""
    if not 1 <= draws <= MAX_DRAWS:
        raise ValueError(f"draws must be in 1..{MAX_DRAWS}, got {draws}")
    v = np.asarray([int(x) for x in masks], dtype=np.uint64).reshape(-1, 1)
    bits = np.right_shift(v, np.arange(draws, dtype=np.uint64)) & np.uint64(1)
    return bits.astype(bool)


def draws_of(doc: dict[str, Any]) -> int:
    """How many draws a stored result evaluated each sample on (1: a deterministic model)."""
    r = doc.get("randomness") or {}
    return int(r.get("draws", 1)) if r.get("randomized") else 1


def outcomes(doc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(clean, adversarial) correctness of a stored result per sample and draw, [n, m] each: from
    the bits of a randomized model's result, else the one pass of clean_pred / adv_pred (m = 1)."""
    ps = doc["per_sample"]
    m = draws_of(doc)
    if m > 1 or "adv_draws" in ps:
        return unpack(ps["clean_draws"], m), unpack(ps["adv_draws"], m)
    label = np.asarray(ps["label"])
    clean = np.asarray(ps["clean_pred"]) == label
    adv = np.asarray(ps["adv_pred"]) == label
    return clean[:, None], adv[:, None]
