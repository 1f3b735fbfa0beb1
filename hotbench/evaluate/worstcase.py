"""Per-sample worst case over every stored attack on a model: the robust accuracy hotbench reports.

A sample counts as robust at (threat model, eps) only if it is clean-correct and no attack that
counts at that budget broke it with a perturbation inside the budget. The attacks that count at
(norm, eps) are the minimum-norm ones (cw, deepfool: no budget of their own) and those run in that
norm at that eps or a smaller one (`counts_at`): an eps=0.1 success also counts at eps=0.3, but an
attack at eps 8 or in another norm does not enter the eps 0.3 worst case, its sample set or its
coverage (`attack --method pgd --eps 8 --n-samples 10` once shrank a model's eps 0.3 worst case to
those 10 samples). A counted result breaks sample i when it misclassifies i and its stored
perturbation size in that norm is <= eps, so a minimum-norm attack breaks a sample only where its
perturbation fits. This is exact (no min over averages), because results store per-sample outcomes
and perturbation sizes.

Results run in skip mode (hotbench.fasteval) carry an "attacked" mask: the samples they skipped were
broken by an earlier attack in another file, and are listed correct here, so the per-sample AND over
files stays exact and the mask needs no special handling.

One sample set per comparison: results evaluated on different sample sets are combined on the
samples they all share (a sample only one attack saw cannot be called robust), so the worst case is
<= every attack's accuracy *on those samples* by construction. The WorstCase says which samples
(`samples`: the first N of the test split, or an explicit list), how many each attack covered
(`coverage`), and whether they differed (`mixed`): the report then shows n per cell and marks the
row, and `hotbench attack --complete` extends the smaller results instead of shrinking the
comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import draws, stats
from ..attacks.spec import ATTACKS
from ..config import AttackConfig, stable_hash
from ..store import RunRecord, Workspace


def _fits(size: np.ndarray, eps: float) -> np.ndarray:
    """Same tolerance as attacks.tracking.inside (stored sizes are rounded to 6 decimals)."""
    return size <= eps * (1 + 1e-5) + 1e-6


@dataclass
class StoredResult:
    """One stored attack result, as per-sample arrays keyed by test-set index."""

    config: AttackConfig
    attack_id: str
    threat: str | None  # the attack's own threat model; None: minimum-norm
    index: np.ndarray
    label: np.ndarray
    clean_pred: np.ndarray
    adv_pred: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    doc: dict[str, Any] = field(repr=False, default_factory=dict)
    # A randomized model (hotbench.draws): correct per sample and draw, clean and at the attack's
    # point, [n, draws]; None for a deterministic model's result.
    clean_draws: np.ndarray | None = field(repr=False, default=None)
    adv_draws: np.ndarray | None = field(repr=False, default=None)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> StoredResult:
        ps = doc["per_sample"]
        cfg = AttackConfig(**doc["config"])
        clean, adv = draws.outcomes(doc) if "adv_draws" in ps else (None, None)
        return cls(
            cfg,
            doc["attack_id"],
            ATTACKS.get(cfg.method).norm,
            np.asarray(ps["index"], dtype=np.int64),
            np.asarray(ps["label"], dtype=np.int64),
            np.asarray(ps["clean_pred"], dtype=np.int64),
            np.asarray(ps["adv_pred"], dtype=np.int64),
            np.asarray(ps["linf"], dtype=np.float64),
            np.asarray(ps["l2"], dtype=np.float64),
            doc,
            clean,
            adv,
        )

    @property
    def randomized(self) -> bool:
        """Measured over a randomized model's draws (its outcomes are expectations)."""
        return self.adv_draws is not None

    @property
    def eot(self) -> int:
        """Forward passes the attack averaged per query (1: none, or a deterministic model)."""
        return int((self.doc.get("randomness") or {}).get("eot", 1))

    @property
    def name(self) -> str:
        """The attack without its budget: the report names the attack that broke the most samples by
        it."""
        label = self.config.label
        return label.split(" ε=")[0] if self.threat is not None else label

    @property
    def eval_temp(self) -> float:
        return float(self.config.eval_temp)

    @property
    def partial(self) -> bool:
        """Run in skip mode: its own accuracy covers only what earlier attacks left (fine for the
        AND)."""
        return bool(self.config.skip_after)

    def broken(self, norm: str, eps: float) -> np.ndarray:
        """Per sample: clean-correct, misclassified after the attack, perturbation within `eps` in
        `norm`."""
        size = self.linf if norm == "Linf" else self.l2
        return (self.clean_pred == self.label) & (self.adv_pred != self.label) & _fits(size, eps)

    def robust(self, norm: str, eps: float) -> np.ndarray:
        """Per sample: clean-correct and not broken at (norm, eps)."""
        return (self.clean_pred == self.label) & ~self.broken(norm, eps)

    def robust_draws(self, norm: str, eps: float) -> np.ndarray:
        """Per sample and draw ([n, m]; m = 1 for a deterministic model): correct at the attack's
        point where its perturbation fits (norm, eps), else at the clean input."""
        if self.clean_draws is None or self.adv_draws is None:
            return self.robust(norm, eps)[:, None]
        size = self.linf if norm == "Linf" else self.l2
        return np.where(_fits(size, eps)[:, None], self.adv_draws, self.clean_draws)

    def expected(self, norm: str, eps: float) -> np.ndarray:
        """Per sample: its accuracy over the model's draws at (norm, eps) (`robust_draws`); on a
        deterministic model the boolean `robust`, so that comparisons stay exact McNemar tests
        there (stats.paired_test)."""
        if not self.randomized:
            return self.robust(norm, eps)
        return self.robust_draws(norm, eps).mean(axis=1)

    def accuracy(self, norm: str, eps: float) -> float:
        """This attack's accuracy at (norm, eps): what it is worth as a single attack at that
        budget (an integer count over n, so never -0.000; over samples and draws for a randomized
        model)."""
        if self.randomized:
            cells = self.robust_draws(norm, eps)
            return stats.frac(int(cells.sum()), cells.size)
        return stats.frac(int(self.robust(norm, eps).sum()), self.index.size)

    def on(self, wanted: np.ndarray) -> np.ndarray:
        """Positions of the test-set indices `wanted` in this result (all must be covered)."""
        return positions(self.index, wanted)


