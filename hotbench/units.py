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

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import draws
from .attacks.composite import independent, surrogate_config
from .attacks.engine import Target, run_attack
from .attacks.outcome import AttackOutcome
from .attacks.spec import ATTACKS
from .config import AttackConfig, TrainConfig
from .context import Context
from .data import Dataset, data_folders, data_source, load_dataset
from .defenses import DEFENSES
from .errors import HotbenchError
from .models import HotNet, arch_source, check_model, train_batch_sizes
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


def load_run_data(
    record: RunRecord, data_dir: Path | str | None = None, download: bool = False
) -> Dataset:
    """The dataset a stored run was trained on, from the first of `data.data_folders` that holds it
    (`data_dir`, then the folder run.json recorded at training). A dataset found in neither is one
    line naming both folders and the fix."""
    recorded = record.recorded_data_dir
    first_error = None
    for folder in data_folders(data_dir, recorded):
        try:
            return load_dataset(record.config.dataset, folder, download)
        except HotbenchError as exc:
            first_error = first_error or exc
    if recorded is None:
        raise first_error
    given = f" nor under '{data_dir}'" if data_dir is not None else ""
    raise HotbenchError(
        f"{record.config.dataset} files not found under '{recorded}', where run {record.run_id}"
        f" was trained (run.json){given}; the data has moved or was deleted",
        "pass --data-dir (or set HOTBENCH_DATA) to the folder that holds it now",
    ) from None


