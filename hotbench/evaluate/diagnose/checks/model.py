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


RANDOMIZED = "randomized model"


def randomness_of(ev: Evidence) -> dict | None:
    """What is known of the model's randomness: the measurement stored with the run, else what an
    attack result recorded when it was computed (each attack unit checks its model)."""
    if ev.randomness is not None:
        return ev.randomness
    for r in ev.results:
        seen = r.doc.get("randomness")
        if seen and seen.get("randomized"):
            return seen
    return None


@check(
    RANDOMIZED,
    "repeated eval-mode forward passes of the same clean inputs give different logits (noise,"
    " random transforms, dropout at inference): only attacks with EOT, measured over draws, speak"
    " for such a model",
    effect="randomized",
)
def randomized_model(ev: Evidence, th: Thresholds) -> Finding:
    seen = randomness_of(ev)
    if seen is None:
        return Finding(None, _data_missing(ev))
    numbers = {k: seen[k] for k in ("changed", "moved", "passes", "n") if k in seen}
    if not seen["randomized"]:
        return Finding(
            False,
            f"deterministic: {seen['passes']} forward passes of {seen['n']} clean inputs give the"
            " same logits",
            numbers,
        )
    return Finding(
        True,
        f"{seen['changed']:.2f} of predictions change between draws ({seen['passes']} forward"
        f" passes of {seen['n']} clean inputs; logits move by up to {seen['moved']:.2g} of their"
        " scale)",
        numbers,
    )
