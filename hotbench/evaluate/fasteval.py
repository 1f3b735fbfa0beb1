"""Evaluation that does only the work it must, without changing any result.

Three savings, each exact:
1. Only clean-correct samples are attacked (`attacks.engine.run_attack`): a misclassified input is
   already an adversarial example at zero perturbation.
2. Inside a batch, an attack stops as soon as every sample has a kept adversarial point
   (`attacks.tracking.Tracked.stop_early`): a found sample's result is its first success whatever
   comes next.
3. Skip mode (AutoAttack's practice): in a suite or worst-case evaluation the attacks run in order,
   each on the samples that every earlier attack left robust. The worst case per sample (an AND over
   the per-attack results) is unchanged, because a skipped sample was already broken. Each skip-mode
   result is stored as a
   normal result file whose config carries `skip_after` (the exact ids of the attacks that ran
   before it): it hashes apart from the exact run of the same attack and reports label it
   "(partial)", since its per-attack accuracy counts the skipped samples as robust. When per-attack
   numbers are wanted, run the suite without skip mode: every attack on all clean-correct samples.

Skip mode is exact only if a sample's outcome does not depend on which other samples share its
batch. That holds for the deterministic attacks (fgsm, bim, mim, cw, deepfool) and for pgd, whose
random start hotbench seeds per sample (`attacks.patched.seeded_pgd`); attacks that seed per batch
(pgdl2, apgd, square, fab) still give valid but differently drawn results in skip mode.
`naive_robust` is the reference both are checked against (tests/evaluate/test_fasteval.py,
benchmarks/bench.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import draws
from ..attacks.engine import Batch, attack_batch, judge
from ..attacks.spec import ATTACKS
from ..config import AttackConfig
from ..context import Context
from ..data import Split
from ..errors import HotbenchError
from ..models import HotNet
from ..store import RunRecord
from ..units import ensure_attacked, load_run_data


def robust_mask(doc: dict[str, Any]) -> np.ndarray:
    """Per sample of a stored result: still classified correctly after the attack; on a randomized
    model (hotbench.draws), on at least one draw. Skip mode stays exact there: a skipped sample
    was broken on every draw, so its per-sample worst case (worstcase.worst_over_draws) is 0
    whatever a later attack does."""
    ps = doc["per_sample"]
    if "adv_draws" in ps:
        return draws.outcomes(doc)[1].any(1)
    return np.asarray(ps["adv_pred"]) == np.asarray(ps["label"])


def expected_robust(doc: dict[str, Any]) -> np.ndarray:
    """Per sample of a stored result: its accuracy over the model's draws (0 or 1 on a
    deterministic model)."""
    return draws.outcomes(doc)[1].mean(1)


@dataclass
class SuiteResult:
    """The stored docs of one chain of a suite (same eval T and sample count), in suite order."""

    docs: list[dict[str, Any]]
    fresh: list[bool]

    @property
    def worst_case(self) -> np.ndarray:
        """Per sample: robust against every attack of the chain (exact in both modes); on a
        randomized model, the lowest accuracy over draws that an attack of the chain reached."""
        if any("adv_draws" in d["per_sample"] for d in self.docs):
            return np.minimum.reduce([expected_robust(d) for d in self.docs])
        out = robust_mask(self.docs[0])
        for d in self.docs[1:]:
            out = out & robust_mask(d)
        return out


def chains(configs: list[AttackConfig]) -> list[list[AttackConfig]]:
    """Group resolved configs by (eval T, n_samples, eps): a worst case only makes sense per
    deployed model, over the same samples and within one budget. Minimum-norm attacks (cw, deepfool:
    no budget) form their own chain, so they never skip a sample because of a bounded attack or the
    reverse. Order inside a chain is the suite's order (cheap attacks first pays off most)."""
    groups: dict[tuple[float, int, float | None], list[AttackConfig]] = {}
    for c in configs:
        budget = float(c.eps) if ATTACKS.get(c.method).norm is not None else None
        groups.setdefault((float(c.eval_temp), int(c.n_samples), budget), []).append(c)
    return list(groups.values())


def ensure_suite(
    ctx: Context, record: RunRecord, configs: list[AttackConfig], skip: bool = True
) -> list[SuiteResult]:
    """Evaluate a suite of attacks on one model, one SuiteResult per (eval T, n_samples) chain.

    skip=False: every attack on all clean-correct samples (exact per-attack numbers; plain
    ensure_attacked). skip=True: each attack only on the samples the earlier ones left robust. A
    stored exact result of an earlier attack is reused as is (it holds at least the information the
    skip-mode run would), and stored skip-mode results are reused, so an interrupted suite
    resumes."""
    ws = ctx.ws
    n_test = len(load_run_data(record, ctx.data_dir, ctx.download).test)
    resolved = [c.resolved(record.config.temp, n_test) for c in configs]
    if any(c.partial for c in resolved):
        raise HotbenchError(
            "a suite config already carries skip_after",
            "pass plain attack configs; fasteval adds the marker",
        )
    out = []
    for chain in chains(resolved):
        docs, fresh = [], []
        still: np.ndarray | None = None  # robust to every attack so far
        before: list[str] = []  # exact ids of the attacks so far
        for cfg in chain:
            exact = not ctx.force and ws.stored_result(record, cfg.attack_id(record.run_id))
            if not skip or still is None or exact:
                doc, new = ensure_attacked(ctx, record, cfg)
            else:
                partial = cfg.model_copy(update={"skip_after": tuple(before)})
                doc, new = ensure_attacked(ctx, record, partial, only=torch.from_numpy(still))
            docs.append(doc)
            fresh.append(new)
            rob = robust_mask(doc)
            still = rob if still is None else still & rob
            before.append(cfg.attack_id(record.run_id))
        out.append(SuiteResult(docs, fresh))
    return out