def compute_trained(
    cfg: TrainConfig,
    data: Dataset,
    device: torch.device,
    reporter: Reporter | None = None,
    data_dir: Path | str | None = None,
) -> Trained:
    """Train `cfg` without touching any workspace: the compute half of `ensure_trained`."""
    reporter = reporter or Reporter(quiet=True)
    cfg = cfg.resolved()
    task = reporter.task(f"train {cfg.run_id}", cfg.epochs)
    result = train_model(
        cfg,
        data,
        device,
        on_epoch=lambda e, loss: task.advance(),
        loss_fn=DEFENSES.get(cfg.defense).build_loss(cfg),
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
        "data": data_source(cfg.dataset, data_dir),
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
    cfg.check_fits(len(data.train))
    ws.ensure_writable()
    batches = train_batch_sizes(len(data.train.head(cfg.n_train)), cfg.batch_size)
    check_model(data.spec, cfg.arch, cfg.act, cfg.temp, batches)  # a broken user arch: no run
    with ws.lock(run_id):
        if ws.has_run(run_id) and not ctx.force:  # another process finished it while we waited
            return ws.load_record(run_id), False
        trained = compute_trained(cfg, data, ctx.device, ctx.reporter, ctx.data_dir)
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
        "config": cfg.stored(),
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
            **(
                {"target": outcome.target.tolist()}
                if getattr(outcome, "target", None) is not None
                else {}
            ),
            # a randomized model: one bit per draw, set where that draw classified it correctly
            **(
                {
                    "clean_draws": draws.pack(outcome.clean_draws),
                    "adv_draws": draws.pack(outcome.adv_draws),
                }
                if getattr(outcome, "adv_draws", None) is not None
                else {}
            ),
        },
        **(
            {"randomness": outcome.randomness}
            if getattr(outcome, "randomness", None) is not None
            else {}
        ),
        "time_s": round(outcome.time_s, 3),
        "provenance": {
            "versions": versions(),
            "hardware": hardware(device),
            "seed": cfg.seed,
            "train_seed": train_cfg.seed,
            "created": now(),
            # a user's --arch: the source this result was measured with (it may since have changed)
            **({"arch_source": src} if (src := arch_source(train_cfg.arch)) is not None else {}),
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
    lock. A transfer result records the surrogate it was crafted on (its run id, weights sha256
    and whether it is independent of the target), which the diagnosis requires."""
    cfg = AttackConfig(**doc["config"])
    if ATTACKS.get(cfg.method).surrogate and "surrogate" not in doc:
        target = ws.load_record(doc["run_id"]).config
        sur = ws.load_record(surrogate_config(target, cfg).resolved().run_id)
        doc = {
            **doc,
            "surrogate": {
                "run_id": sur.run_id,
                "weights_sha256": sur.weights_sha256,
                "arch": sur.config.resolved().arch,
                "seed": sur.config.seed,
                "independent": independent(target, sur.config),
            },
        }
    return ws.save_result(doc["run_id"], doc)


def ensure_attacked(
    ctx: Context,
    record: RunRecord,
    cfg: AttackConfig,
    only: torch.Tensor | None = None,
    complete: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Return the stored result of `cfg` on `record`, computing it first if needed (always with
    `ctx.force`).

    `only` (bool per sample) attacks just those samples: fasteval's skip mode, whose configs carry
    `skip_after` so that such a partial result never shares a hash with the exact one.

    `complete`: when the same config is stored on fewer samples, attack only the missing ones and
    store the union as the result on `cfg.n_samples` (provenance.completed_from names the smaller
    one), instead of recomputing the samples already attacked."""
    ws, device = ctx.ws, ctx.device
    train_cfg = record.config
    data = load_run_data(record, ctx.data_dir, ctx.download)
    cfg = cfg.resolved(train_cfg.temp, len(data.test))
    attack_id = cfg.attack_id(record.run_id)
    # a result of earlier weights (the model was trained again since) is computed again
    if not ctx.force and (stored := ws.stored_result(record, attack_id)) is not None:
        return stored, False
    surrogate_record = None
    if ATTACKS.get(cfg.method).surrogate:
        ws.require_arch(record)  # the target must load before its surrogate is trained for it
        # transfer: train the surrogate first (outside this run's lock) on the target's data, found
        # where run.json says; --force redoes the attack only
        where = data_folders(ctx.data_dir, record.recorded_data_dir)[0]
        surrogate_record, _ = ensure_trained(
            dataclasses.replace(ctx.unforced(), data_dir=where), surrogate_config(train_cfg, cfg)
        )
    with ws.lock(record.run_id):
        if not ctx.force and (stored := ws.stored_result(record, attack_id)) is not None:
            return stored, False
        net = ws.load_model(record, device)
        surrogate = (
            ws.load_model(surrogate_record, device) if surrogate_record is not None else None
        )
        run = LoadedRun(record.run_id, train_cfg, net, surrogate)
        smaller = stored_smaller(ws, record.run_id, cfg) if complete and only is None else None
        if smaller is not None:
            missing = torch.arange(cfg.n_samples) >= len(smaller["per_sample"]["index"])
            new = compute_attack(run, data, cfg, device, ctx.reporter, missing)
            doc = persist_attack(ws, merge_completed(smaller, new))
        else:
            doc = persist_attack(ws, compute_attack(run, data, cfg, device, ctx.reporter, only))
    return doc, True


def stored_smaller(ws: Workspace, run_id: str, cfg: AttackConfig) -> dict[str, Any] | None:
    """The stored result of the same resolved config on the most (but fewer) first-N samples."""
    best = None
    for doc in ws.load_results(run_id):
        other = AttackConfig(**doc["config"])
        n = other.n_samples or 0
        if (
            n < (cfg.n_samples or 0)
            and other.model_copy(update={"n_samples": cfg.n_samples}) == cfg
            and doc["per_sample"]["index"] == list(range(n))
            and (best is None or n > len(best["per_sample"]["index"]))
        ):
            best = doc
    return best


def merge_completed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The result on new's samples: old's per-sample outcomes where it has them, new's elsewhere;
    metrics recomputed from the merged outcomes."""
    have = len(old["per_sample"]["index"])
    ps = {
        k: list(old["per_sample"].get(k, v[:have])) + list(v[have:])
        for k, v in new["per_sample"].items()
    }
    cfg = AttackConfig(**new["config"])
    outcome = AttackOutcome(
        cfg,
        np.asarray(ps["index"]),
        np.asarray(ps["label"]),
        np.asarray(ps["clean_pred"]),
        np.asarray(ps["adv_pred"]),
        np.asarray(ps["linf"], dtype=float),
        np.asarray(ps["l2"], dtype=float),
        old["time_s"] + new["time_s"],
        old["metrics"].get("n_invalid", 0) + new["metrics"].get("n_invalid", 0),
        np.asarray(ps["attacked"]) if "attacked" in ps else None,
        np.asarray(ps["target"]) if "target" in ps else None,
        **(
            {
                "clean_draws": draws.unpack(ps["clean_draws"], draws.draws_of(new)),
                "adv_draws": draws.unpack(ps["adv_draws"], draws.draws_of(new)),
                "randomness": new["randomness"],
            }
            if "adv_draws" in ps
            else {}
        ),
    )
    return {
        **new,
        "metrics": outcome.metrics(),
        "per_sample": ps,
        "time_s": round(outcome.time_s, 3),
        "provenance": {**new["provenance"], "completed_from": old["attack_id"]},
    }
