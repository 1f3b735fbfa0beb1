"""The data every renderer reads: the stored results as flat records (one per model and attack
config), the per-model worst case, and the versioned JSON results document that baselines store.

The JSON format is one record per (model, attack config): the unit that is stored, hashed and
compared by regression gates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import draws, stats
from ..attacks.spec import ATTACKS
from ..config import AttackConfig
from ..data import DATASETS
from ..errors import HotbenchError, warn
from ..evaluate import worstcase
from ..evaluate.diagnose import report_verdicts
from ..registry import ACTIVATIONS
from ..store import RunRecord, Workspace
from ..version import __version__
from .verdicts import verdict_record

# Version of the JSON results document (`--format json`, baselines). Adding a field keeps the
# version; renaming, removing or changing the meaning of one bumps it. See docs/results-schema.md
# and hotbench/schemas/results.schema.json.
SCHEMA_VERSION = 3
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "results.schema.json"


@dataclass
class Filters:
    """Which stored models a command looks at (empty: any): datasets, activations, training
    temperatures, run ids (a prefix or any part of the id is enough)."""

    dataset: list[str] = field(default_factory=list)
    act: list[str] = field(default_factory=list)
    temp: list[float] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    # the models of a preset (`--preset`: the exact run ids of its plan; None: no preset). Apart
    # from `run` because the gate must not filter a baseline by it (gate.filter_records).
    preset: list[str] | None = None

    def __post_init__(self) -> None:
        if any(not r.strip() for r in self.run):  # "" is a part of every id
            raise HotbenchError(
                "--run '' is empty, and would match every model",
                "pass a run id or its first characters (see `hotbench ls`), or leave --run out",
            )
        for d in self.dataset:
            DATASETS.check(d)
        for a in self.act:
            ACTIVATIONS.check(a)

    def match(self, cfg, run_id: str, preset: bool = True) -> bool:
        """Whether a model is selected; `preset=False` ignores the preset's models."""
        return (
            (not self.dataset or cfg.dataset in self.dataset)
            and (not self.act or cfg.act in self.act)
            and (not self.temp or any(math.isclose(cfg.temp, t) for t in self.temp))
            and (not self.run or any(run_id.startswith(r) or r in run_id for r in self.run))
            and (not preset or self.preset is None or run_id in self.preset)
        )


def select_runs(ws: Workspace, filters: Filters) -> list[RunRecord]:
    every = ws.records()  # complete runs only: a locks folder or a half-written run is no model
    if not every:
        raise HotbenchError(
            f"workspace '{ws.root}' has no trained models",
            "train some first (`hotbench train --dataset digits --act tanh --temp 50`) or pass"
            " --workspace",
        )
    records = [r for r in every if filters.match(r.config, r.run_id)]
    if not records:
        raise HotbenchError(
            f"no trained model in '{ws.root}' matches the filters",
            "loosen --dataset/--act/--temp/--run, or list what is there with `hotbench ls`",
        )
    return records


def counts(doc: dict[str, Any]) -> dict[str, Any]:
    """The accuracies of one stored result recomputed from its per-sample outcomes as integer
    counts, each with its 95% interval (hotbench.stats), and targeted success where the attack had
    targets."""
    ps = doc["per_sample"]
    if "adv_draws" in ps:
        return _counts_over_draws(doc)
    label = ps["label"]
    n = len(label)
    clean = sum(int(p == y) for p, y in zip(ps["clean_pred"], label, strict=True))
    adv = sum(int(p == y) for p, y in zip(ps["adv_pred"], label, strict=True))
    out: dict[str, Any] = {
        "n_samples": n,
        "n_clean_correct": clean,
        "n_adv_correct": adv,
        "clean_acc": stats.frac(clean, n),
        "adv_acc": stats.frac(adv, n),
        "ci_method": stats.INTERVAL_METHOD,
        "samples": worstcase.sample_set(ps["index"]),
    }
    for key, k in (("clean", clean), ("adv", adv)):
        lo, hi = stats.interval(k, n)
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = _r(lo), _r(hi)
    target = ps.get("target")
    if target is not None:
        hit = sum(
            int(c == y and a == t)
            for c, a, y, t in zip(ps["clean_pred"], ps["adv_pred"], label, target, strict=True)
        )
        lo, hi = stats.interval(hit, clean)
        out.update(
            n_target_hit=hit,
            targeted_success=stats.frac(hit, clean),
            targeted_ci_low=_r(lo),
            targeted_ci_high=_r(hi),
        )
    return out


