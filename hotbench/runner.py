"""The two units of work, each idempotent: train a config unless stored, attack a run unless stored.

Sweeps (CLI, presets, executors) are loops over these; because each unit checks the workspace first
and holds the run's lock while it computes, an interrupted sweep resumes and parallel sweeps do not
collide.

Each unit is split into a *compute* half that touches no workspace (`compute_trained`,
`compute_attack`) and a *persist* half that writes it (`persist_trained`, `persist_attack`).
`ensure_*` chain the two in-process; the pool and Ray executors (hotbench.sweep.pool,
hotbench.sweep.ray) run the compute half in a worker and the persist half on the driver, so that
only the driver ever writes the workspace and the files are the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .adversarial import batch_loss
from .attacks.composite import surrogate_config
from .attacks.engine import Target, run_attack
from .attacks.spec import ATTACKS
from .config import AttackConfig, TrainConfig
from .context import Context
from .data import Dataset, load_dataset
from .models import HotNet, arch_source, check_model
from .progress import Reporter
from .runtime import hardware, versions
from .store import RunRecord, Workspace, now
from .training import CPU_TRAIN_THREADS, train_model


@dataclass
class Trained:
    """A trained model and what run.json records about it, before anything is written."""

    config: TrainConfig  # resolved
    model: HotNet
    metrics: dict[str, Any]
    provenance: dict[str, Any]


def compute_trained(
    cfg: TrainConfig, data: Dataset, device: torch.device, reporter: Reporter | None = None
) -> Trained:
    """Train `cfg` without touching any workspace: the compute half of `ensure_trained`."""
    reporter = reporter or Reporter(quiet=True)
    cfg = cfg.resolved()
    task = reporter.task(f"train {cfg.run_id}", cfg.epochs)
    result = train_model(
        cfg, data, device, on_epoch=lambda e, loss: task.advance(), loss_fn=batch_loss(cfg)
    )
    metrics = {
        "test_acc": result.test_acc,
        "train_time_s": round(result.train_time_s, 3),
        "epoch_loss": [round(v, 6) for v in result.epoch_loss],
        "n_train": len(data.train.head(cfg.n_train)),
        "n_test": len(data.test),
    }
    prov = {
        "versions": versions(),
        "hardware": hardware(device),
        "seed": cfg.seed,
        "memory_format": result.memory_format,
        # threads training ran with: always 1 on CPU (training.CPU_TRAIN_THREADS), so that the
        # weights do not depend on the machine
        "train_threads": CPU_TRAIN_THREADS if torch.device(device).type == "cpu" else None,
    }
    if (source := arch_source(cfg.arch)) is not None:
        prov["arch_source"] = source  # a user's --arch MODULE:CALLABLE: which code built the net
    return Trained(cfg, result.model, metrics, prov)


def persist_trained(ws: Workspace, trained: Trained) -> RunRecord:
    """Write a trained model (weights, then run.json); the caller holds the run's lock."""
    return ws.save_run(trained.config, trained.model, trained.metrics, trained.provenance)


def ensure_trained(ctx: Context, cfg: TrainConfig) -> tuple[RunRecord, bool]:
    """Return the stored run for `cfg`, training it first if needed (always with `ctx.force`). The
    bool says whether it was trained now."""
    ws = ctx.ws
    cfg = cfg.resolved()
    run_id = cfg.run_id
    if ws.has_run(run_id) and not ctx.force:
        return ws.load_record(run_id), False
    data = load_dataset(cfg.dataset, ctx.data_dir, ctx.download)
    ws.ensure_writable()
    check_model(data.spec, cfg.arch, cfg.act, cfg.temp)  # a broken user arch: nothing is stored
    with ws.lock(run_id):
        if ws.has_run(run_id) and not ctx.force:  # another process finished it while we waited
            return ws.load_record(run_id), False
        trained = compute_trained(cfg, data, ctx.device, ctx.reporter)
        record = persist_trained(ws, trained)
    ctx.reporter.log(
        f"trained {run_id}: test acc {trained.metrics['test_acc']:.3f} "
        f"in {trained.metrics['train_time_s']:.1f}s"
    )
    return record, True