@dataclass
class WorstCase:
    run_id: str
    eval_temp: float
    threat: str
    eps: float
    n_samples: int
    clean_acc: float
    robust_acc: float
    robust: np.ndarray = field(repr=False)  # per sample of `index`
    index: np.ndarray = field(repr=False)
    attacks: list[str] = field(
        default_factory=list
    )  # names of the results that entered, in stored order
    breaks: dict[str, int] = field(
        default_factory=dict
    )  # attack name -> samples it broke (of `index`)
    coverage: dict[str, int] = field(default_factory=dict)  # attack label -> samples it evaluated
    # A randomized model: each sample's worst-case outcome per draw, [n, m] (`worst_over_draws`);
    # `robust` is then "robust on most draws" and `robust_acc` the mean over samples and draws.
    draws: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_robust(self) -> int:
        """Samples robust (on a randomized model: the expected count, rounded)."""
        if self.draws is not None:
            return int(round(float(self.draws.mean(1).sum())))
        return int(self.robust.sum())

    @property
    def ci(self) -> tuple[float, float]:
        """95% Wilson interval of the robust accuracy (hotbench.stats); over samples and draws on
        a randomized model (stats.draws_interval)."""
        if self.draws is not None:
            return stats.draws_interval(self.draws)
        return stats.interval(self.n_robust, self.n_samples)

    @property
    def per_sample(self) -> np.ndarray:
        """Per sample of `index`: robust (bool) or, on a randomized model, its worst-case
        expected accuracy over the draws."""
        return self.robust if self.draws is None else self.draws.mean(axis=1)

    @property
    def ci_method(self) -> str:
        return stats.INTERVAL_METHOD if self.draws is None else stats.DRAWS_INTERVAL_METHOD

    @property
    def mixed(self) -> bool:
        """The attacks of this worst case evaluated different sample sets: it is on their shared
        samples only, and the report marks it."""
        return len(set(self.coverage.values())) > 1 or any(
            v != self.n_samples for v in self.coverage.values()
        )

    @property
    def samples(self) -> dict[str, Any]:
        """Which test samples the worst case is on: the first N of the test split, or an explicit
        set (identified by a hash of its indices)."""
        return sample_set(self.index)

    @property
    def top_attacks(self) -> list[str]:
        """Every attack that broke the most samples (ties all listed, in stored order); empty when
        nothing was broken."""
        most = max(self.breaks.values(), default=0)
        return [k for k, v in self.breaks.items() if v == most] if most > 0 else []

    @property
    def top_attack(self) -> str | None:
        """The tied attacks joined with ' = ' (None when nothing was broken)."""
        return " = ".join(self.top_attacks) or None

    def summary(self) -> str:
        top = self.top_attacks
        lo, hi = self.ci
        text = (
            f"worst case at {self.threat} ε={self.eps:g}: {self.robust_acc:.3f} (95% CI"
            f" {lo:.3f}-{hi:.3f}) on {self.n_samples} samples over {len(self.attacks)} attacks"
            + (f"; most breaks: {' = '.join(top)} ({self.breaks[top[0]]})" if top else "")
        )
        if self.mixed:
            sizes = ", ".join(f"{k} n={v}" for k, v in self.coverage.items())
            text += f"; attacks cover different samples ({sizes}): only the shared ones count"
        return text