def _counts_over_draws(doc: dict[str, Any]) -> dict[str, Any]:
    """`counts` of a randomized model's result: expected accuracies over samples and draws
    (k correct draws of n * m), each with the interval over both (stats.draws_interval); the
    n_*_correct fields are the expected counts of samples, rounded. The targeted success is on
    draw 0, the classes stored per sample."""
    ps = doc["per_sample"]
    clean, adv = draws.outcomes(doc)
    n, m = clean.shape
    out: dict[str, Any] = {
        "n_samples": n,
        "draws": m,
        "eot": int((doc.get("randomness") or {}).get("eot", 1)),
        "n_clean_correct": int(round(float(clean.mean(1).sum()))),
        "n_adv_correct": int(round(float(adv.mean(1).sum()))),
        "clean_acc": stats.frac(int(clean.sum()), clean.size),
        "adv_acc": stats.frac(int(adv.sum()), adv.size),
        "ci_method": stats.DRAWS_INTERVAL_METHOD,
        "samples": worstcase.sample_set(ps["index"]),
    }
    for key, cells in (("clean", clean), ("adv", adv)):
        lo, hi = stats.draws_interval(cells)
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = _r(lo), _r(hi)
    target = ps.get("target")
    if target is not None:
        first = [c == y for c, y in zip(ps["clean_pred"], ps["label"], strict=True)]
        hit = sum(
            int(ok and a == t) for ok, a, t in zip(first, ps["adv_pred"], target, strict=True)
        )
        lo, hi = stats.interval(hit, sum(first))
        out.update(
            n_target_hit=hit,
            targeted_success=stats.frac(hit, sum(first)),
            targeted_ci_low=_r(lo),
            targeted_ci_high=_r(hi),
        )
    return out


def _r(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 6)


# Config fields that tell apart two configs sharing method and eps, in the order labels show them.
_DISTINCT = ("steps", "alpha", "n_samples", "seed", "params", "batch_size")


def _shown(cfg: AttackConfig) -> dict[str, Any]:
    """The config as labels show it: a step size that is the default for its steps (2.5 * eps /
    steps) is left out, since the steps already say it."""
    d = cfg.model_dump()
    if d["alpha"] is not None and math.isclose(d["alpha"], 2.5 * cfg.eps / cfg.steps):
        d["alpha"] = None
    return d


def _label_part(field: str, value: Any) -> str:
    short = {"n_samples": "n", "batch_size": "batch"}.get(field, field)
    if field == "params":
        return " ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return f"{short}={value:g}" if isinstance(value, float) else f"{short}={value}"


def unique_labels(
    configs: list[tuple[str, float, AttackConfig, str]],
) -> tuple[dict[str, str], list[str]]:
    """Column labels that never collide: (run_id, eval T, config, attack_id) -> label.

    A config keeps its plain label (`pgd ε=0.3`) unless another config of the same row shares it;
    then every config with that label gets what distinguishes them (steps, alpha, n, seed, params)
    appended, everywhere, so the column means one thing across rows. Returns (attack_id -> label,
    warnings for configs that would still share a label)."""
    by_row: dict[tuple[str, float, str], list[AttackConfig]] = {}
    for run_id, t, cfg, _ in configs:
        by_row.setdefault((run_id, t, cfg.label), []).append(cfg)
    extra: dict[str, set[str]] = {}
    for (_, _, label), cfgs in by_row.items():
        if len({c.model_dump_json() for c in cfgs}) < 2:
            continue
        dumps = [_shown(c) for c in cfgs]
        differ = {f for f in _DISTINCT if len({repr(d[f]) for d in dumps}) > 1}
        extra.setdefault(label, set()).update(differ)
    labels: dict[str, str] = {}
    warnings: list[str] = []
    seen: dict[tuple[str, float, str], str] = {}
    for run_id, t, cfg, aid in configs:
        fields = [f for f in _DISTINCT if f in extra.get(cfg.label, set())]
        d = _shown(cfg)
        fields = [f for f in fields if d[f] is not None]
        label = cfg.label
        if fields:
            base, sep, eps = label.partition(" ε=")
            parts = " ".join(_label_part(f, d[f]) for f in fields)
            label = f"{base} {parts}" + (f" ε={eps}" if sep else "")
        key = (run_id, t, label)
        if key in seen and seen[key] != aid:
            warnings.append(
                f"two stored configs on {run_id} at eval T={t:g} share the column '{label}'"
                f" ({seen[key]} and {aid}); the second is labelled '{label} #{aid[-6:]}'"
            )
            label = f"{label} #{aid[-6:]}"
        seen[(run_id, t, label)] = aid
        labels[aid] = label
    return labels, warnings


