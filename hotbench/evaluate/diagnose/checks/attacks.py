"""Checks that compare attacks on the same samples (Carlini et al. 2019, "On Evaluating Adversarial
Robustness"; AutoAttack's flags): an attack that should be weaker finding more than the gradient
attacks on the deployed output means those attacks are fooled. Each is an exact McNemar test on
the paired per-sample outcomes plus the effect size Thresholds.beats (select.beats)."""

from __future__ import annotations

from ..commands import Where
from ..select import (
    at_budget,
    beats,
    best,
    independent_transfer,
    queries,
    spec,
    white_box_output,
)
from ..spec import Evidence, Finding, Probe, check
from ..thresholds import THRESHOLDS, Thresholds


def _no_budget() -> Finding:
    return Finding(None, "no attack result with an eps budget")


def _white(ev: Evidence) -> list:
    assert ev.budget is not None
    return [r for r in at_budget(ev.results, *ev.budget) if white_box_output(r)]


@check(
    "single-step beats iterative",
    "a one-step attack (FGSM) leaves less accuracy than the iterative ones on the output",
    threshold="beats",
    complete=lambda w: w.paper_cmd(),
)
def single_step(ev: Evidence, th: Thresholds) -> Finding:
    if ev.budget is None:
        return _no_budget()
    rs = _white(ev)
    single = [r for r in rs if spec(r).single_step]
    iterative = [r for r in rs if spec(r).uses_steps and r.threat is not None]
    return beats(
        best(single, *ev.budget),
        best(iterative, *ev.budget),
        ("single-step", "iterative"),
        ev.budget,
        th,
    )


def _square_cmd(w: Where) -> str:
    return w.square_cmd(THRESHOLDS.square_queries)


@check(
    "black-box beats white-box",
    "a query-based black-box attack (Square, >= Thresholds.square_queries queries) leaves less"
    " accuracy than every gradient attack on the output",
    required=True,
    threshold="beats",
    complete=_square_cmd,
    probe=lambda ev, base, th: [
        Probe(
            base.model_copy(update={"method": "square", "params": {"n_queries": th.square_queries}})
        )
    ],
)
def black_box(ev: Evidence, th: Thresholds) -> Finding:
    if ev.budget is None:
        return _no_budget()
    rs = at_budget(ev.results, *ev.budget)
    counted = [r for r in rs if (queries(r) or 0) >= th.square_queries]
    if not counted:
        few = [r for r in rs if queries(r) is not None]
        if few:
            q = max(queries(r) or 0 for r in few)
            return Finding(
                None,
                f"{few[0].name} ran with {q} queries, fewer than the {th.square_queries} that count"
                " (Thresholds.square_queries)",
                complete=ev.where.square_cmd(th.square_queries),
            )
        return Finding(None, "no query-based black-box attack (square) at this budget")
    return beats(
        best(counted, *ev.budget),
        best(_white(ev), *ev.budget),
        ("black-box", "white-box on the output"),
        ev.budget,
        th,
    )


@check(
    "transfer beats white-box",
    "PGD crafted on an independent surrogate (the dataset's built-in arch, another seed) leaves"
    " less accuracy than every gradient attack on the output",
    required=True,
    threshold="beats",
    complete=lambda w: w.transfer_cmd(),
    probe=lambda ev, base, th: [Probe(base.model_copy(update={"method": "transfer"}))],
)
def transfer(ev: Evidence, th: Thresholds) -> Finding:
    if ev.budget is None:
        return _no_budget()
    rs = [r for r in at_budget(ev.results, *ev.budget) if spec(r).surrogate]
    counted = [r for r in rs if independent_transfer(r)]
    if not counted:
        if rs:
            sur = rs[0].doc.get("surrogate") or {}
            what = (
                f"surrogate {sur['run_id']} ({sur.get('arch')})"
                if sur.get("run_id")
                else "a surrogate this hotbench did not record"
            )
            return Finding(
                None,
                f"{rs[0].name} was crafted on {what}, which is not independent of the target (a"
                " user's network or the target's own config inherits its gradient)",
            )
        return Finding(None, "no transfer attack at this budget")
    return beats(
        best(counted, *ev.budget),
        best(_white(ev), *ev.budget),
        ("transfer", "white-box on the output"),
        ev.budget,
        th,
    )


@check(
    "logit attack beats output attack",
    "an attack on the pre-activation logits z / T_train leaves less accuracy than the same kind on"
    " the deployed output act(z / T)",
    required=True,
    threshold="beats",
    complete=lambda w: w.logits_cmd(),
    probe=lambda ev, base, th: [Probe(base.model_copy(update={"on": "logits"}))],
)
def logits(ev: Evidence, th: Thresholds) -> Finding:
    if ev.budget is None:
        return _no_budget()
    rs = at_budget(ev.results, *ev.budget)
    return beats(
        best([r for r in rs if r.config.on == "logits"], *ev.budget),
        best(_white(ev), *ev.budget),
        ("logit attack", "output attack"),
        ev.budget,
        th,
    )
