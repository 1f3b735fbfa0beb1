"""Is the model more robust than no defense at all? The worst case of a threshold means nothing
without a reference: an undefended digits CNN keeps 0.495 at eps 0.1, above 0.30. So "robust"
requires the worst case to be significantly above that of the undefended reference of the same
dataset and architecture at the same budget (reference.py), by an exact McNemar test on the samples
both were attacked on, plus Thresholds.beats."""

from __future__ import annotations

import numpy as np

from .... import stats
from ...worstcase import positions
from ..reference import REFERENCE_EVAL_TEMP
from ..spec import Evidence, Finding, Probe, check
from ..thresholds import Thresholds


@check(
    "no better than undefended",
    "the worst case is not significantly above the undefended reference's (same dataset and"
    " architecture, no defense, no output activation) on shared samples",
    required=True,
    threshold="beats",
    effect="not robust",
    probe=lambda ev, base, th: (
        []
        if ev.reference is None or ev.reference.same
        else [
            Probe(
                base.model_copy(update={"eval_temp": REFERENCE_EVAL_TEMP, "on": "output"}),
                ev.reference.config,
            )
        ]
    ),
)
def above_reference(ev: Evidence, th: Thresholds) -> Finding:
    wc, ref = ev.worst, ev.reference
    if wc is None:
        return Finding(None, "no attack result with an eps budget")
    if ref is None:
        return Finding(None, "the undefended reference was not looked up")
    if ref.same:
        return Finding(
            True,
            f"this model is the undefended reference of its dataset and architecture"
            f" ({ref.config.arch}, no defense, no output activation): there is no defense to"
            " credit",
            {"reference": ref.run_id},
        )
    if ref.worst is None:
        return Finding(None, f"no undefended reference: {ref.missing}")
    common = np.intersect1d(wc.index, ref.worst.index)
    if common.size == 0:
        return Finding(
            None,
            f"the undefended reference {ref.run_id} was attacked on other samples",
            complete=ev.where.diagnose_cmd(),
        )
    a = wc.per_sample[positions(wc.index, common)]
    b = ref.worst.per_sample[positions(ref.worst.index, common)]
    t = stats.paired_test(a, b)
    above = t.p_value < stats.ALPHA and t.a_acc > t.b_acc + th.beats
    detail = (
        f"worst case {t.a_acc:.3f} vs {t.b_acc:.3f} of the undefended reference {ref.run_id} on"
        f" {t.n} shared samples, {t.discordant} discordant, {stats.fmt_p(t.p_value)}"
    )
    numbers = {
        "reference": ref.run_id,
        "acc": t.a_acc,
        "reference_acc": t.b_acc,
        "n": t.n,
        "discordant": t.discordant,
        "p_value": t.p_value,
    }
    if above:
        return Finding(False, f"significantly above no defense: {detail}", numbers)
    if t.a_acc <= t.b_acc + th.beats:
        return Finding(True, f"not significantly above no defense: {detail}", numbers)
    return Finding(
        None,
        f"above by more than {th.beats:g} but not significantly: {detail}; too few samples to tell",
        numbers,
        complete=ev.where.more_samples_cmd(t.n),
    )