def attack_runs(
    ctx: Context,
    records: list[RunRecord],
    configs: list[AttackConfig],
    fast: bool = False,
    complete: bool = False,
) -> list[dict[str, Any]]:
    """Every attack config on every run (stored results are reused), one log line per result; the
    result documents, in order. `fast`: skip mode per run (`ensure_suite`), one log line per chain
    with its worst case (the per-attack numbers after the first attack are partial). `complete`: a
    config stored on fewer samples is extended (units.ensure_attacked)."""
    docs: list[dict[str, Any]] = []
    bar = ctx.reporter.overall(
        f"attack: {len(records) * len(configs)} units", len(records) * len(configs)
    )
    for rec in records:
        if fast:
            for chain in ensure_suite(ctx, rec, configs, skip=True):
                c = chain.docs[0]["config"]
                ctx.reporter.log(
                    f"worst case {rec.run_id} eval T={c['eval_temp']:g} over {len(chain.docs)}"
                    f" attacks: robust {chain.worst_case.mean():.3f} (per-attack numbers after"
                    " the first are partial)"
                )
                docs += chain.docs
                bar.advance(len(chain.docs))
            continue
        for cfg in configs:
            doc, fresh = ensure_attacked(ctx, rec, cfg, complete=complete)
            _log(ctx, rec.run_id, doc, fresh)
            docs.append(doc)
            bar.advance()
    return docs


def _log(ctx: Context, run_id: str, doc: dict[str, Any], fresh: bool) -> None:
    m = doc["metrics"]
    ctx.reporter.log(
        f"{'attacked' if fresh else 'stored  '} {run_id}"
        f" {AttackConfig(**doc['config']).label} eval T={doc['config']['eval_temp']:g}:"
        f" clean {m['clean_acc']:.3f} adv {m['adv_acc']:.3f}"
        + (f" (n={m['n_samples']})" if "n_samples" in m else "")
        + _randomness_note(doc)
    )


def _randomness_note(doc: dict[str, Any]) -> str:
    """What the log says of a randomized model (expected accuracies, EOT), or of --eot/--draws
    asked for on a deterministic one."""
    r = doc.get("randomness")
    if not r:
        return ""
    if not r.get("randomized"):
        return "; the model is deterministic: --eot and --draws change nothing"
    return (
        f"; randomized model ({r['changed']:.2f} of predictions change between draws):"
        f" expected over {r['draws']} draws, EOT {r['eot']}"
    )


def complete_runs(
    ctx: Context,
    records: list[RunRecord],
    eval_temps: list[float | None],
    n_samples: int | None = None,
) -> list[dict[str, Any]]:
    """`attack --complete` without --method: extend every stored (exact) attack of `records` at
    `eval_temps` (None: all) to `n_samples`, or to the largest n stored for its model and eval T,
    attacking only the missing samples. Afterwards a row's attacks share one sample set, so its
    worst case is on the samples of every cell instead of shrinking to the smallest attack."""
    temps = [t for t in eval_temps if t is not None]
    docs: list[dict[str, Any]] = []
    for rec in records:
        stored = [AttackConfig(**d["config"]) for d in ctx.ws.load_results(rec.run_id)]
        stored = [c for c in stored if not c.partial]
        if temps:
            stored = [c for c in stored if any(math.isclose(c.eval_temp, t) for t in temps)]
        largest: dict[float, int] = {}
        for c in stored:
            largest[c.eval_temp] = max(largest.get(c.eval_temp, 0), c.n_samples or 0)
        wanted: dict[str, AttackConfig] = {}
        for c in stored:
            w = c.model_copy(update={"n_samples": n_samples or largest[c.eval_temp]})
            wanted[w.model_dump_json()] = w
        for cfg in sorted(wanted.values(), key=lambda c: (-c.eval_temp, c.label)):
            doc, fresh = ensure_attacked(ctx, rec, cfg, complete=True)
            _log(ctx, rec.run_id, doc, fresh)
            docs.append(doc)
    return docs


def naive_robust(net: HotNet, test: Split, cfg: AttackConfig, device: torch.device) -> np.ndarray:
    """The reference: attack every sample (clean-wrong ones too), run every iteration, reuse
    nothing.

    Per sample: correct after the attack. Same attack code, seeds and threat-model checks as
    hotbench, so any difference from the fast paths would be a change of results, not of method."""
    net.eval()
    data = test.head(cfg.n_samples)
    deployed = net.deployed(cfg.eval_temp)
    spec = ATTACKS.get(cfg.method)
    robust = np.zeros(len(data), dtype=bool)
    for b, i in enumerate(range(0, len(data), cfg.batch_size)):
        idx = torch.arange(i, min(i + cfg.batch_size, len(data)))
        x, y = data.x[idx].to(device), data.y[idx].to(device)
        adv, _ = attack_batch(
            net, cfg, Batch(x, y, idx), seed=cfg.seed * 100_003 + b, stop_early=False
        )
        robust[idx.numpy()] = (judge(deployed, adv, spec).cpu() == data.y[idx]).numpy()
    return robust