def sample_set(index: np.ndarray) -> dict[str, Any]:
    """The identity of a sample set: {"first": N} for the first N test images, else the count and a
    hash of the sorted indices."""
    idx = np.sort(np.asarray(index, dtype=np.int64))
    if idx.size == 0 or (idx[0] == 0 and idx[-1] == idx.size - 1):
        return {"first": int(idx.size)}
    return {"n": int(idx.size), "sha": stable_hash(idx.tolist(), 12)}


def current_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the results that another stored result of the same config on more (first-N) samples
    contains, e.g. the 50-sample run that `attack --complete` extended to 300: it holds no sample
    the larger one lacks, and keeping it would shrink every comparison to its 50 samples."""

    def key(doc: dict[str, Any]) -> str:
        c = dict(doc["config"])
        c.pop("n_samples", None)
        return repr(sorted(c.items(), key=lambda kv: kv[0]))

    def first_n(doc: dict[str, Any]) -> int | None:
        idx = doc["per_sample"]["index"]
        return len(idx) if idx == list(range(len(idx))) else None

    largest: dict[str, int] = {}
    for d in docs:
        n = first_n(d)
        if n is not None:
            largest[key(d)] = max(largest.get(key(d), 0), n)
    return [d for d in docs if (n := first_n(d)) is None or n >= largest[key(d)]]


def load_stored(ws: Workspace, run_id: str, eval_temp: float | None = None) -> list[StoredResult]:
    results = [StoredResult.from_doc(d) for d in current_docs(ws.load_results(run_id))]
    if eval_temp is not None:
        results = [r for r in results if np.isclose(r.eval_temp, eval_temp)]
    return results


def budgets(results: list[StoredResult]) -> list[tuple[str, float]]:
    """Every (threat model, eps) some stored threat-model attack was run at, sorted."""
    return sorted({(r.threat, float(r.config.eps)) for r in results if r.threat is not None})


def counts_at(r: StoredResult, norm: str, eps: float) -> bool:
    """Whether a result enters the worst case at (norm, eps): minimum-norm, or run in `norm` at a
    budget no larger than `eps` (a success inside a smaller budget is inside this one)."""
    return r.threat is None or (r.threat == norm and _fits(np.asarray(r.config.eps), eps).item())


def worst_case(
    results: list[StoredResult], run_id: str, eval_temp: float, norm: str, eps: float
) -> WorstCase:
    """Per-sample worst case at (norm, eps) over those of `results` (all at `eval_temp`) that
    count at that budget (`counts_at`), on their shared samples."""
    results = [r for r in results if counts_at(r, norm, eps)]
    if not results:
        raise ValueError(f"no result counts at {norm} eps {eps:g}")
    common = results[0].index
    for r in results[1:]:
        common = np.intersect1d(common, r.index)
    if any(r.randomized for r in results):
        return worst_over_draws(results, run_id, eval_temp, norm, eps, common)
    robust = np.ones(common.size, dtype=bool)
    breaks: dict[str, int] = {}
    coverage: dict[str, int] = {}
    for r in results:
        pos = positions(r.index, common)
        broken = r.broken(norm, eps)[pos]
        robust &= (r.clean_pred[pos] == r.label[pos]) & ~broken
        breaks[r.name] = max(breaks.get(r.name, 0), int(broken.sum()))
        coverage[r.config.label] = int(r.index.size)
    first = results[0]
    pos = positions(first.index, common)
    clean = first.clean_pred[pos] == first.label[pos]
    n = int(common.size)
    return WorstCase(
        run_id,
        eval_temp,
        norm,
        eps,
        n,
        stats.frac(int(clean.sum()), n),
        stats.frac(int(robust.sum()), n),
        robust,
        common,
        list(breaks),
        breaks,
        coverage,
    )


def worst_over_draws(
    results: list[StoredResult],
    run_id: str,
    eval_temp: float,
    norm: str,
    eps: float,
    common: np.ndarray,
) -> WorstCase:
    """The worst case of a randomized model: per sample, the point with the lowest expected
    accuracy over draws among the clean input and every attack's point that fits (norm, eps),
    with that point's outcomes on each draw.

    Why a minimum of per-sample expectations and not an AND per draw: the attacker commits to one
    input before the model draws its noise, so a sample's robustness is the accuracy at the best
    single point it has. An AND over attacks per draw would let the attacker pick the point after
    seeing the draw; over independent noise (each attack measured on its own draws) it falls far
    below every attack's own accuracy (0.14 against at least 0.625, issue 25). The draws are common
    random numbers (attacks.randomized): draw j of a sample is the same noise in every result, so
    the attacks are compared on the same draws, which also keeps the downward bias of a minimum
    over estimates small. Results with different draw counts share their first draws; a result of
    a deterministic evaluation (one pass) counts as the same outcome on every draw."""
    clean, worst, breaks = rows_over_draws(results, common, norm, eps)
    coverage = {r.config.label: int(r.index.size) for r in results}
    n = int(common.size)
    return WorstCase(
        run_id,
        eval_temp,
        norm,
        eps,
        n,
        stats.frac(int(clean.sum()), clean.size),
        stats.frac(int(worst.sum()), worst.size),
        worst.mean(1) >= 0.5,
        common,
        list(breaks),
        breaks,
        coverage,
        worst,
    )


def rows_over_draws(
    results: list[StoredResult], common: np.ndarray, norm: str, eps: float
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """For the samples `common` of a randomized model: the clean outcomes per draw, the worst
    case's (per sample, the row of the point with the lowest mean, see `worst_over_draws`), each
    [n, m], and the expected breaks per attack name (clean-correct draws it lost, / m, rounded)."""
    m = min((r.adv_draws.shape[1] for r in results if r.adv_draws is not None), default=1)

    def rows(a: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
        return np.repeat(fallback[:, None], m, axis=1) if a is None else a[:, :m]

    first = next((r for r in results if r.randomized), results[0])  # its clean draws are all's
    pos = positions(first.index, common)
    clean = rows(first.clean_draws, first.clean_pred == first.label)[pos]
    worst = clean.copy()
    breaks: dict[str, int] = {}
    for r in results:
        pos = positions(r.index, common)
        size = (r.linf if norm == "Linf" else r.l2)[pos]
        adv = rows(r.adv_draws, r.adv_pred == r.label)[pos]
        adv = np.where(_fits(size, eps)[:, None], adv, clean)
        lower = adv.mean(1) < worst.mean(1)
        worst[lower] = adv[lower]
        lost = float((clean & ~adv).sum()) / m
        breaks[r.name] = max(breaks.get(r.name, 0), int(round(lost)))
    return clean, worst, breaks


def positions(index: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of `wanted` (test-set indices) sits in a result's `index` array."""
    where = {int(v): i for i, v in enumerate(index)}
    return np.asarray([where[int(v)] for v in wanted], dtype=np.int64)


