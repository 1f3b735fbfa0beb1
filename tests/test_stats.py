"""hotbench.stats: integer-count fractions, Wilson intervals, exact McNemar, the gate's auto
tolerance (property-based, with hypothesis)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from hotbench import stats


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_interval_holds_the_estimate_and_stays_in_unit_range(kn):
    k, n = kn
    lo, hi = stats.interval(k, n)
    p = stats.frac(k, n)
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert hi - lo > 0  # never zero width, even at 0/n or n/n
    assert math.copysign(1, p) == 1  # never -0.0


def test_interval_is_scipys_wilson():
    ci = binomtest(427, 500).proportion_ci(method="wilson")
    assert stats.interval(427, 500) == pytest.approx((ci.low, ci.high))
    assert stats.INTERVAL_METHOD == "wilson"


INTERVAL = re.compile(r"^(\d\.\d{3}) \[(0|1|\.\d\d),(0|1|\.\d\d)\]$")


def _bound(text: str) -> float:
    return float(text) if text in ("0", "1") else float("0" + text)


@given(st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_no_printed_bound_leaves_the_unit_range(kn):
    """Every accuracy prints as `value [low,high]`: bounds in [0, 1] rounded outward (so the
    printed interval covers Wilson's), the value inside them, and no form that reads as a
    negative accuracy (`0.000 ±0.435` read as [-0.435, 0.435])."""
    k, n = kn
    lo, hi = stats.interval(k, n)
    text = stats.fmt_acc(stats.frac(k, n), (lo, hi))
    m = INTERVAL.match(text)
    assert m is not None, text
    value, low, high = float(m[1]), _bound(m[2]), _bound(m[3])
    assert 0.0 <= low <= high <= 1.0
    assert low <= lo + 1e-9 and high >= hi - 1e-9  # covers the interval
    assert low <= value <= high
    assert "±" not in text and "-" not in text


def test_fmt_acc_is_compact():
    assert stats.fmt_acc(0.0, stats.interval(0, 100)) == "0.000 [0,.04]"
    assert stats.fmt_acc(1.0, stats.interval(100, 100)) == "1.000 [.96,1]"
    assert stats.fmt_acc(0.857, stats.interval(257, 300)) == "0.857 [.81,.90]"
    assert stats.fmt_acc(0.857, stats.interval(257, 300), 300, show_n=True).endswith(" n=300")
    assert stats.fmt_acc(-0.0) == "0.000" and stats.fmt_acc(None) == "-"
    assert stats.fmt_acc(float("nan")) == "-"
    assert stats.fmt_acc(0.5, (float("nan"), float("nan"))) == "0.500"


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=300))
def test_mcnemar_counts_the_discordant_pairs_and_is_symmetric(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    t = stats.mcnemar(a, b)
    assert t.a_only_broken == int((~a & b).sum()) and t.b_only_broken == int((a & ~b).sum())
    assert t.a_correct == int(a.sum()) and t.n == len(pairs)
    assert 0 <= t.p_value <= 1
    assert stats.mcnemar(b, a).p_value == pytest.approx(t.p_value)
    if t.discordant == 0:
        assert t.p_value == 1.0


def test_mcnemar_on_a_large_one_sided_difference():
    a = np.zeros(500, dtype=bool)  # the logit attack breaks everything
    b = np.ones(500, dtype=bool)
    b[:73] = False  # the output attack breaks 73
    t = stats.mcnemar(a, b)
    assert t.discordant == 427 and t.p_value < 1e-6 and stats.fmt_p(t.p_value) == "p < 1e-6"


@given(st.integers(1, 5000), st.integers(1, 5000))
def test_auto_tolerance_shrinks_with_n(n_a, n_b):
    d = stats.diff_allowed(n_a, n_b)
    assert 0 < d <= stats.diff_allowed(1, 1)
    assert stats.diff_allowed(n_a * 4, n_b * 4) == pytest.approx(d / 2)


def test_mean_spread():
    assert stats.mean_spread([0.8, 0.9, 1.0]) == pytest.approx((0.9, 0.1))
    assert stats.mean_spread([0.5]) == (0.5, 0.0)
