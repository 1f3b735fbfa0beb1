"""The two units of work, each idempotent: train a config unless stored, attack a run unless stored.

Sweeps (CLI, presets, executors) are loops over these; because each unit checks the workspace first and
holds the run's lock while it computes, an interrupted sweep resumes and parallel sweeps do not collide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .attacks import ATTACKS, run_attack
from .config import AttackConfig, TrainConfig
from .data import load_dataset
from .progress import Reporter
from .provenance import hardware, versions
from .store import RunRecord, Workspace, now, read_json_checked
from .train import train_model


def ensure_trained(ws: Workspace, cfg: TrainConfig, device: torch.device, reporter: Reporter | None = None,
                   data_dir: Path | None = None, download: bool = False, force: bool = False) -> tuple[RunRecord, bool]:
    """Return the stored run for `cfg`, training it first if needed. The bool says whether it was trained now."""
    reporter = reporter or Reporter(quiet=True)
    cfg = cfg.resolved()
    run_id = cfg.run_id
    if ws.has_run(run_id) and not force:
        return ws.load_record(run_id), False
    data = load_dataset(cfg.dataset, data_dir, download)
    ws.ensure_writable()
    with ws.lock(run_id):
        if ws.has_run(run_id) and not force:  # another process finished it while we waited
            return ws.load_record(run_id), False
        task = reporter.task(f"train {run_id}", cfg.epochs)
        result = train_model(cfg, data, device, on_epoch=lambda e, loss: task.advance())
        metrics = {
            "test_acc": result.test_acc,
            "train_time_s": round(result.train_time_s, 3),
            "epoch_loss": [round(v, 6) for v in result.epoch_loss],
            "n_train": len(data.train.head(cfg.n_train)),
            "n_test": len(data.test),
        }
        prov = {"versions": versions(), "hardware": hardware(device), "seed": cfg.seed}
        record = ws.save_run(cfg, result.model, metrics, prov)
    reporter.log(f"trained {run_id}: test acc {result.test_acc:.3f} in {result.train_time_s:.1f}s")
    return record, True


def result_doc(record: RunRecord, cfg: AttackConfig, outcome, device: torch.device) -> dict[str, Any]:
    train_cfg = record.config
    return {
        "run_id": record.run_id,
        "attack_id": cfg.attack_id(record.run_id),
        "model": {"dataset": train_cfg.dataset, "arch": train_cfg.arch, "act": train_cfg.act,
                  "train_temp": train_cfg.temp, "eval_temp": cfg.eval_temp},
        "config": cfg.model_dump(),
        "threat_model": ATTACKS.get(cfg.method).norm,
        "metrics": outcome.metrics(),
        "per_sample": {
            "index": outcome.indices.tolist(),
            "label": outcome.labels.tolist(),
            "clean_pred": outcome.clean_pred.tolist(),
            "adv_pred": outcome.adv_pred.tolist(),
            "linf": [round(float(v), 6) for v in outcome.linf],
            "l2": [round(float(v), 6) for v in outcome.l2],
        },
        "time_s": round(outcome.time_s, 3),
        "provenance": {"versions": versions(), "hardware": hardware(device), "seed": cfg.seed,
                       "train_seed": train_cfg.seed, "created": now()},
    }


def ensure_attacked(ws: Workspace, record: RunRecord, cfg: AttackConfig, device: torch.device,
                    reporter: Reporter | None = None, data_dir: Path | None = None, download: bool = False,
                    force: bool = False) -> tuple[dict[str, Any], bool]:
    """Return the stored result of `cfg` on `record`, computing it first if needed."""
    reporter = reporter or Reporter(quiet=True)
    train_cfg = record.config
    data = load_dataset(train_cfg.dataset, data_dir, download)
    cfg = cfg.resolved(train_cfg.temp, len(data.test))
    attack_id = cfg.attack_id(record.run_id)
    path = ws.result_path(record.run_id, attack_id)
    if path.is_file() and not force:
        return read_json_checked(path), False
    with ws.lock(record.run_id):
        if path.is_file() and not force:
            return read_json_checked(path), False
        net = ws.load_model(record, device)
        task = reporter.task(f"{cfg.label} on {record.run_id} @T={cfg.eval_temp:g}", cfg.n_samples)
        outcome = run_attack(net, data.test, cfg, device, on_batch=task.advance)
        task.done()
        doc = ws.save_result(record.run_id, result_doc(record, cfg, outcome, device))
    return doc, True
