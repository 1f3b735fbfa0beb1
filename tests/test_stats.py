"""hotbench.stats: integer-count fractions, Wilson intervals, exact McNemar, the gate's auto
tolerance (property-based, with hypothesis)."""

from __future__ import annotations

import math

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


def test_fmt_acc_is_compact_and_covers_the_interval():
    lo, hi = stats.interval(257, 300)
    text = stats.fmt_acc(stats.frac(257, 300), (lo, hi))
    value, pm = text.split(" ±")
    assert value == "0.857" and float(pm) >= max(257 / 300 - lo, hi - 257 / 300)
    assert stats.fmt_acc(257 / 300, (lo, hi), 300, show_n=True).endswith(" n=300")
    assert stats.fmt_acc(-0.0) == "0.000" and stats.fmt_acc(None) == "-"
    assert stats.fmt_acc(float("nan")) == "-"


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
