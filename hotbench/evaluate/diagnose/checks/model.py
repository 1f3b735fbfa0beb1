"""Checks on the model itself, from measurements.py: does the deployed output's gradient vanish,
does the output sit at the activation's bound, are predictions decided by ties?"""

from __future__ import annotations

from ..spec import Evidence, Finding, check
from ..thresholds import Thresholds


def _data_missing(ev: Evidence) -> str:
    return f"not measured ({ev.where.data_problem})" if ev.where.data_problem else "not measured"


@check(
    "zero gradients",
    "inputs whose cross-entropy gradient on the deployed output is exactly zero",
    required=True,
    threshold="zero_grad",
)
def zero_gradients(ev: Evidence, th: Thresholds) -> Finding:
    grad = ev.gradients
    if grad is None:
        return Finding(None, _data_missing(ev))
    o, z = grad["output"], grad["logits"]
    return Finding(
        o["zero_frac"] > th.zero_grad,
        f"{o['zero_frac']:.2f} of inputs have an exactly-zero output gradient (median norm"
        f" {o['median_norm']:.2g}); on the logits {z['zero_frac']:.2f} (median norm"
        f" {z['median_norm']:.2g})",
        {
            "output_zero_frac": o["zero_frac"],
            "logits_zero_frac": z["zero_frac"],
            "output_median_norm": o["median_norm"],
            "logits_median_norm": z["median_norm"],
        },
    )


@check(
    "saturated outputs",
    "output entries exactly at the activation's bound (tanh: +-1.0)",
    required=True,
    threshold="saturated",
)
def saturated_outputs(ev: Evidence, th: Thresholds) -> Finding:
    sat = ev.saturation
    if sat is None:
        return Finding(None, _data_missing(ev))
    f = sat["at_bound_frac"]
    if f is None:
        return Finding(False, "the activation has no bound")
    return Finding(
        f > th.saturated,
        f"{f:.2f} of outputs are exactly at the activation's bound",
        {"at_bound_frac": f},
    )


@check(
    "argmax ties",
    "clean predictions decided by an argmax tie among saturated outputs",
    threshold="ties",
)
def argmax_ties(ev: Evidence, th: Thresholds) -> Finding:
    sat = ev.saturation
    if sat is None:
        return Finding(None, _data_missing(ev))
    f = sat["tie_frac"]
    return Finding(
        f > th.ties,
        f"{f:.2f} of clean predictions are decided by an argmax tie",
        {"tie_frac": f},
    )
