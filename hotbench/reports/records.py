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

from ..attacks.spec import ATTACKS
from ..config import AttackConfig
from ..data import DATASETS
from ..errors import HotbenchError
from ..evaluate import worstcase
from ..models import ACTIVATIONS
from ..store import RunRecord, Workspace
from ..version import __version__

# Version of the JSON results document (`--format json`, baselines). Adding a field keeps the
# version; renaming, removing or changing the meaning of one bumps it. See docs/results-schema.md
# and hotbench/schemas/results.schema.json.
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "results.schema.json"


@dataclass
class Filters:
    """Which stored models a command looks at (empty: any): datasets, activations, training
    temperatures, run ids (a prefix or any part of the id is enough)."""

    dataset: list[str] = field(default_factory=list)
    act: list[str] = field(default_factory=list)
    temp: list[float] = field(default_factory=list)
    run: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for d in self.dataset:
            DATASETS.check(d)
        for a in self.act:
            ACTIVATIONS.check(a)

    def match(self, cfg, run_id: str) -> bool:
        return (
            (not self.dataset or cfg.dataset in self.dataset)
            and (not self.act or cfg.act in self.act)
            and (not self.temp or any(math.isclose(cfg.temp, t) for t in self.temp))
            and (not self.run or any(run_id.startswith(r) or r in run_id for r in self.run))
        )


def select_runs(ws: Workspace, filters: Filters) -> list[RunRecord]:
    if not ws.runs.is_dir() or not any(ws.runs.iterdir()):
        raise HotbenchError(
            f"workspace '{ws.root}' has no trained models",
            "train some first (`hotbench train --dataset digits --act tanh --temp 50`) or pass"
            " --workspace",
        )
    records = [r for r in ws.records() if filters.match(r.config, r.run_id)]
    if not records:
        raise HotbenchError(
            f"no trained model in '{ws.root}' matches the filters",
            "loosen --dataset/--act/--temp/--run, or list what is there with `hotbench ls`",
        )
    return records


def flat_records(ws: Workspace, filters: Filters | None = None) -> list[dict[str, Any]]:
    """One flat record per stored (model, attack config), in a stable order."""
    out = []
    for rec in select_runs(ws, filters or Filters()):
        cfg = rec.config
        for doc in ws.load_results(rec.run_id):
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
                    "label": acfg.label,
                    "on": acfg.on,
                    "targeted": acfg.targeted,
                    "eps": acfg.eps if ATTACKS.get(acfg.method).norm else None,
                    "threat_model": doc.get("threat_model"),
                    "attack_config": doc["config"],
                    **doc["metrics"],
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


def worst_case_records(ws: Workspace, filters: Filters | None = None) -> list[dict[str, Any]]:
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
    return [{**r, "defense": label[r["run_id"]]} for r in worstcase.worst_case_records(ws, runs)]


def defense_config(cfg) -> dict[str, Any] | None:
    """The training defense's settings (None when trained without one)."""
    if cfg.defense == "none":
        return None
    keys = ("defense", "train_eps", "train_steps", "train_alpha", "trades_beta")
    return {k: getattr(cfg, k) for k in keys if getattr(cfg, k) is not None}


def results_document(ws: Workspace, filters: Filters | None = None) -> dict[str, Any]:
    """The versioned JSON results document: what `--format json` prints and what baselines store."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "hotbench", "version": __version__},
        "records": flat_records(ws, filters),
    }
    robust = worst_case_records(ws, filters)
    if robust:
        doc["robust"] = robust
    return doc


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
