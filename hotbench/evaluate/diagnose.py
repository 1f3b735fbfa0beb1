"""Gradient-masking diagnostics and the verdict per (model, eval temperature), each with its
evidence.

Measured, not assumed:
1. gradient health: the fraction of test inputs whose input gradient of the cross-entropy is exactly
   zero, and the median gradient norm, on the deployed output act(z / T_eval) and on the logits z /
   T_train;
2. output saturation: the fraction of outputs exactly at the activation's bound in float32, and the
   fraction of clean predictions decided by an argmax tie (torch gives ties to the lowest index);
3. the checks of Carlini et al. 2019 ("On Evaluating Adversarial Robustness") and AutoAttack's
   flags, on the stored results: single-step beats iterative; black-box (Square) or transfer beats
   white-box; a logit attack beats the output attacks; accuracy does not fall to ~0 at a large eps;
   accuracy is not monotone in eps; a second random restart of PGD breaks samples no other attack
   breaks (significantly, by McNemar, and more than THRESHOLDS.restarts).

Each check is in one of three states (Check.state): "fired", "clear", or "not measured" (the model,
the data or the results it needs were missing). Every "A beats B" check is an exact McNemar test on
the two attacks' paired per-sample outcomes (hotbench.stats) plus the effect-size threshold
THRESHOLDS.beats: it fires only when both hold, and its evidence shows both.

Verdict (one of VERDICTS), from the worst case at the reference eps and its 95% interval:
- "not evaluated": no stored result with an eps budget at this eval temperature.
- "masking suspected": a check fired, and the best white-box attack on the output (the paper's kind)
  leaves significantly (McNemar) and more than THRESHOLDS.beats more accuracy than the worst case:
  the output's gradient hides robustness that is not there. Also when a check fired and the worst
  case is not clearly below the threshold: a fired masking check never allows "robust".
- "not robust": the whole interval of the worst case is below THRESHOLDS.robust_acc (with or
  without fired checks: when the output's own gradient attacks already reach the worst case, e.g.
  tanh at T = 1 with a few saturated outputs, nothing is hidden).
- "robust": the interval is entirely at or above THRESHOLDS.robust_acc, no check fired, and the
  checks that can hide masking (REQUIRED_FOR_ROBUST: gradient health, saturation, a logit attack, a
  black-box or transfer attack) were measured and are clear.
- "incomplete": none of the above can be said from what was measured: a required check is not
  measured, or the interval straddles the threshold. The evidence names the command that completes
  it.
The reference eps is the Linf (else L2) budget below THRESHOLDS.large_eps with the most stored
results.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.table import Table

from .. import stats
from ..attacks.spec import ATTACKS
from ..config import AttackConfig
from ..context import Context
from ..errors import HotbenchError
from ..progress import plain_text
from ..store import RunRecord, Workspace, atomic_write_json, now, read_json_checked
from .worstcase import (
    StoredResult,
    WorstCase,
    budgets,
    load_stored,
    worst_case,
    worst_cases,
)

# torch, the models and the data load with the measurements (`measure`): a report whose
# measurements are stored with the run reads JSON only.
if TYPE_CHECKING:
    import torch

    from ..models import HotNet

# Bumped whenever the verdict rule changes, so that a stored diagnosis made by an older rule is
# recomputed.
DIAGNOSIS_SCHEMA = "hotbench.diagnosis/4"
VERDICTS = ("robust", "masking suspected", "not robust", "incomplete", "not evaluated")
CHECK_STATES = ("fired", "clear", "not measured")


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of the diagnosis, in one place. A check fires when its number crosses its
    threshold."""

    # Fraction of inputs whose output gradient is exactly 0. AutoAttack warns at any zero gradient;
    # 1% leaves room for a few inputs that a plain classifier saturates in float32.
    zero_grad: float = 0.01
    # Fraction of output entries exactly at the activation's bound (tanh: +-1.0): the output cannot
    # move.
    saturated: float = 0.10
    # Fraction of clean predictions decided by an argmax tie among saturated outputs.
    ties: float = 0.01
    # Accuracy gap that counts as "attack A beats attack B" (single-step vs iterative, black-box or
    # transfer vs white-box on the output, logits vs output), on their shared samples. 5 points:
    # smaller gaps do not change what a reader concludes. It applies together with an exact McNemar
    # test at stats.ALPHA, so on a few dozen samples a 5-point gap alone never fires.
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
    # Worst-case accuracy at the reference eps from which a model with no fired check is called
    # robust; applied to the 95% interval (robust: its lower end >= this; not robust: its upper
    # end < this).
    robust_acc: float = 0.30


THRESHOLDS = Thresholds()


@dataclass
class Check:
    name: str
    fired: bool | None  # None: not measured (the results it needs are missing)
    evidence: str
    numbers: dict[str, Any] = field(default_factory=dict)
    state: str = ""  # one of CHECK_STATES, derived from `fired`

    def __post_init__(self) -> None:
        self.state = "not measured" if self.fired is None else "fired" if self.fired else "clear"