def attack_doc(
    run_id: str, train_cfg: TrainConfig, cfg: AttackConfig, outcome, device: torch.device
) -> dict[str, Any]:
    """The document attacks/<attack_id>.json holds: one resolved attack config on one run."""
    return {
        "run_id": run_id,
        "attack_id": cfg.attack_id(run_id),
        "model": {
            "dataset": train_cfg.dataset,
            "arch": train_cfg.arch,
            "act": train_cfg.act,
            "train_temp": train_cfg.temp,
            "eval_temp": cfg.eval_temp,
        },
        "config": cfg.model_dump(mode="json"),
        "threat_model": ATTACKS.get(cfg.method).norm,
        "metrics": outcome.metrics(),
        "per_sample": {
            "index": outcome.indices.tolist(),
            "label": outcome.labels.tolist(),
            "clean_pred": outcome.clean_pred.tolist(),
            "adv_pred": outcome.adv_pred.tolist(),
            "linf": [round(float(v), 6) for v in outcome.linf],
            "l2": [round(float(v), 6) for v in outcome.l2],
            **(
                {"attacked": outcome.attacked.tolist()}
                if getattr(outcome, "attacked", None) is not None
                else {}
            ),
        },
        "time_s": round(outcome.time_s, 3),
        "provenance": {
            "versions": versions(),
            "hardware": hardware(device),
            "seed": cfg.seed,
            "train_seed": train_cfg.seed,
            "created": now(),
        },
    }


@dataclass
class LoadedRun:
    """A stored run ready to attack: its id, its resolved training config, the model, and the model
    a transfer attack crafts on (None for other attacks)."""

    run_id: str
    config: TrainConfig
    net: HotNet
    surrogate: HotNet | None = None


def compute_attack(
    run: LoadedRun,
    data: Dataset,
    cfg: AttackConfig,
    device: torch.device,
    reporter: Reporter | None = None,
    only: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Run one *resolved* attack config on a loaded model without touching any workspace: the
    compute half of `ensure_attacked`. Returns the result document, not yet written."""
    reporter = reporter or Reporter(quiet=True)
    task = reporter.task(f"{cfg.label} on {run.run_id} @T={cfg.eval_temp:g}", cfg.n_samples)
    outcome = run_attack(
        Target(run.net, run.surrogate), data.test, cfg, device, on_batch=task.advance, only=only
    )
    task.done()
    return attack_doc(run.run_id, run.config, cfg, outcome, device)


def persist_attack(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    """Write one result document (atomically, with its checksum); the caller holds the run's
    lock."""
    return ws.save_result(doc["run_id"], doc)


def ensure_attacked(
    ctx: Context, record: RunRecord, cfg: AttackConfig, only: torch.Tensor | None = None
) -> tuple[dict[str, Any], bool]:
    """Return the stored result of `cfg` on `record`, computing it first if needed (always with
    `ctx.force`).

    `only` (bool per sample) attacks just those samples: fasteval's skip mode, whose configs carry
    `skip_after` so that such a partial result never shares a hash with the exact one."""
    ws, device = ctx.ws, ctx.device
    train_cfg = record.config
    data = load_dataset(train_cfg.dataset, ctx.data_dir, ctx.download)
    cfg = cfg.resolved(train_cfg.temp, len(data.test))
    attack_id = cfg.attack_id(record.run_id)
    # a result of earlier weights (the model was trained again since) is computed again
    if not ctx.force and (stored := ws.stored_result(record, attack_id)) is not None:
        return stored, False
    surrogate_record = None
    if ATTACKS.get(cfg.method).surrogate:
        # transfer: train the surrogate first (outside this run's lock); --force redoes the attack
        # only
        surrogate_record, _ = ensure_trained(ctx.unforced(), surrogate_config(train_cfg, cfg))
    with ws.lock(record.run_id):
        if not ctx.force and (stored := ws.stored_result(record, attack_id)) is not None:
            return stored, False
        net = ws.load_model(record, device)
        surrogate = (
            ws.load_model(surrogate_record, device) if surrogate_record is not None else None
        )
        run = LoadedRun(record.run_id, train_cfg, net, surrogate)
        doc = persist_attack(ws, compute_attack(run, data, cfg, device, ctx.reporter, only))
    return doc, True