def label_warnings(ws: Workspace, filters: Filters | None = None) -> list[str]:
    """The report's warnings about column labels (see `unique_labels`)."""
    return _labels(ws, select_runs(ws, filters or Filters()))[1]


def _labels(ws: Workspace, runs: list[RunRecord]) -> tuple[dict[str, str], list[str]]:
    configs = []
    for rec in runs:
        for doc in worstcase.current_docs(ws.load_results(rec.run_id)):
            acfg = AttackConfig(**doc["config"])
            configs.append((rec.run_id, float(acfg.eval_temp), acfg, doc["attack_id"]))
    return unique_labels(configs)


def surrogates(ws: Workspace) -> set[str]:
    """The run ids that stored transfer results name as their surrogate: models trained for
    another's sake (an independent softmax model), not models of the sweep. Unattacked, they are
    neither rows of the report nor a warning that they have no result."""
    out = set()
    for rec in ws.records():
        for doc in ws.load_results(rec.run_id):
            sur = doc.get("surrogate")
            if isinstance(sur, dict) and isinstance(sur.get("run_id"), str):
                out.add(sur["run_id"])
    return out


def flat_records(ws: Workspace, filters: Filters | None = None) -> list[dict[str, Any]]:
    """One flat record per stored (model, attack config), in a stable order."""
    out = []
    runs = select_runs(ws, filters or Filters())
    labels, _ = _labels(ws, runs)
    helpers: set[str] | None = None
    for rec in runs:
        cfg = rec.config
        docs = worstcase.current_docs(ws.load_results(rec.run_id))
        if not docs:
            helpers = surrogates(ws) if helpers is None else helpers
            if rec.run_id not in helpers:
                warn(not_attacked(rec))
        for doc in docs:
            acfg = AttackConfig(**doc["config"])
            out.append(
                {
                    "run_id": rec.run_id,
                    "attack_id": doc["attack_id"],
                    "dataset": cfg.dataset,
                    "arch": cfg.arch,
                    "act": cfg.act,
                    "defense": cfg.defense_label,
                    "defense_config": defense_config(cfg),
                    "train_temp": cfg.temp,
                    "eval_temp": acfg.eval_temp,
                    "train_seed": cfg.seed,
                    "epochs": cfg.epochs,
                    "method": acfg.method,
                    "label": labels.get(doc["attack_id"], acfg.label),
                    "on": acfg.on,
                    "targeted": acfg.targeted,
                    "eps": acfg.eps if ATTACKS.get(acfg.method).norm else None,
                    "threat_model": doc.get("threat_model"),
                    "attack_config": doc["config"],
                    **doc["metrics"],
                    **counts(doc),
                    "time_s": doc["time_s"],
                    "attack_seed": acfg.seed,
                    "train_time_s": rec.doc["metrics"].get("train_time_s"),
                    "n_train": rec.doc["metrics"].get("n_train"),
                    "created": doc["provenance"].get("created"),
                    "versions": doc["provenance"]["versions"],
                    "device": doc["provenance"]["hardware"]["device"],
                }
            )
    out.sort(key=record_key)
    return out


def not_attacked(rec: RunRecord) -> str:
    """A trained model with no attack result has only its clean accuracy in the report (no
    adversarial accuracy, no verdict): say so, with the clean accuracy training measured (its n
    and interval), and how to attack it."""
    metrics = rec.doc["metrics"]
    n = metrics.get("n_test")
    clean = f"clean {rec.test_acc:.3f}"
    if isinstance(n, int) and n > 0:
        lo, hi = stats.interval(round(rec.test_acc * n), n)
        clean += f" (95% CI {lo:.3f}-{hi:.3f}, n={n})"
    return (
        f"{rec.run_id} has no attack result yet, so no adversarial accuracy or verdict ({clean}):"
        f" attack it with `hotbench attack --run {rec.run_id}`"
    )