def worst_cases(ws: Workspace, record: RunRecord) -> list[WorstCase]:
    """Every (eval T, threat model, eps) of the run's stored results, each with its worst case."""
    results = load_stored(ws, record.run_id)
    out = []
    for t in sorted({r.eval_temp for r in results}, reverse=True):
        at_t = [r for r in results if np.isclose(r.eval_temp, t)]
        for norm, eps in budgets(at_t):
            out.append(worst_case(at_t, record.run_id, t, norm, eps))
    return out


def flat_worst_cases(ws: Workspace, records: list[RunRecord]) -> list[dict[str, Any]]:
    """The report's hook (records.robust_records): one flat dict per (run, eval T, threat model,
    eps)."""
    out = []
    for rec in records:
        c = rec.config
        for wc in worst_cases(ws, rec):
            if wc.n_samples == 0:  # results on disjoint sample sets: no sample every attack saw
                continue
            out.append(
                {
                    "robust_id": f"robust-T{wc.eval_temp:g}-{wc.threat}-{wc.eps:g}",
                    "run_id": rec.run_id,
                    "dataset": c.dataset,
                    "act": c.act,
                    "train_temp": c.temp,
                    "eval_temp": wc.eval_temp,
                    "threat_model": wc.threat,
                    "eps": wc.eps,
                    "clean_acc": wc.clean_acc,
                    "robust_acc": wc.robust_acc,
                    "n_samples": wc.n_samples,
                    "n_robust": wc.n_robust,
                    "ci_low": round(wc.ci[0], 6),
                    "ci_high": round(wc.ci[1], 6),
                    "ci_method": wc.ci_method,
                    **({"draws": int(wc.draws.shape[1])} if wc.draws is not None else {}),
                    "samples": wc.samples,
                    "mixed_samples": wc.mixed,
                    "coverage": wc.coverage,
                    "attacks": wc.attacks,
                    "top_attack": wc.top_attack,
                    "top_attacks": wc.top_attacks,
                    "breaks": wc.breaks,
                }
            )
    return out
