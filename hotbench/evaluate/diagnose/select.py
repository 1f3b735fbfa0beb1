"""Which stored results a check compares, chosen by the flags on AttackSpec (never by attack
names), and the paired comparison every "A beats B" check and the verdict share."""

from __future__ import annotations

import math

import numpy as np

from ... import stats
from ...attacks.spec import ATTACKS, AttackSpec
from ..worstcase import StoredResult, budgets, counts_at, positions, rows_over_draws
from .spec import Finding
from .thresholds import Thresholds


def spec(r: StoredResult) -> AttackSpec:
    return ATTACKS.get(r.config.method)


def at_budget(results: list[StoredResult], norm: str, eps: float) -> list[StoredResult]:
    """Complete (not skip-mode) results that count at (norm, eps): run at that budget or a smaller
    one in that norm, or minimum-norm (worstcase.counts_at)."""
    return [r for r in results if not r.partial and counts_at(r, norm, eps)]


def bounded_at(results: list[StoredResult], norm: str, eps: float) -> list[StoredResult]:
    """Complete results run exactly at (norm, eps)."""
    return [
        r for r in results if not r.partial and r.threat == norm and math.isclose(r.config.eps, eps)
    ]


def white_box_output(r: StoredResult) -> bool:
    """One gradient attack on the deployed output, not an ensemble: what the paper's kind of
    evaluation follows."""
    s = spec(r)
    return s.gradient and not s.ensemble and r.config.on == "output"


def paper(r: StoredResult) -> bool:
    """One of the paper's attacks on the deployed output with its usual loss (targeted or not):
    the evaluation a defense's authors run."""
    return spec(r).paper and r.config.on == "output"


def with_eot(r: StoredResult) -> bool:
    """Run on a randomized model with EOT: more than one forward pass averaged per query."""
    return r.randomized and r.eot > 1


def queries(r: StoredResult) -> int | None:
    """A query-based black-box attack's query budget (None: not such an attack)."""
    s = spec(r)
    if not s.black_box or s.queries_param is None:
        return None
    return int(r.config.params.get(s.queries_param, s.defaults.get(s.queries_param, 0)))


def independent_transfer(r: StoredResult) -> bool:
    """A transfer result crafted on a surrogate that shares no code or weights with the target
    (recorded by units.persist_attack when it was stored)."""
    return spec(r).surrogate and bool((r.doc.get("surrogate") or {}).get("independent"))


def best(results: list[StoredResult], norm: str, eps: float) -> StoredResult | None:
    """The result with the lowest accuracy at (norm, eps) (ties: stored order)."""
    return min(results, key=lambda r: r.accuracy(norm, eps)) if results else None


def shared(results: list[StoredResult]) -> np.ndarray:
    """The test-set indices every result evaluated."""
    common = results[0].index
    for r in results[1:]:
        common = np.intersect1d(common, r.index)
    return common


def robust_on(results: list[StoredResult], index: np.ndarray, norm: str, eps: float) -> np.ndarray:
    """Per sample of `index`: robust against every result (their per-sample worst case); on a
    randomized model, the lowest expected accuracy over draws any of them reached
    (worstcase.rows_over_draws)."""
    if any(r.randomized for r in results):
        return rows_on(results, index, norm, eps).mean(axis=1)
    out = np.ones(index.size, dtype=bool)
    for r in results:
        out &= r.robust(norm, eps)[positions(r.index, index)]
    return out


def rows_on(results: list[StoredResult], index: np.ndarray, norm: str, eps: float) -> np.ndarray:
    """A randomized model's per-sample worst case over `results`, per draw ([n, m])."""
    return rows_over_draws(results, index, norm, eps)[1]


def accuracy_interval(
    results: list[StoredResult], index: np.ndarray, norm: str, eps: float
) -> tuple[float, float]:
    """The 95% interval of the worst case over `results` on `index` (over samples and draws on a
    randomized model)."""
    if any(r.randomized for r in results):
        return stats.draws_interval(rows_on(results, index, norm, eps))
    robust = robust_on(results, index, norm, eps)
    return stats.interval(int(robust.sum()), int(robust.size))


