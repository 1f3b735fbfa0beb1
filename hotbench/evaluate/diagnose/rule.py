"""The verdict rule: two axes, each from what was measured, never from what a defense intends.

Masking (one of MASKING): do the attacks a defense's authors would run overestimate its robustness?
- "detected": the per-sample worst case over the paper's attacks at the budget (FGSM, BIM, PGD, MIM,
  CW, DeepFool on the deployed output with their usual losses: AttackSpec.paper) is significantly
  (exact McNemar on the same samples, p < stats.ALPHA) and by more than Thresholds.beats above the
  worst case over every attack. The overestimate ("the paper's attacks say 0.820, the worst case is
  0.000") is the finding. The comparison never uses the best of every gradient attack, so a strong
  adaptive attack (APGD-DLR, APGD-T) that reaches the worst case cannot hide what the standard ones
  miss.
- "not detected": no such gap, and either a gradient-free attack (Square with enough queries, or a
  transfer from an independent surrogate) was measured at the budget, or the paper's attacks
  already break the model (their interval lies below Thresholds.robust_acc: nothing to hide).
- "not measured": the paper's attacks were not run at the budget, or nothing gradient-free was.

A randomized model (the check "randomized model" fired: its forward passes draw random numbers) is
measured over its draws, and a comparison of two attacks is the sign test on per-sample expected
accuracies (stats.paired_test; McNemar at one draw). "The paper's attacks" are then those run
without EOT (`--eot 1`), what a randomized defense's authors run; and its results cannot support
"robust" or "masking: not detected" unless a gradient attack with EOT ran at the budget
(`without_eot`): the axis is "incomplete" / "not measured" with the command that runs one.

Robustness (one of ROBUSTNESS), in this order:
- "not robust": the worst case's 95% interval lies below Thresholds.robust_acc (the attacks found
  the adversarial examples: sound whatever else was measured), or a check whose effect is "not
  robust" fired (the worst case is no better than the undefended reference's).
- "incomplete": a required check (CheckSpec.required) is not measured; a randomized model has no
  result with EOT at the budget; or a masking check fired or
  masking was detected (the attacks that set the worst case may be fooled too: "robust" is never
  allowed then); or the interval straddles the threshold. The evidence names the command that
  completes it.
- "robust": the interval lies at or above the threshold and every required check is measured and
  clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ... import stats
from ..worstcase import positions
from .select import (
    accuracy_interval,
    at_budget,
    independent_transfer,
    paper,
    queries,
    robust_on,
    spec,
    with_eot,
)
from .spec import Check, Evidence
from .thresholds import Thresholds

ROBUSTNESS = ("robust", "not robust", "incomplete")
MASKING = ("detected", "not detected", "not measured")


@dataclass
class Verdict:
    robustness: str
    masking: str
    evidence: list[str]  # the robustness axis' lines, with their numbers
    masking_evidence: list[str]
    overestimate: dict[str, Any] | None = None  # masking detected: the paper's vs the worst case
    complete: list[str] = field(default_factory=list)  # commands that complete what is missing
    paper_acc: float | None = None  # the paper's attacks' worst case on the worst case's samples
    # the lines of `evidence` and `masking_evidence` that decided each axis (the rest supports them:
    # which attack broke most, which checks were measured); the terminal shows these unless
    # --verbose, so a reader sees why without every measurement
    decided: dict[str, list[str]] = field(default_factory=dict)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class _Masking:
    state: str
    lines: list[str]
    overestimate: dict[str, Any] | None = None
    complete: list[str] = field(default_factory=list)
    paper_acc: float | None = None
    decided: list[str] | None = None  # None: every line decided it


@dataclass
class _Robustness:
    state: str
    lines: list[str]
    complete: list[str]
    decided: list[str] | None = None  # None: every line decided it


def randomized(ev: Evidence, checks: list[Check]) -> Check | None:
    """The fired check that says the model is randomized (None: it is not, or not known)."""
    return next((c for c in checks if c.fired and c.effect == "randomized"), None)


def without_eot(ev: Evidence, checks: list[Check]) -> str | None:
    """On a randomized model with no gradient attack through EOT at the budget: why its results
    cannot support "robust" or "masking: not detected" (None: they can)."""
    rnd = randomized(ev, checks)
    if rnd is None or ev.budget is None:
        return None
    if any(with_eot(r) and spec(r).gradient for r in at_budget(ev.results, *ev.budget)):
        return None
    norm, eps = ev.budget
    return (
        f"{rnd.name}: {rnd.evidence}; no gradient attack with EOT (forward passes averaged over"
        f" the model's draws, --eot > 1) ran at {norm} ε={eps:g}: results on one draw per query"
        " cannot show that it is robust, nor that nothing is hidden"
    )


def masking_axis(ev: Evidence, checks: list[Check], th: Thresholds) -> _Masking:
    wc, budget, where = ev.worst, ev.budget, ev.where
    if wc is None or budget is None or wc.n_samples == 0:
        return _Masking(
            "not measured", ["no attack result with an eps budget"], None, [where.attack_cmd()]
        )
    norm, eps = budget
    counted = at_budget(ev.results, norm, eps)
    # on a randomized model the authors' evaluation is the paper's attacks without EOT
    plain = randomized(ev, checks) is not None
    papers = [r for r in counted if paper(r) and not with_eot(r)]
    if not papers:
        what = "without EOT (--eot 1) " if plain else ""
        return _Masking(
            "not measured",
            [
                "no paper attack (FGSM, BIM, PGD, MIM, CW, DeepFool on the output) "
                f"{what}at {norm} ε={eps:g}"
            ],
            None,
            [where.paper_cmd(plain)],
        )
    names = _unique([r.name for r in papers])
    paper_robust = robust_on(papers, wc.index, norm, eps)
    t = stats.paired_test(paper_robust, wc.per_sample)
    gap = t.a_acc - t.b_acc
    fired = [c for c in checks if c.fired and c.effect == "masking"]
    signs = [f"{c.name}: {c.evidence}" for c in fired]
    detail = (
        f"the paper's attacks ({', '.join(names)}) say {t.a_acc:.3f}, the worst case is"
        f" {t.b_acc:.3f} on {t.n} samples ({t.discordant} discordant, {stats.fmt_p(t.p_value)})"
    )
    if t.p_value < stats.ALPHA and gap > th.beats:
        missed = wc.per_sample < paper_robust  # broken (more often), but by no paper attack
        found = {}
        for r in counted:
            if not paper(r) or with_eot(r):
                own = r.expected(norm, eps)[positions(r.index, wc.index)]
                k = int((missed & (own < paper_robust)).sum())
                if k:
                    found[r.name] = max(found.get(r.name, 0), k)
        by = ", ".join(f"{k} ({v})" for k, v in sorted(found.items(), key=lambda kv: -kv[1]))
        over = {
            "paper_acc": t.a_acc,
            "worst_acc": t.b_acc,
            "gap": gap,
            "n": t.n,
            "discordant": t.discordant,
            "p_value": t.p_value,
            "paper_attacks": names,
            "found_by": found,
        }
        lines = [f"{detail}: they overestimate robustness by {gap:.3f}"]
        if by:
            lines.append(f"samples the paper's attacks miss are broken by {by}")
        return _Masking("detected", lines + signs, over, [], t.a_acc, lines[:1])
    lines = [f"{detail}: no significant gap"]
    gradient_free = _unique(
        [
            r.name
            for r in counted
            if (queries(r) or 0) >= th.square_queries or independent_transfer(r)
        ]
    )
    lo, hi = accuracy_interval(papers, wc.index, norm, eps)
    missing_eot = without_eot(ev, checks)
    if missing_eot is not None:
        lines.append(missing_eot)
        return _Masking(
            "not measured", lines + signs, None, [where.eot_cmd()], t.a_acc, [missing_eot]
        )
    if gradient_free:
        lines.append(f"gradient-free attacks measured at this budget: {', '.join(gradient_free)}")
    elif hi < th.robust_acc:
        lines.append(
            f"the paper's attacks already break the model (95% CI {lo:.3f}-{hi:.3f} <"
            f" {th.robust_acc:g}): nothing is left to hide"
        )
    else:
        lines.append(
            "no gradient-free attack (square with at least"
            f" {th.square_queries} queries, or transfer from an independent surrogate) was run at"
            " this budget to show that nothing is hidden"
        )
        return _Masking(
            "not measured",
            lines + signs,
            None,
            [where.square_cmd(th.square_queries)],
            t.a_acc,
            lines[-1:],
        )
    measured = [
        f"{c.name} ({c.state})" for c in checks if c.effect == "masking" and c.fired is not None
    ]
    if measured:
        lines.append("checks measured: " + ", ".join(measured))
    decided = lines[:2]  # no significant gap, and gradient-free attacks ran (or nothing to hide)
    if fired:
        lines.append("indicators fired, but the paper's attacks still reach the worst case:")
        lines += [f"  {s}" for s in signs]
    return _Masking("not detected", lines, None, [], t.a_acc, decided)


def robustness_axis(ev: Evidence, checks: list[Check], masking: str, th: Thresholds) -> _Robustness:
    """The state, its evidence lines (the worst case first), the commands that complete what is
    missing, and the lines that decided the state."""
    wc, where = ev.worst, ev.where
    if wc is None or wc.n_samples == 0:
        why = (
            "no attack result with an eps budget at this eval temperature"
            if wc is None
            else "its attacks share no sample"
        )
        return _Robustness("incomplete", [why], [where.attack_cmd()])
    lines = [wc.summary()]
    lo, hi = wc.ci
    if hi < th.robust_acc:
        below = [f"worst case 95% CI {lo:.3f}-{hi:.3f} is below {th.robust_acc:g}"]
        return _Robustness("not robust", lines + below, [], below)
    worse = [c for c in checks if c.fired and c.effect == "not robust"]
    if worse:
        why = [f"{c.name}: {c.evidence}" for c in worse]
        return _Robustness("not robust", lines + why, [], why)
    missing_eot = without_eot(ev, checks)
    if missing_eot is not None:
        cmd = where.eot_cmd()
        why = [missing_eot, f"complete with: {cmd}"]
        return _Robustness("incomplete", lines + why, [cmd], why)
    missing = [c for c in checks if c.required and c.fired is None]
    if missing:
        cmds = _unique([c.complete for c in missing if c.complete])
        why = (
            ["robust needs every required check measured and clear"]
            + [f"not measured: {c.name} ({c.evidence})" for c in missing]
            + [f"complete with: {c}" for c in cmds]
        )
        return _Robustness("incomplete", lines + why, cmds, why)
    fired = [c for c in checks if c.fired and c.effect == "masking"]
    if fired or masking == "detected":
        cmd = where.attack_cmd()
        why = [
            "a masking sign fired: the attacks that set the worst case may be fooled too, so"
            " 'robust' is never allowed; an adaptive attack that bypasses it (BPDA, EOT;"
            f" Tramèr et al. 2020) is needed, e.g. {cmd}"
        ]
        signs = [f"{c.name}: {c.evidence}" for c in fired]
        return _Robustness("incomplete", lines + signs + why, [cmd], why)
    if lo < th.robust_acc:
        cmd = where.more_samples_cmd(wc.n_samples)
        why = [
            f"worst case 95% CI {lo:.3f}-{hi:.3f} straddles {th.robust_acc:g}: too few samples"
            " to tell",
            f"complete with: {cmd}",
        ]
        return _Robustness("incomplete", lines + why, [cmd], why)
    required = [c.name for c in checks if c.required]
    why = [
        f"every required check measured and clear ({', '.join(required)}); worst case 95% CI"
        f" {lo:.3f}-{hi:.3f} >= {th.robust_acc:g}"
    ]
    clear = [c.evidence for c in checks if c.required and c.effect == "not robust"]
    return _Robustness("robust", lines + clear + why, [], why)


def decide(ev: Evidence, checks: list[Check], th: Thresholds) -> Verdict:
    m = masking_axis(ev, checks, th)
    r = robustness_axis(ev, checks, m.state, th)
    decided = {
        "robustness": r.lines if r.decided is None else r.decided,
        "masking": m.lines if m.decided is None else m.decided,
    }
    return Verdict(
        r.state,
        m.state,
        r.lines,
        m.lines,
        m.overestimate,
        _unique(r.complete + m.complete),
        m.paper_acc,
        decided,
    )
