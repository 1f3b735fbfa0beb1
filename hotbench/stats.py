"""The statistics behind every number hotbench reports: fractions from integer counts, 95%
intervals, and the paired test that decides whether one attack beats another.

Why these choices:
- Intervals are **Wilson score** intervals
  (scipy.stats.binomtest(...).proportion_ci(method="wilson")).
  Accuracies near 0 and 1 are common here (a broken model, a masked one), where the normal
  approximation gives intervals outside [0, 1] and zero width at 0/n; Wilson stays inside [0, 1],
  has a non-zero width at k = 0 or k = n, and is close to nominal coverage for the n of a few
  hundred hotbench uses (Clopper-Pearson is more conservative than needed).
- "Attack A beats attack B" is a statement about the *same* samples, so it is tested with an exact
  McNemar test on the paired per-sample outcomes (scipy.stats.binomtest on the discordant pairs),
  not by comparing two accuracies as if they were independent. The check fires only when the
  difference is both significant (p < ALPHA) and large enough to matter (the effect-size threshold).
- Every fraction is `k / n` of integers, so a count of zero prints as 0.000, never -0.000, and
  fractions that should add up do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# scipy.stats is imported by the functions that compute (interval, mcnemar, diff_allowed): its
# import takes a second or more, which `hotbench --help` and a bad option must not pay (issue 15).
# A report on a measured workspace pays it once (about 1 s of its 1.7 s under load); hand-written
# copies of the three formulas saved that second but would be statistics code of our own to keep
# right, where scipy's is the reference.

CONFIDENCE = 0.95
INTERVAL_METHOD = "wilson"
# A randomized model's expected accuracy over samples and draws (`draws_interval`).
DRAWS_INTERVAL_METHOD = "wilson-design-effect"
# Significance level of the McNemar test behind every "A beats B" check.
ALPHA = 0.05


def frac(k: int, n: int) -> float:
    """k / n from integer counts (NaN when n == 0); never -0.0."""
    k, n = int(k), int(n)
    if n <= 0:
        return float("nan")
    return k / n + 0.0


def interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials (NaN, NaN when n == 0)."""
    k, n = int(k), int(n)
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"k={k} is not in [0, n={n}]")
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method=INTERVAL_METHOD)
    return max(0.0, float(ci.low)) + 0.0, min(1.0, float(ci.high)) + 0.0


def fmt_bound(bound: float, up: bool) -> str:
    """An interval bound for people: rounded outward to 2 decimals (down for the low bound, up for
    the high one, so the printed interval covers the computed one), clipped to [0, 1], without the
    leading zero (`.82`); exactly 0 and 1 as `0` and `1`."""
    scaled = bound * 100
    cents = math.ceil(scaled - 1e-9) if up else math.floor(scaled + 1e-9)
    cents = min(max(cents, 0), 100)
    return "0" if cents == 0 else "1" if cents == 100 else f".{cents:02d}"