def paired(a: StoredResult, b: StoredResult, norm: str, eps: float) -> stats.Paired:
    """McNemar on the samples both results evaluated (the sign test on expected accuracies over
    a randomized model's draws: stats.paired_test)."""
    common = np.intersect1d(a.index, b.index)
    return stats.paired_test(
        a.expected(norm, eps)[a.on(common)], b.expected(norm, eps)[b.on(common)]
    )


def beats(
    a: StoredResult | None,
    b: StoredResult | None,
    what: tuple[str, str],
    budget: tuple[str, float],
    th: Thresholds,
) -> Finding:
    """Does attack `a` beat attack `b`: significantly (exact McNemar, p < stats.ALPHA) and by more
    than th.beats, on the samples both saw? `what` names the two kinds of attack."""
    what_a, what_b = what
    norm, eps = budget
    if a is None or b is None:
        return Finding(None, f"no {what_a if a is None else what_b} result at this budget")
    t = paired(a, b, norm, eps)
    if t.n == 0:
        return Finding(None, f"{what_a} and {what_b} results share no sample")
    fired = t.p_value < stats.ALPHA and t.a_acc < t.b_acc - th.beats
    rel = "beats" if fired else "does not beat"
    return Finding(
        fired,
        f"{what_a} {a.name} {t.a_acc:.3f} {rel} {what_b} {b.name} {t.b_acc:.3f} on {t.n} shared"
        f" samples, {t.discordant} discordant, {stats.fmt_p(t.p_value)}",
        {
            "a_acc": t.a_acc,
            "a": a.name,
            "b_acc": t.b_acc,
            "b": b.name,
            "n": t.n,
            "discordant": t.discordant,
            "p_value": t.p_value,
        },
    )


def same_but(r: StoredResult, *fields: str) -> str:
    """A key for results that differ only in `fields` (e.g. eps, seed)."""
    d = r.config.model_dump()
    for f in fields + ("n_samples", "batch_size"):
        d.pop(f, None)
    return repr(sorted(d.items()))


def large_eps_results(results: list[StoredResult], th: Thresholds) -> list[StoredResult]:
    """The large-eps probe's results: a gradient attack on the output at Linf >= th.large_eps."""
    return [
        r
        for r in results
        if not r.partial
        and r.threat == "Linf"
        and r.config.eps >= th.large_eps
        and white_box_output(r)
    ]


# provenance key of a result `diagnose` ran as a probe (run.run_probes)
PROBE = "probe"


def asked_for(r: StoredResult) -> bool:
    """A result someone asked for (an attack, a preset), not a probe `diagnose` added."""
    return not (r.doc.get("provenance") or {}).get(PROBE)


def reference_budget(
    results: list[StoredResult], th: Thresholds, train_eps: float | None = None
) -> tuple[str, float] | None:
    """The budget the verdict speaks about (the documented rule, whatever ran last): for an
    adversarially trained model (`train_eps`), its training eps where it was attacked there, the
    claim such a defense makes (a PGD-AT model at eps 0.1 makes none at 0.3, where it is broken
    like any other). Otherwise Linf (else L2) below the large-eps probe, with the most results
    asked for (ties: the larger eps): the probes `diagnose --eps E` runs at E do not move it."""
    options = [
        (n, e) for n, e in budgets(results) if not (n == "Linf" and e >= th.large_eps)
    ] or budgets(results)
    if not options:
        return None
    if train_eps is not None:
        for b in options:
            if b[0] == "Linf" and math.isclose(b[1], train_eps):
                return b
    count = {
        b: sum(1 for r in results if (r.threat, r.config.eps) == b and asked_for(r))
        for b in options
    }
    return max(options, key=lambda b: (b[0] == "Linf", count[b], b[1]))
