"""Checks on how accuracy moves where it must move: to ~0 at a budget that allows any image
(the large-eps probe), down as eps grows, and not with PGD's random start (Carlini et al. 2019)."""

from __future__ import annotations

import numpy as np

from .... import stats
from ...worstcase import StoredResult
from ..select import at_budget, large_eps_results, robust_on, same_but, white_box_output
from ..spec import Evidence, Finding, Probe, check
from ..thresholds import Thresholds


@check(
    "no success at large eps",
    "a gradient attack on the output at Linf eps >= Thresholds.large_eps (any image can become any"
    " other) must break almost every sample",
    required=True,
    threshold="large_eps_acc",
    probe=lambda ev, base, th: [
        Probe(base.model_copy(update={"eps": th.large_eps, "alpha": None, "on": "output"}))
    ],
)
def large_eps(ev: Evidence, th: Thresholds) -> Finding:
    rs = large_eps_results(ev.results, th)
    if not rs:
        return Finding(None, f"no gradient attack on the output at Linf ε>={th.large_eps:g}")
    r = min(rs, key=lambda r: r.accuracy("Linf", r.config.eps))
    acc = r.accuracy("Linf", r.config.eps)
    return Finding(
        acc > th.large_eps_acc,
        f"{r.name} at Linf ε={r.config.eps:g} (any image can become any other) leaves accuracy"
        f" {acc:.3f}",
        {"acc": acc, "attack": r.name, "eps": r.config.eps},
    )


@check(
    "accuracy not monotone in eps",
    "the same attack leaves more accuracy at a larger eps",
    threshold="monotone",
)
def monotone(ev: Evidence, th: Thresholds) -> Finding:
    groups: dict[str, list[StoredResult]] = {}
    for r in ev.results:
        if r.threat is not None and not r.partial:
            groups.setdefault(same_but(r, "eps", "alpha"), []).append(r)
    worst: tuple[float, str] | None = None
    compared = 0
    for rs in groups.values():
        rs = sorted(rs, key=lambda r: r.config.eps)
        for lo, hi in zip(rs, rs[1:], strict=False):
            compared += 1
            a_lo = lo.accuracy(lo.threat, lo.config.eps)
            a_hi = hi.accuracy(hi.threat, hi.config.eps)
            rise = a_hi - a_lo
            if worst is None or rise > worst[0]:
                worst = (
                    rise,
                    f"{lo.name}: {a_lo:.3f} at ε={lo.config.eps:g} but {a_hi:.3f} at"
                    f" ε={hi.config.eps:g}",
                )
    if worst is None:
        return Finding(None, "no attack was run at two eps")
    fired = worst[0] > th.monotone
    return Finding(
        fired,
        worst[1] if fired else f"accuracy falls with eps in all {compared} comparisons",
        {"largest_rise": worst[0]},
    )


@check(
    "results change with restarts",
    "a second random start of PGD breaks samples that no other attack at the budget breaks",
    threshold="restarts",
    probe=lambda ev, base, th: [Probe(base.model_copy(update={"seed": base.seed + 1}))],
)
def restarts(ev: Evidence, th: Thresholds) -> Finding:
    """PGD's outcome on a sample near the decision boundary depends on its random start, in both
    directions, on any model: that variance is not masking, and samples one seed misses are usually
    broken by another attack anyway. Masking shows as a second start finding adversarial points that
    *every other* attack at this budget missed (the loss surface is so rough that where PGD starts
    decides whether it gets anywhere). So the check compares, per sample, the worst case over all
    the other results at the budget with the worst case once the second-seed PGD is added: the
    discordant samples can only be those the second seed alone breaks. It fires when the exact
    McNemar test on those pairs is significant (p < stats.ALPHA: at least 6 such samples, since the
    discordance is one-sided) AND they are more than th.restarts of the clean-correct samples."""
    if ev.budget is None:
        return Finding(None, "no attack result with an eps budget")
    norm, eps = ev.budget
    rs = at_budget(ev.results, norm, eps)
    groups: dict[str, list[StoredResult]] = {}
    for r in rs:
        # an attack whose outcome depends on a random start: PGD (and PGD-L2 under L2)
        if r.threat is not None and white_box_output(r) and r.config.params.get("random_start"):
            groups.setdefault(same_but(r, "seed"), []).append(r)
    pairs = []
    for g in groups.values():
        first: dict[int, StoredResult] = {}
        for r in sorted(g, key=lambda r: r.config.seed):
            first.setdefault(r.config.seed, r)
        if len(first) >= 2:
            pairs.append(tuple(first.values())[:2])
    if not pairs:
        return Finding(None, "PGD was not run with two seeds at this budget")
    a, b = pairs[0]
    others = [r for r in rs if r is not b]
    common = b.index
    for r in others:
        common = np.intersect1d(common, r.index)
    if common.size == 0:
        return Finding(
            None, f"PGD seed {b.config.seed} shares no sample with the other attacks at this budget"
        )
    # per sample, robust against the others (on a randomized model: the lowest expected accuracy
    # over draws), and against the others and the second seed
    without = robust_on(others, common, norm, eps)
    with_b = robust_on([*others, b], common, norm, eps)
    t = stats.paired_test(with_b, without)
    if a.clean_draws is not None:
        correct = int(round(float(a.clean_draws.mean(1)[a.on(common)].sum())))
    else:
        correct = int((a.clean_pred[a.on(common)] == a.label[a.on(common)]).sum())
    only_b = t.a_only_broken  # broken once the second seed is added, by no other attack
    drop = stats.frac(only_b, correct) if correct else 0.0
    fired = t.p_value < stats.ALPHA and drop > th.restarts
    return Finding(
        fired,
        f"PGD seed {b.config.seed} breaks {only_b} of {correct} clean-correct samples that no other"
        f" of the {len(others)} attacks at this budget (PGD seed {a.config.seed} included) breaks"
        f" ({drop:.3f}; worst case {t.b_acc:.3f} without it, {t.a_acc:.3f} with it, n={t.n},"
        f" exact McNemar {stats.fmt_p(t.p_value)})",
        {
            "only_second_seed": only_b,
            "clean_correct": correct,
            "drop_frac": drop,
            "acc_without": t.b_acc,
            "acc_with": t.a_acc,
            "n": t.n,
            "p_value": t.p_value,
        },
    )