def wilson(p: float, n: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion p observed on n trials, n not necessarily an
    integer (the design-effect sample size of `draws_interval`). On integers it is
    `interval(k, n)`'s formula (tests/test_stats.py checks them against each other)."""
    if n <= 0 or math.isnan(p):
        return float("nan"), float("nan")
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(max(p * (1 - p), 0.0) / n + z2 / (4 * n * n))
    return max(0.0, centre - half) + 0.0, min(1.0, centre + half) + 0.0


def variance_shares(correct: np.ndarray) -> tuple[float, float]:
    """The shares of the variance of [n samples, m draws] binary outcomes that lie between samples
    and between draws (rho_s, rho_d), from the two-way random-effects ANOVA without replication
    (y_ij = mu + a_i + b_j + e_ij; mean squares MSA, MSB, MSE; sigma_a^2 = (MSA - MSE) / m,
    sigma_b^2 = (MSB - MSE) / n, sigma_e^2 = MSE, each clamped at 0).

    The draw term matters for a defense that draws one transform per forward pass of a batch (a
    random resize shared by the batch's rows): a draw then moves many samples at once, which no
    number of samples averages away. Where a share is not estimable (one sample, or no variation
    at all) the samples take all of it: the conservative choice, under which the draws add
    nothing to the sample size."""
    y = np.asarray(correct, dtype=float)
    n, m = y.shape
    if n < 2 or m < 2:
        return 1.0, 0.0
    mean = y.mean()
    rows, cols = y.mean(axis=1), y.mean(axis=0)
    msa = m * float(((rows - mean) ** 2).sum()) / (n - 1)
    msb = n * float(((cols - mean) ** 2).sum()) / (m - 1)
    resid = y - rows[:, None] - cols[None, :] + mean
    mse = float((resid**2).sum()) / ((n - 1) * (m - 1))
    s_a, s_b = max(0.0, (msa - mse) / m), max(0.0, (msb - mse) / n)
    total = s_a + s_b + mse
    if total <= 0:
        return 1.0, 0.0
    return s_a / total, s_b / total


def effective_n(correct: np.ndarray) -> float:
    """The design-effect sample size of [n, m] outcomes: n m / (1 + (m - 1) rho_s + (n - 1) rho_d)
    (`variance_shares`). It is n when a sample's draws always agree, n m when draws are as
    independent as samples, and Kish's n m / (1 + (m - 1) icc) when the draws share nothing across
    samples (rho_d = 0, per-sample noise)."""
    y = np.asarray(correct, dtype=bool)
    n, m = y.shape
    if n == 0:
        return 0.0
    rho_s, rho_d = variance_shares(y)
    return n * m / (1 + (m - 1) * rho_s + (n - 1) * rho_d)


def draws_interval(correct: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The 95% interval of an expected accuracy over samples and a randomized model's draws:
    Wilson on the design-effect sample size (`effective_n`). With the variance components of
    `variance_shares`, p (1 - p) / n_eff is the variance of the mean over n samples and m draws,
    sigma_a^2 / n + sigma_b^2 / m + sigma_e^2 / (n m); Wilson keeps the interval inside [0, 1] at
    accuracies near 0 and 1. With one draw (m = 1) it is `interval`, today's Wilson interval."""
    y = np.asarray(correct, dtype=bool)
    if y.ndim != 2:
        raise ValueError(f"expected [n, m] outcomes, got shape {y.shape}")
    n, m = y.shape
    if m == 1 or n == 0:
        return interval(int(y.sum()), n, confidence)
    return wilson(float(y.mean()), effective_n(y), confidence)


def fmt_acc(
    value: float | None,
    ci: tuple[float | None, float | None] | None = None,
    n: int | None = None,
    show_n: bool = False,
) -> str:
    """An accuracy with its interval, compactly: `0.856 [.82,.89]` (`... n=300` with `show_n`).

    Wilson intervals are asymmetric near 0 and 1, where a `±` misleads: `0.000 ±0.435` reads as
    [-0.435, 0.435]. So the interval is shown as its two bounds (fmt_bound: 2 decimals, rounded
    outward, never outside [0, 1]), a form that cannot read as a negative accuracy and fits a
    terminal cell. Every format (table, Markdown, HTML, LaTeX, compare) calls this for every
    accuracy cell; JSON carries the exact bounds (ci_low, ci_high).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value + 0.0:.3f}"
    if ci is not None and ci[0] is not None and ci[1] is not None:
        lo, hi = float(ci[0]), float(ci[1])
        if not (math.isnan(lo) or math.isnan(hi)):
            text += f" [{fmt_bound(lo, up=False)},{fmt_bound(hi, up=True)}]"
    if show_n and n is not None:
        text += f" n={n}"
    return text


@dataclass(frozen=True)
class Paired:
    """Two attacks' outcomes on the same samples: a (robust under A) vs b (robust under B)."""

    n: int
    a_correct: int
    b_correct: int
    a_only_broken: int  # samples A broke and B did not
    b_only_broken: int  # samples B broke and A did not
    p_value: float
    # expectations over a randomized model's draws (`sign_test`): the mean accuracies, which the
    # rounded counts above only approximate
    a_mean: float | None = None
    b_mean: float | None = None

    @property
    def discordant(self) -> int:
        return self.a_only_broken + self.b_only_broken

    @property
    def a_acc(self) -> float:
        return self.a_mean if self.a_mean is not None else frac(self.a_correct, self.n)

    @property
    def b_acc(self) -> float:
        return self.b_mean if self.b_mean is not None else frac(self.b_correct, self.n)


def mcnemar(robust_a: np.ndarray, robust_b: np.ndarray) -> Paired:
    """Exact McNemar test (two-sided) of paired per-sample outcomes: are A and B equally strong?

    Under the null each discordant sample is broken by A alone or B alone with probability 1/2, so
    the count of A-only breaks is Binomial(discordant, 1/2) (scipy.stats.binomtest)."""
    ra = np.asarray(robust_a, dtype=bool)
    rb = np.asarray(robust_b, dtype=bool)
    if ra.shape != rb.shape:
        raise ValueError("paired outcomes must cover the same samples")
    a_only = int((~ra & rb).sum())
    b_only = int((ra & ~rb).sum())
    d = a_only + b_only
    from scipy.stats import binomtest

    p = 1.0 if d == 0 else float(binomtest(a_only, d, 0.5).pvalue)
    return Paired(int(ra.size), int(ra.sum()), int(rb.sum()), a_only, b_only, p)


def sign_test(acc_a: np.ndarray, acc_b: np.ndarray) -> Paired:
    """Exact sign test (two-sided) of paired per-sample accuracies in [0, 1]: a randomized model's
    expected accuracy per sample under attacks A and B, over the same draws (hotbench.draws).

    A sample counts for A ("A broke it and B did not") where its accuracy under A is lower, for B
    where it is higher; under the null each such sample goes either way with probability 1/2
    (scipy.stats.binomtest), whatever the size of the differences, so the test holds for any
    distribution of per-sample accuracies. On 0/1 outcomes (one draw) it is `mcnemar` exactly."""
    a = np.asarray(acc_a, dtype=float)
    b = np.asarray(acc_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired outcomes must cover the same samples")
    a_only = int((a < b).sum())
    b_only = int((a > b).sum())
    d = a_only + b_only
    from scipy.stats import binomtest

    p = 1.0 if d == 0 else float(binomtest(a_only, d, 0.5).pvalue)
    mean = (lambda v: float(v.mean()) + 0.0) if a.size else (lambda v: float("nan"))
    return Paired(
        int(a.size), int(round(a.sum())), int(round(b.sum())), a_only, b_only, p, mean(a), mean(b)
    )


def paired_test(a: np.ndarray, b: np.ndarray) -> Paired:
    """The paired comparison of per-sample outcomes: `mcnemar` on booleans (a deterministic
    model), `sign_test` on expected accuracies (a randomized model's, or one of each)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == bool and b.dtype == bool:
        return mcnemar(a, b)
    return sign_test(a, b)


def fisher(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """Two-sided Fisher exact test of k_a of n_a against k_b of n_b (scipy.stats.fisher_exact):
    the exact test that counts alone allow, for `hotbench compare` of two results documents.

    It treats the two accuracies as independent samples. Documents carry counts, not the
    per-sample outcomes the paired McNemar test (`mcnemar`) needs; on the same samples, whose
    outcomes under two runs of one model are positively correlated, ignoring the pairing makes
    the test conservative (a larger p), never a false alarm. NaN when either n is 0."""
    if n_a <= 0 or n_b <= 0:
        return float("nan")
    from scipy.stats import fisher_exact

    table = [[int(k_a), int(n_a) - int(k_a)], [int(k_b), int(n_b) - int(k_b)]]
    return float(fisher_exact(table).pvalue)


def fmt_p(p: float) -> str:
    """A p-value for an evidence line: `p < 1e-6`, `p = 0.003`."""
    if p < 1e-6:
        return "p < 1e-6"
    if p < 0.001:
        return f"p = {p:.0e}"
    return f"p = {p:.3f}"


def diff_allowed(n_a: int, n_b: int, p: float = 0.5, confidence: float = CONFIDENCE) -> float:
    """The largest move between two accuracies measured on n_a and n_b samples that sampling noise
    explains (two-sided, normal approximation at the worst case p = 0.5): the gate's `--tolerance
    auto`. Identical configs on identical samples are deterministic, so this is generous; it exists
    for comparisons whose sample sets differ."""
    if n_a <= 0 or n_b <= 0:
        return float("inf")
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    return z * math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


def mean_spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation across seeds (spread 0.0 for one seed), to the 15
    significant digits a double holds in decimal: the mean of 0.54 and 0.6 is 0.57, not the
    0.5700000000000001 of binary rounding, which CSV and JSON would print."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    mean, sd = float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else 0.0)
    return float(f"{mean:.15g}") + 0.0, float(f"{sd:.15g}") + 0.0
