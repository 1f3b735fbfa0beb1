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


# ---- the interval over samples and a randomized model's draws (docs/results-schema.md) ----------
@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_formula_is_scipys_on_integer_counts(kn):
    k, n = kn
    assert stats.wilson(k / n, n) == pytest.approx(stats.interval(k, n), abs=1e-9)


@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_draws_interval_with_one_draw_is_todays_wilson(outcomes):
    y = np.asarray(outcomes)[:, None]
    assert stats.draws_interval(y) == stats.interval(int(y.sum()), y.shape[0])


@given(st.lists(st.booleans(), min_size=2, max_size=200), st.integers(2, 32))
def test_identical_draws_add_nothing_to_the_sample_size(outcomes, m):
    """Draws that always agree (a deterministic model measured m times): the interval is the one
    of the n samples alone."""
    y = np.repeat(np.asarray(outcomes)[:, None], m, axis=1)
    assert stats.variance_shares(y) == (1.0, 0.0)
    assert stats.effective_n(y) == pytest.approx(len(outcomes))
    k, n = int(np.sum(outcomes)), len(outcomes)
    assert stats.draws_interval(y) == pytest.approx(stats.interval(k, n), abs=1e-9)


def test_independent_draws_count_as_samples():
    """Draws as independent as samples (every sample the same coin): n_eff is close to n * m."""
    y = np.random.default_rng(0).random((400, 16)) < 0.7
    assert max(stats.variance_shares(y)) < 0.02
    assert stats.effective_n(y) > 0.85 * y.size
    lo, hi = stats.draws_interval(y)
    assert lo < y.mean() < hi and hi - lo < 0.03


def test_draws_interval_covers_the_expected_accuracy_at_its_level():
    """Coverage by simulation: samples with per-sample accuracies from a Beta (between-sample
    spread) and draws from Bernoulli(p_i); the 95% interval holds the true mean about 95% of the
    time (a normal-approximation interval on n * m independent draws would fall far short)."""
    rng = np.random.default_rng(1)
    a, b, n, m, trials = 1.5, 0.8, 120, 16, 600
    truth = a / (a + b)
    hits = naive_hits = 0
    for _ in range(trials):
        p = rng.beta(a, b, n)
        y = rng.random((n, m)) < p[:, None]
        lo, hi = stats.draws_interval(y)
        hits += lo <= truth <= hi
        nlo, nhi = stats.interval(int(y.sum()), y.size)  # ignores that draws share a sample
        naive_hits += nlo <= truth <= nhi
    assert 0.92 <= hits / trials <= 0.98
    assert naive_hits / trials < 0.75


def test_draws_interval_covers_a_transform_shared_by_the_batch():
    """A defense that draws one transform per forward pass (a random resize for the whole batch):
    a draw moves every sample at once. The interval still holds the true mean at its level,
    where a model of per-sample noise only (Kish's n m / (1 + (m - 1) icc)) falls short."""
    rng = np.random.default_rng(2)
    n, m, trials = 150, 16, 600
    hits = per_sample_hits = 0
    for _ in range(trials):
        ability = rng.normal(1.0, 1.0, n)[:, None]  # sample effect
        draw = rng.normal(0.0, 0.6, m)[None, :]  # the transform each draw shares
        truth = None
        y = rng.random((n, m)) < 1 / (1 + np.exp(-(ability + draw)))
        # the true expected accuracy of these samples over all draws
        grid = rng.normal(0.0, 0.6, 4000)[None, :]
        truth = float((1 / (1 + np.exp(-(ability + grid)))).mean())
        lo, hi = stats.draws_interval(y)
        hits += lo <= truth <= hi
        one_way = _kish_interval(y)
        per_sample_hits += one_way[0] <= truth <= one_way[1]
    assert 0.92 <= hits / trials <= 0.985
    assert per_sample_hits / trials < 0.88


def _kish_interval(y: np.ndarray) -> tuple[float, float]:
    """The design effect of per-sample noise alone (one-way ANOVA intra-class correlation)."""
    n, m = y.shape
    f = y.astype(float)
    rows = f.mean(1)
    msb = m * ((rows - f.mean()) ** 2).sum() / (n - 1)
    msw = ((f - rows[:, None]) ** 2).sum() / (n * (m - 1))
    icc = min(1.0, max(0.0, (msb - msw) / (msb + (m - 1) * msw)))
    return stats.wilson(float(f.mean()), n * m / (1 + (m - 1) * icc))


def test_draws_interval_stays_in_unit_range_at_the_edges():
    for y in (np.zeros((50, 8), bool), np.ones((50, 8), bool)):
        lo, hi = stats.draws_interval(y)
        assert 0.0 <= lo < hi <= 1.0


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=200))
def test_sign_test_on_one_draw_is_mcnemar(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    exact, sign = stats.mcnemar(a, b), stats.sign_test(a.astype(float), b.astype(float))
    assert (sign.a_only_broken, sign.b_only_broken, sign.p_value) == (
        exact.a_only_broken,
        exact.b_only_broken,
        exact.p_value,
    )
    assert sign.a_acc == pytest.approx(exact.a_acc) and sign.b_acc == pytest.approx(exact.b_acc)


def test_sign_test_on_expected_accuracies():
    """Per-sample accuracies over draws: A lower on 30 samples, higher on none, equal elsewhere:
    significant; the means are the exact ones, not the rounded counts."""
    a = np.r_[np.full(30, 0.25), np.full(70, 0.5)]
    b = np.r_[np.full(30, 0.75), np.full(70, 0.5)]
    t = stats.sign_test(a, b)
    assert (t.a_only_broken, t.b_only_broken, t.n) == (30, 0, 100)
    assert t.p_value < 1e-6
    assert t.a_acc == pytest.approx(0.425) and t.b_acc == pytest.approx(0.575)