# The checks that can hide masking: "robust" needs each of them measured and clear.
REQUIRED_FOR_ROBUST = (
    "zero gradients",
    "saturated outputs",
    "logit attack beats output attack",
    "black-box beats white-box",
)


# ---- measurements on the model -------------------------------------------------------------------
def gradient_health(
    net: HotNet, x: torch.Tensor, y: torch.Tensor, eval_temp: float, batch_size: int = 256
) -> dict[str, dict[str, float]]:
    """Per view, the fraction of inputs whose cross-entropy input gradient is exactly zero and the
    median gradient L2 norm. The output view is what the paper's attacks follow; the logit view is z
    / T_train.
    """
    import torch
    import torch.nn.functional as F

    device = next(net.parameters()).device
    out: dict[str, dict[str, float]] = {}
    for view in ("output", "logits"):
        norms = []
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size].to(device).clone().requires_grad_(True)
            z = net.logits(xb)
            o = net.head(z, eval_temp) if view == "output" else z / net.train_temp
            # per-sample gradients from one backward: samples are independent in eval mode
            (g,) = torch.autograd.grad(
                F.cross_entropy(o, y[i : i + batch_size].to(device), reduction="sum"), xb
            )
            norms.append(g.flatten(1).norm(dim=1).detach().cpu())
        n = torch.cat(norms) if norms else torch.zeros(0)
        out[view] = {
            "zero_frac": float((n == 0).float().mean()) if n.numel() else float("nan"),
            "median_norm": float(n.median()) if n.numel() else float("nan"),
        }
    return out


def saturation(net: HotNet, x: torch.Tensor, eval_temp: float) -> dict[str, float | None]:
    """Fraction of outputs exactly at the activation's bound (None: the activation has none) and
    fraction of clean predictions decided by an argmax tie, both in float32 as deployed."""
    import torch

    device = next(net.parameters()).device
    with torch.inference_mode():
        o = torch.cat(
            [
                net.head(net.logits(x[i : i + 1024].to(device)), eval_temp).float().cpu()
                for i in range(0, x.shape[0], 1024)
            ]
        )
    bounds = net.act.bounds
    at_bound = (
        None if bounds is None else float(((o == bounds[0]) | (o == bounds[1])).float().mean())
    )
    ties = (o == o.amax(1, keepdim=True)).sum(1) > 1
    return {
        "at_bound_frac": at_bound,
        "tie_frac": float(ties.float().mean()) if o.shape[0] else float("nan"),
    }


# ---- the checks ----------------------------------------------------------------------------------
def check_zero_gradients(
    grad: dict[str, dict[str, float]] | None, th: Thresholds = THRESHOLDS
) -> Check:
    if grad is None:
        return Check("zero gradients", None, "gradients not measured")
    o, z = grad["output"], grad["logits"]
    ev = (
        f"{o['zero_frac']:.2f} of inputs have an exactly-zero output gradient (median norm"
        f" {o['median_norm']:.2g}); on the logits {z['zero_frac']:.2f} (median norm"
        f" {z['median_norm']:.2g})"
    )
    return Check(
        "zero gradients",
        o["zero_frac"] > th.zero_grad,
        ev,
        {
            "output_zero_frac": o["zero_frac"],
            "logits_zero_frac": z["zero_frac"],
            "output_median_norm": o["median_norm"],
            "logits_median_norm": z["median_norm"],
        },
    )


def check_saturation(sat: dict[str, float | None] | None, th: Thresholds = THRESHOLDS) -> Check:
    if sat is None or sat["at_bound_frac"] is None:
        return Check(
            "saturated outputs",
            None if sat is None else False,
            "not measured" if sat is None else "the activation has no bound",
        )
    f = sat["at_bound_frac"]
    return Check(
        "saturated outputs",
        f > th.saturated,
        f"{f:.2f} of outputs are exactly at the activation's bound",
        {"at_bound_frac": f},
    )


def check_ties(sat: dict[str, float | None] | None, th: Thresholds = THRESHOLDS) -> Check:
    if sat is None:
        return Check("argmax ties", None, "not measured")
    f = sat["tie_frac"]
    return Check(
        "argmax ties",
        f > th.ties,
        f"{f:.2f} of clean predictions are decided by an argmax tie",
        {"tie_frac": f},
    )


def _at_budget(results: list[StoredResult], norm: str, eps: float) -> list[StoredResult]:
    """Complete (not skip-mode) results that have a number at (norm, eps): that budget, or
    minimum-norm."""
    return [
        r
        for r in results
        if not r.partial
        and (r.threat is None or (r.threat == norm and math.isclose(r.config.eps, eps)))
    ]


def _best(results: list[StoredResult], norm: str, eps: float) -> StoredResult | None:
    """The result with the lowest accuracy among `results` at (norm, eps) (ties: stored order)."""
    if not results:
        return None
    return min(results, key=lambda r: r.accuracy(norm, eps))