def robust_records(ws: Workspace, filters: Filters | None = None) -> list[dict[str, Any]]:
    """HOOK: the per-model worst case ("robust accuracy"), one dict per (run_id, eval T, threat
    model, eps).

    Plots draw it as the "robust (worst case)" line, the JSON document carries it under "robust",
    and the regression gate compares its `robust_acc` like any other accuracy. Each dict has:
    robust_id (stable key within the run), run_id, dataset, act, train_temp, eval_temp,
    threat_model, eps, robust_acc, n_samples, attacks (labels that entered the worst case). Computed
    by hotbench.evaluate.worstcase (exact, per sample).
    """
    runs = select_runs(ws, filters or Filters())
    label = {rec.run_id: rec.config.defense_label for rec in runs}
    return [{**r, "defense": label[r["run_id"]]} for r in worstcase.flat_worst_cases(ws, runs)]


def defense_config(cfg) -> dict[str, Any] | None:
    """The training defense's settings (None when trained without one): its name and parameters."""
    if cfg.defense == "none":
        return None
    return {
        "defense": cfg.defense,
        **{k: v for k, v in cfg.defense_params.items() if v is not None},
    }


def results_document(
    ws: Workspace,
    filters: Filters | None = None,
    verdicts: dict[tuple[str, float], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The versioned JSON results document: what `--format json` prints and what baselines store.
    `verdicts` (diagnose.report_verdicts) is computed when not given."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "hotbench", "version": __version__},
        "statistics": {
            "interval": f"{stats.INTERVAL_METHOD} {round(stats.CONFIDENCE * 100)}%",
            "paired_test": f"exact McNemar (binomial), alpha {stats.ALPHA:g}",
        },
        "records": flat_records(ws, filters),
    }
    robust = robust_records(ws, filters)
    if robust:
        doc["robust"] = robust
    runs = select_runs(ws, filters or Filters())
    seeds = seed_summaries(runs, doc["records"])
    if seeds:
        doc["seeds"] = seeds
    if verdicts is None:
        verdicts = report_verdicts(ws, runs)
    if verdicts:
        doc["verdicts"] = [verdict_record(d) for d in verdicts.values()]
    return doc


def seed_key(cfg) -> str:
    """The training config without its seed: runs that share it differ only in the seed."""
    d = cfg.resolved().model_dump()
    d.pop("seed")
    return repr(sorted(d.items()))


def seed_summaries(runs: list[RunRecord], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread (sample sd) of each accuracy across models that differ only in their
    training seed, per eval T: the per-seed records keep their own intervals (sampling noise of
    the test set), this says how much training noise adds. Only attacks every seed ran enter."""
    keys = {r.run_id: seed_key(r.config) for r in runs}
    groups: dict[tuple[str, float], dict[str, list[dict[str, Any]]]] = {}
    for r in records:
        if r["run_id"] in keys:
            group = groups.setdefault((keys[r["run_id"]], r["eval_temp"]), {})
            group.setdefault(r["run_id"], []).append(r)
    out = []
    for (_, eval_temp), by_run in groups.items():
        if len(by_run) < 2:
            continue
        per_run = list(by_run.values())
        labels = set.intersection(*({r["label"] for r in rs} for rs in per_run))

        def spread(values: list[float]) -> dict[str, float]:
            mean, sd = stats.mean_spread(values)
            return {"mean": mean, "sd": sd}

        first = per_run[0][0]
        out.append(
            {
                "dataset": first["dataset"],
                "defense": first["defense"],
                "act": first["act"],
                "train_temp": first["train_temp"],
                "eval_temp": eval_temp,
                "n_seeds": len(per_run),
                "train_seeds": sorted(rs[0]["train_seed"] for rs in per_run),
                "run_ids": sorted(by_run),
                "clean_acc": spread(
                    [max(rs, key=lambda r: r["n_samples"])["clean_acc"] for rs in per_run]
                ),
                "adv_acc": {
                    label: spread(
                        [next(r["adv_acc"] for r in rs if r["label"] == label) for rs in per_run]
                    )
                    for label in sorted(labels)
                },
            }
        )
    return out


def record_key(r: dict[str, Any]):
    order = ATTACKS.names()
    return (
        r["dataset"],
        r["act"],
        r["train_temp"],
        -r["eval_temp"],
        r["run_id"],
        order.index(r["method"]),
        r["on"] != "output",
        r["eps"] if r["eps"] is not None else -1,
        str(r["targeted"]),
    )