def paired(a: StoredResult, b: StoredResult, norm: str, eps: float) -> stats.Paired:
    """McNemar on the samples both results evaluated."""
    common = np.intersect1d(a.index, b.index)
    return stats.mcnemar(a.robust(norm, eps)[a.on(common)], b.robust(norm, eps)[b.on(common)])


def _beats(
    name: str,
    a: StoredResult | None,
    b: StoredResult | None,
    what: tuple[str, str],
    budget: tuple[str, float],
    th: Thresholds,
) -> Check:
    """Does attack `a` beat attack `b`: significantly (exact McNemar, p < stats.ALPHA) and by more
    than th.beats, on the samples both saw? `what` names the two kinds of attack."""
    what_a, what_b = what
    norm, eps = budget
    if a is None or b is None:
        missing = what_a if a is None else what_b
        return Check(name, None, f"no {missing} result at this budget")
    t = paired(a, b, norm, eps)
    if t.n == 0:
        return Check(name, None, f"{what_a} and {what_b} results share no sample")
    fired = t.p_value < stats.ALPHA and t.a_acc < t.b_acc - th.beats
    rel = "beats" if fired else "does not beat"
    return Check(
        name,
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


def _spec(r: StoredResult):
    return ATTACKS.get(r.config.method)


def check_single_step(
    results: list[StoredResult], norm: str, eps: float, th: Thresholds = THRESHOLDS
) -> Check:
    rs = _at_budget(results, norm, eps)
    single = [r for r in rs if r.config.method == "fgsm"]
    iterative = [
        r
        for r in rs
        if r.config.on == "output"
        and _spec(r).gradient
        and _spec(r).uses_steps
        and r.threat is not None
        and r.config.method != "autoattack"
    ]
    return _beats(
        "single-step beats iterative",
        _best(single, norm, eps),
        _best(iterative, norm, eps),
        ("single-step", "iterative"),
        (norm, eps),
        th,
    )


def check_black_box(
    results: list[StoredResult], norm: str, eps: float, th: Thresholds = THRESHOLDS
) -> Check:
    rs = _at_budget(results, norm, eps)
    black = [r for r in rs if not _spec(r).gradient]
    white = [
        r
        for r in rs
        if _spec(r).gradient and r.config.on == "output" and r.config.method != "autoattack"
    ]
    return _beats(
        "black-box beats white-box",
        _best(black, norm, eps),
        _best(white, norm, eps),
        ("black-box/transfer", "white-box on the output"),
        (norm, eps),
        th,
    )


def check_logits(
    results: list[StoredResult], norm: str, eps: float, th: Thresholds = THRESHOLDS
) -> Check:
    rs = _at_budget(results, norm, eps)
    logit = [r for r in rs if r.config.on == "logits"]
    output = [
        r
        for r in rs
        if r.config.on == "output" and _spec(r).gradient and r.config.method != "autoattack"
    ]
    return _beats(
        "logit attack beats output attack",
        _best(logit, norm, eps),
        _best(output, norm, eps),
        ("logit attack", "output attack"),
        (norm, eps),
        th,
    )


def _large_eps_results(results: list[StoredResult], th: Thresholds) -> list[StoredResult]:
    return [
        r
        for r in results
        if not r.partial
        and r.threat == "Linf"
        and r.config.eps >= th.large_eps
        and r.config.on == "output"
        and _spec(r).gradient
    ]


def check_large_eps(results: list[StoredResult], th: Thresholds = THRESHOLDS) -> Check:
    rs = _large_eps_results(results, th)
    if not rs:
        return Check(
            "no success at large eps",
            None,
            f"no gradient attack on the output at Linf ε>={th.large_eps:g}",
        )
    r = min(rs, key=lambda r: r.accuracy("Linf", r.config.eps))
    acc = r.accuracy("Linf", r.config.eps)
    return Check(
        "no success at large eps",
        acc > th.large_eps_acc,
        f"{r.name} at Linf ε={r.config.eps:g} (any image can become any other) leaves accuracy"
        f" {acc:.3f}",
        {"acc": acc, "attack": r.name, "eps": r.config.eps},
    )


def _same_but(r: StoredResult, *fields: str) -> str:
    """A key for results that differ only in `fields` (e.g. eps, seed)."""
    d = r.config.model_dump()
    for f in fields + ("n_samples", "batch_size"):
        d.pop(f, None)
    return repr(sorted(d.items()))


def check_monotone(results: list[StoredResult], th: Thresholds = THRESHOLDS) -> Check:
    groups: dict[str, list[StoredResult]] = {}
    for r in results:
        if r.threat is not None and not r.partial:
            groups.setdefault(_same_but(r, "eps", "alpha"), []).append(r)
    worst: tuple[float, str] | None = None
    compared = 0
    for rs in groups.values():
        rs = sorted(rs, key=lambda r: r.config.eps)
        for lo, hi in zip(rs, rs[1:], strict=False):
            compared += 1
            a_lo, a_hi = (
                lo.accuracy(lo.threat, lo.config.eps),
                hi.accuracy(hi.threat, hi.config.eps),
            )
            rise = a_hi - a_lo
            if worst is None or rise > worst[0]:
                worst = (
                    rise,
                    (
                        f"{lo.name}: {a_lo:.3f} at ε={lo.config.eps:g} but {a_hi:.3f} at"
                        f" ε={hi.config.eps:g}"
                    ),
                )
    if worst is None:
        return Check("accuracy not monotone in eps", None, "no attack was run at two eps")
    fired = worst[0] > th.monotone
    return Check(
        "accuracy not monotone in eps",
        fired,
        worst[1] if fired else f"accuracy falls with eps in all {compared} comparisons",
        {"largest_rise": worst[0]},
    )


def check_restarts(
    results: list[StoredResult], norm: str, eps: float, th: Thresholds = THRESHOLDS
) -> Check:
    """Does a second random start of PGD break samples that no other attack breaks?

    PGD's outcome on a sample near the decision boundary depends on its random start, in both
    directions, on any model: that variance is not masking, and samples one seed misses are usually
    broken by another attack anyway. Masking shows as a second start finding adversarial points that
    *every other* attack at this budget missed (the loss surface is so rough that where PGD starts
    decides whether it gets anywhere). So the check compares, per sample, the worst case over all
    the other results at (norm, eps) with the worst case once the second-seed PGD is added: the
    discordant samples can only be those the second seed alone breaks. It fires when the exact
    McNemar test on those pairs is significant (p < stats.ALPHA: at least 6 such samples, since the
    discordance is one-sided) AND they are more than th.restarts of the clean-correct samples."""
    rs = _at_budget(results, norm, eps)
    groups: dict[str, list[StoredResult]] = {}
    for r in rs:
        if r.config.method == "pgd" and r.threat is not None:
            groups.setdefault(_same_but(r, "seed"), []).append(r)
    pairs = []
    for g in groups.values():
        first: dict[int, StoredResult] = {}
        for r in sorted(g, key=lambda r: r.config.seed):
            first.setdefault(r.config.seed, r)
        if len(first) >= 2:
            pairs.append(tuple(first.values())[:2])
    if not pairs:
        return Check(
            "results change with restarts", None, "PGD was not run with two seeds at this budget"
        )
    a, b = pairs[0]
    others = [r for r in rs if r is not b]
    common = b.index
    for r in others:
        common = np.intersect1d(common, r.index)
    without = np.ones(common.size, dtype=bool)
    for r in others:
        without &= r.robust(norm, eps)[r.on(common)]
    with_b = without & b.robust(norm, eps)[b.on(common)]
    if common.size == 0:
        return Check(
            "results change with restarts",
            None,
            f"PGD seed {b.config.seed} shares no sample with the other attacks at this budget",
        )
    t = stats.mcnemar(with_b, without)
    correct = int((a.clean_pred[a.on(common)] == a.label[a.on(common)]).sum())
    only_b = t.a_only_broken  # broken once the second seed is added, by no other attack
    drop = stats.frac(only_b, correct) if correct else 0.0
    fired = t.p_value < stats.ALPHA and drop > th.restarts
    return Check(
        "results change with restarts",
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


def reference_budget(
    results: list[StoredResult], th: Thresholds = THRESHOLDS, train_eps: float | None = None
) -> tuple[str, float] | None:
    """The budget the verdict speaks about: for an adversarially trained model (`train_eps`), its
    training eps where it was attacked there: the claim such a defense makes (a PGD-AT model at
    eps 0.1 makes none at 0.3, where it is broken like any other). Otherwise Linf (else L2) below
    the large-eps probe, with the most results (ties: the larger eps)."""
    options = [
        (n, e) for n, e in budgets(results) if not (n == "Linf" and e >= th.large_eps)
    ] or budgets(results)
    if not options:
        return None
    if train_eps is not None:
        for b in options:
            if b[0] == "Linf" and math.isclose(b[1], train_eps):
                return b
    count = {b: sum(1 for r in results if (r.threat, r.config.eps) == b) for b in options}
    return max(options, key=lambda b: (b[0] == "Linf", count[b], b[1]))


@dataclass
class Where:
    """What the verdict's completing commands need: which model, eval T and budget."""

    run_id: str
    eval_temp: float
    eps: float | None = None
    n_samples: int | None = None
    n_test: int | None = None
    data_problem: str | None = None  # why the model-side checks could not be measured

    def attack_cmd(self) -> str:
        eps = f" --eps {self.eps:g}" if self.eps is not None else ""
        n = f" --n-samples {self.n_samples}" if self.n_samples else ""
        return (
            f"hotbench attack --run {self.run_id} --eval-temp {self.eval_temp:g} --suite adaptive"
            f"{eps}{n}"
        )

    def diagnose_cmd(self) -> str:
        return (
            f"hotbench diagnose --run {self.run_id} --eval-temp {self.eval_temp:g} --data-dir DIR"
        )

    def more_samples_cmd(self, n: int) -> str:
        more = min(4 * n, self.n_test) if self.n_test else 4 * n
        return (
            f"hotbench attack --run {self.run_id} --eval-temp {self.eval_temp:g} --complete"
            f" --n-samples {more}"
        )


def decide(
    checks: list[Check],
    wc: WorstCase | None,
    th: Thresholds = THRESHOLDS,
    output_best: tuple[float, str] | StoredResult | None = None,
    where: Where | None = None,
) -> tuple[str, list[str]]:
    """The verdict and its evidence lines (see the module docstring). `output_best` is the white-box
    attack on the deployed output with the lowest accuracy at the reference budget (a StoredResult:
    compared with the worst case per sample, by McNemar; a (accuracy, name) pair: by the effect size
    only; None: not measured). `where` names the commands that complete an "incomplete" verdict."""
    where = where or Where(wc.run_id if wc is not None else "RUN", wc.eval_temp if wc else 1.0)
    fired = [c for c in checks if c.fired]
    evidence = [f"{c.name}: {c.evidence}" for c in fired]
    if wc is None:
        return "not evaluated", evidence or [
            "no attack result with an eps budget at this eval temperature"
        ]
    evidence.append(wc.summary())
    lo, hi = wc.ci
    below = hi < th.robust_acc  # the whole interval below the threshold
    above = lo >= th.robust_acc
    gap = _output_gap(output_best, wc, th)
    if fired and gap is not None and gap[0]:
        return "masking suspected", evidence + [gap[1]]
    if fired and below and gap is not None:
        return "not robust", evidence + [
            f"masking indicators present, but {gap[1]}: nothing is hidden; worst case"
            f" {wc.robust_acc:.3f} (95% CI {lo:.3f}-{hi:.3f}) < {th.robust_acc:g}"
        ]
    if fired:
        why = (
            "no white-box attack on the output was measured to compare with the worst case"
            if gap is None
            else f"{gap[1]}, yet the worst case (95% CI {lo:.3f}-{hi:.3f}) is not clearly below"
            f" {th.robust_acc:g}"
        )
        return "masking suspected", evidence + [
            f"a masking check fired and {why}: a fired check never allows 'robust'"
        ]
    if below:
        return "not robust", evidence + [
            f"worst case 95% CI {lo:.3f}-{hi:.3f} is below {th.robust_acc:g}"
        ]
    missing = [c for c in checks if c.name in REQUIRED_FOR_ROBUST and c.fired is None]
    missing_names = {c.name for c in missing}
    missing += [
        Check(name, None, "not run")
        for name in REQUIRED_FOR_ROBUST
        if name not in {c.name for c in checks}
    ]
    if missing:
        lines = [f"not measured: {c.name} ({c.evidence})" for c in missing]
        names = {c.name for c in missing} | missing_names
        if names & {"zero gradients", "saturated outputs"}:
            if where.data_problem:
                lines.append(f"the model-side checks need the dataset: {where.data_problem}")
            lines.append(f"complete with: {where.diagnose_cmd()}")
        if names & {"logit attack beats output attack", "black-box beats white-box"}:
            lines.append(f"complete with: {where.attack_cmd()}")
        return "incomplete", evidence + [
            "robust needs every check that can hide masking measured and clear"
        ] + lines
    if above:
        return "robust", evidence + [
            f"no masking check fired, all measured; worst case 95% CI {lo:.3f}-{hi:.3f} >="
            f" {th.robust_acc:g}"
        ]
    return "incomplete", evidence + [
        f"worst case 95% CI {lo:.3f}-{hi:.3f} straddles {th.robust_acc:g}: too few samples to tell",
        f"complete with: {where.more_samples_cmd(wc.n_samples)}",
    ]


def _output_gap(
    output_best: tuple[float, str] | StoredResult | None, wc: WorstCase, th: Thresholds
) -> tuple[bool, str] | None:
    """(does the best output attack leave significantly more than th.beats above the worst case,
    the evidence line) or None when no output attack was measured."""
    if output_best is None:
        return None
    if isinstance(output_best, tuple):
        acc, name = output_best
        big = acc > wc.robust_acc + th.beats
        return big, (
            f"the output's own gradient attack {name} reaches {acc:.3f} (worst case"
            f" {wc.robust_acc:.3f})"
            if not big
            else f"the output attack {name} leaves {acc:.3f}, worst case {wc.robust_acc:.3f}"
        )
    r = output_best
    ra = r.robust(wc.threat, wc.eps)[r.on(wc.index)]
    t = stats.mcnemar(wc.robust, ra)
    big = t.p_value < stats.ALPHA and t.b_acc > t.a_acc + th.beats
    detail = (
        f"{r.name} {t.b_acc:.3f} vs worst case {t.a_acc:.3f} on {t.n} samples,"
        f" {t.discordant} discordant, {stats.fmt_p(t.p_value)}"
    )
    if big:
        return True, f"the paper's kind of attack misses what the others find: {detail}"
    return False, f"the output's own gradient attack already reaches the worst case: {detail}"


# ---- one model, end to end -----------------------------------------------------------------------
def diagnosis_path(ws: Workspace, run_id: str, eval_temp: float) -> Path:
    return ws.run_dir(run_id) / "diagnosis" / f"T{eval_temp:g}.json"


MEASUREMENTS_SCHEMA = "hotbench.measurements/1"


def measurements_path(ws: Workspace, run_id: str) -> Path:
    return ws.run_dir(run_id) / "diagnosis" / "measurements.json"


def _measure_key(eval_temp: float, n: int | None) -> str:
    return f"T{eval_temp:g}/n{'all' if n is None else n}"


def stored_measurement(
    ws: Workspace, record: RunRecord, eval_temp: float, n: int | None
) -> dict[str, Any] | None:
    """The gradient and saturation measurements stored with the run for (eval T, n test images),
    if they were made on the weights stored now (same sha256 as run.json's): retrained or replaced
    weights are measured again."""
    path = measurements_path(ws, record.run_id)
    if not path.is_file():
        return None
    try:
        doc = read_json_checked(path)
    except HotbenchError:  # damaged: measured again, and rewritten by the next command that stores
        return None
    if (
        doc.get("schema") != MEASUREMENTS_SCHEMA
        or doc.get("weights_sha256") != record.weights_sha256
    ):
        return None
    return doc.get("entries", {}).get(_measure_key(eval_temp, n))


def measure(
    ctx: Context, record: RunRecord, eval_temp: float, n: int | None, store: bool = True
) -> dict[str, Any]:
    """Gradient health and saturation of the model on its first `n` test images at `eval_temp`.

    They cost a forward and backward pass over the test images, which the report would otherwise
    pay on every call (torch's import included): so they are stored with the run, keyed by the
    weights' sha256, by the commands that compute (attack, run, diagnose) and reused by `report`,
    which never writes (`store=False`)."""
    hit = stored_measurement(ctx.ws, record, eval_temp, n)
    if hit is not None:
        return hit
    from ..units import load_run_data

    data = load_run_data(record, ctx.data_dir, ctx.download).test.head(n)
    net = ctx.ws.load_model(record, ctx.device)
    entry = {
        "gradients": gradient_health(net, data.x, data.y, eval_temp),
        "saturation": saturation(net, data.x, eval_temp),
    }
    if store:
        with ctx.ws.lock(record.run_id):
            path = measurements_path(ctx.ws, record.run_id)
            sha = record.weights_sha256
            doc: dict[str, Any] = {}
            if path.is_file():
                try:
                    doc = read_json_checked(path)
                except HotbenchError:
                    doc = {}
            if doc.get("schema") != MEASUREMENTS_SCHEMA or doc.get("weights_sha256") != sha:
                doc = {"schema": MEASUREMENTS_SCHEMA, "weights_sha256": sha, "entries": {}}
            doc.pop("checksum", None)
            doc["entries"][_measure_key(eval_temp, n)] = entry
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, doc)
    return entry


def measurement_size(ws: Workspace, run_id: str, eval_temp: float) -> int | None:
    """How many test images the diagnosis of (run, eval T) measures on: as many as its largest
    stored attack result (the same rule as `diagnose_run`)."""
    return max((r.index.size for r in load_stored(ws, run_id, eval_temp)), default=None)


def store_measurements(ctx: Context, records: list[RunRecord]) -> None:
    """After attacks: measure every attacked (run, eval T) that has no stored measurement yet, so
    that `report` finds them. Skipped where the data is not reachable (the report then measures,
    or does without)."""
    for rec in records:
        for t in eval_temps(ctx.ws, rec):
            n = measurement_size(ctx.ws, rec.run_id, t)
            if n is None or stored_measurement(ctx.ws, rec, t, n) is not None:
                continue
            try:
                measure(ctx, rec, t, n, store=True)
            except HotbenchError:
                continue


def diagnose_run(
    ctx: Context,
    record: RunRecord,
    eval_temp: float,
    run_missing: bool = True,
    eps: float | None = None,
    n_samples: int | None = None,
) -> dict[str, Any]:
    """Diagnose one model at one eval temperature. With `run_missing`, the cheap probe attacks the
    checks need are run and stored first: PGD on the output at the large eps, and PGD with a second
    seed at the reference eps. Returns the diagnosis document (not stored; see `save`). The
    thresholds are THRESHOLDS."""
    ws, th = ctx.ws, THRESHOLDS
    results = load_stored(ws, record.run_id, eval_temp)
    ref = reference_budget(results, th, record.config.resolved().train_eps)
    if eps is not None:
        ref = ("Linf", float(eps))
    n = n_samples or max((r.index.size for r in results), default=None)
    if run_missing:
        if ref is None:
            raise HotbenchError(
                f"no attack result on {record.run_id} at eval T={eval_temp:g} to diagnose",
                "run `hotbench attack --suite adaptive` first, or pass --eps to probe with PGD",
            )
        pgd = sorted(
            (
                r
                for r in _at_budget(results, *ref)
                if r.config.method == "pgd" and r.config.on == "output"
            ),
            key=lambda r: r.config.seed,
        )
        base = (
            pgd[0].config
            if pgd
            else AttackConfig(method="pgd", eps=ref[1], eval_temp=eval_temp, n_samples=n)
        )
        probes = [] if pgd else [base]
        # a second seed only if none yet
        if ref[0] == "Linf" and check_restarts(results, *ref, th).fired is None:
            probes.append(base.model_copy(update={"seed": base.seed + 1}))
        if not _large_eps_results(results, th):
            probes.append(
                AttackConfig(
                    method="pgd", eps=th.large_eps, eval_temp=eval_temp, n_samples=n, seed=base.seed
                )
            )
        from ..units import ensure_attacked

        for cfg in probes:
            ensure_attacked(ctx.unforced(), record, cfg)
        results = load_stored(ws, record.run_id, eval_temp)
        n = n_samples or max(r.index.size for r in results)

    if ref is not None and not _at_budget(results, *ref):  # only with --no-probe and --eps
        raise HotbenchError(
            f"no attack result on {record.run_id} at eval T={eval_temp:g} within {ref[0]} eps"
            f" {ref[1]:g} to diagnose, and --no-probe",
            "drop --no-probe (diagnose then runs PGD at that eps), or attack it at that eps first",
        )
    grad = sat = None
    data_problem = None
    n_test = record.doc.get("metrics", {}).get("n_test")
    try:
        measured = measure(ctx, record, eval_temp, n, store=run_missing)
        grad, sat = measured["gradients"], measured["saturation"]
    except HotbenchError as exc:
        if run_missing:
            raise
        # the report may run where the dataset is not reachable: the checks on stored results still
        # stand, the model-side ones are "not measured", and the verdict cannot be "robust"
        data_problem = str(exc)
    checks = [check_zero_gradients(grad, th), check_saturation(sat, th), check_ties(sat, th)]
    wc = output_best = None
    if ref is not None:
        output_best = _best(
            [
                r
                for r in _at_budget(results, *ref)
                if r.threat is not None
                and _spec(r).gradient
                and r.config.on == "output"
                and r.config.method not in ("autoattack", "transfer")
            ],
            *ref,
        )
        checks += [
            check_single_step(results, *ref, th),
            check_black_box(results, *ref, th),
            check_logits(results, *ref, th),
            check_restarts(results, *ref, th),
        ]
        wc = worst_case(results, record.run_id, eval_temp, *ref)
    checks += [check_large_eps(results, th), check_monotone(results, th)]
    where = Where(
        record.run_id,
        eval_temp,
        None if ref is None else ref[1],
        n,
        n_test,
        data_problem,
    )
    verdict, evidence = decide(checks, wc, th, output_best, where)
    return {
        "schema": DIAGNOSIS_SCHEMA,
        "run_id": record.run_id,
        "eval_temp": eval_temp,
        "verdict": verdict,
        "evidence": evidence,
        "reference": None if ref is None else {"threat_model": ref[0], "eps": ref[1]},
        "robust_acc": None if wc is None else wc.robust_acc,
        "n_robust": None if wc is None else wc.n_robust,
        "robust_n": None if wc is None else wc.n_samples,
        "ci_low": None if wc is None else wc.ci[0],
        "ci_high": None if wc is None else wc.ci[1],
        "ci_method": stats.INTERVAL_METHOD,
        "clean_acc": None if wc is None else wc.clean_acc,
        "top_attack": None if wc is None else wc.top_attack,
        "top_attacks": [] if wc is None else wc.top_attacks,
        "data_problem": data_problem,
        "breaks": {} if wc is None else wc.breaks,
        "n_samples": n,
        "gradients": grad,
        "saturation": sat,
        "checks": [asdict(c) for c in checks],
        "thresholds": asdict(th),
        "attack_ids": sorted(r.attack_id for r in results),
        "weights_sha256": record.weights_sha256,
        "created": now(),
    }


def save(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    with ws.lock(doc["run_id"]):
        return atomic_write_json(diagnosis_path(ws, doc["run_id"], doc["eval_temp"]), doc)


def eval_temps(ws: Workspace, record: RunRecord) -> list[float]:
    """The eval temperatures the run was attacked at (the training T when never attacked)."""
    temps = sorted({r.eval_temp for r in load_stored(ws, record.run_id)}, reverse=True)
    return temps or [record.config.temp]


def current(ws: Workspace, record: RunRecord, eval_temp: float) -> dict[str, Any] | None:
    """The stored diagnosis if it was made from exactly the results stored now (else None:
    stale)."""
    path = diagnosis_path(ws, record.run_id, eval_temp)
    if not path.is_file():
        return None
    doc = read_json_checked(path)
    ids = sorted(r.attack_id for r in load_stored(ws, record.run_id, eval_temp))
    fresh = (
        doc.get("schema") == DIAGNOSIS_SCHEMA
        and doc.get("thresholds") == asdict(THRESHOLDS)
        and doc.get("weights_sha256") == record.weights_sha256  # not of weights since replaced
    )
    return doc if fresh and doc.get("attack_ids") == ids else None


def report_verdicts(
    ws: Workspace, records: list[RunRecord], data_dir: Path | None = None
) -> dict[tuple[str, float], dict[str, Any]]:
    """For the report: (run_id, eval T) -> diagnosis. A current stored diagnosis is reused;
    otherwise one is computed from what is stored (no attack is run, nothing is written: the report
    stays read-only).
    """
    # read-only: no probe runs, so no progress; the data is where run.json says unless `data_dir`.
    # Measurements stored with the run are reused (the weights' hash must match); missing ones are
    # computed on the CPU and not stored.
    ctx = Context(ws, "cpu", data_dir=data_dir)  # type: ignore[arg-type]  # torch not imported
    out = {}
    for rec in records:
        for t in eval_temps(ws, rec):
            if not load_stored(ws, rec.run_id, t):
                continue
            out[(rec.run_id, t)] = current(ws, rec, t) or diagnose_run(
                ctx, rec, t, run_missing=False
            )
    return out


def render_diagnoses(
    docs: list[dict[str, Any]], fmt: str = "table", width: int | None = None
) -> str:
    """Diagnoses as JSON (a list of documents) or as a rich table with the evidence under each
    row."""
    if fmt == "json":
        return json.dumps(docs, indent=1) + "\n"
    table = Table(
        title="hotbench diagnose: gradient masking",
        box=box.SIMPLE_HEAVY,
        caption="robust = per-sample worst case over every stored attack at the budget",
    )
    for h in (
        "run",
        "eval T",
        "budget",
        "clean",
        "robust",
        "broken most by",
        "zero grad out/z",
        "verdict",
    ):
        table.add_column(
            h, justify="left" if h in ("run", "broken most by", "verdict", "budget") else "right"
        )
    lines = []
    for d in docs:
        g, ref = d.get("gradients"), d.get("reference")
        table.add_row(
            d["run_id"],
            f"{d['eval_temp']:g}",
            "-" if ref is None else f"{ref['threat_model']} ε={ref['eps']:g}",
            stats.fmt_acc(d.get("clean_acc")),
            stats.fmt_acc(
                d.get("robust_acc"), (d.get("ci_low"), d.get("ci_high")), d.get("robust_n"), True
            ),
            d.get("top_attack") or "-",
            "-" if g is None else f"{g['output']['zero_frac']:.2f}/{g['logits']['zero_frac']:.2f}",
            d["verdict"],
        )
        lines.append(f"{d['run_id']} at eval T={d['eval_temp']:g}: {d['verdict']}")
        lines += [f"  - {e}" for e in d["evidence"]]
    return plain_text(table, width or 160) + "\n".join(lines) + "\n"


ROBUST_PREFIX = "robust"
BROKEN_BY = "broken most by"
VERDICT = "verdict"


def annotate_rows(
    ws: Workspace,
    records: list[RunRecord],
    rows: list[Any],
    verdicts: dict[tuple[str, float], dict[str, Any]] | None = None,
) -> list[str]:
    """The report's extra columns, filled into its rows (report.Row: .run_id, .eval_temp, .adv,
    .notes): the worst case per budget ("robust ε=0.3", "robust L2 ε=0.5"), the attack that broke
    the most samples at the reference budget, and the verdict. Returns the column names to append
    (none if nothing was attacked).
    """
    by_run = {r.run_id: r for r in records}
    robust_cols: list[str] = []
    verdicts = report_verdicts(ws, records) if verdicts is None else verdicts
    for rec in records:
        for wc in worst_cases(ws, rec):
            if wc.n_samples == 0:
                continue
            col = (
                f"{ROBUST_PREFIX} ε={wc.eps:g}"
                if wc.threat == "Linf"
                else f"{ROBUST_PREFIX} {wc.threat} ε={wc.eps:g}"
            )
            for row in rows:
                if row.run_id == rec.run_id and math.isclose(row.eval_temp, wc.eval_temp):
                    row.adv[col] = wc.robust_acc
                    row.ci[col] = wc.ci
                    row.n[col] = wc.n_samples
                    row.mixed = row.mixed or wc.mixed
            if col not in robust_cols:
                robust_cols.append(col)
    for row in rows:
        doc = verdicts.get((row.run_id, row.eval_temp)) if row.run_id in by_run else None
        if doc is not None:
            row.notes[BROKEN_BY] = doc.get("top_attack") or "-"
            row.notes[VERDICT] = doc["verdict"]
    robust_cols.sort(key=lambda c: (" L2 " in c, float(c.rsplit("=", 1)[1])))
    return robust_cols + ([BROKEN_BY, VERDICT] if verdicts else [])


def verdict_lines(
    ws: Workspace,
    records: list[RunRecord],
    verdicts: dict[tuple[str, float], dict[str, Any]] | None = None,
) -> list[str]:
    """The evidence under each verdict, as text lines for reports."""
    lines = []
    for (run_id, t), doc in (
        report_verdicts(ws, records) if verdicts is None else verdicts
    ).items():
        lines.append(f"verdict of {run_id} at eval T={t:g}: {doc['verdict']}")
        lines += [f"  - {e}" for e in doc["evidence"]]
    return lines
