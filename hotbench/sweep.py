"""A sweep is a plan of units (train one config; attack one run with one config) and an executor that runs
them. Units already in the workspace are skipped before anything runs, so a sweep resumes where it stopped.

The local executor runs units in this process, in order; other executors (see `EXECUTORS`) may run them
elsewhere, but only the driver writes the workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import AttackConfig, TrainConfig
from .progress import Reporter
from .registry import Registry
from .runner import ensure_attacked, ensure_trained
from .store import Workspace


@dataclass
class Plan:
    """Every training config, and every attack config applied to every one of those models."""

    train: list[TrainConfig]
    attack: list[AttackConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen, unique = set(), []
        for cfg in (c.resolved() for c in self.train):
            if cfg.run_id not in seen:
                seen.add(cfg.run_id)
                unique.append(cfg)
        self.train = unique


@dataclass
class UnitStatus:
    kind: str  # "train" | "attack"
    name: str
    status: str  # "done" (computed now) | "stored" (skipped) | "failed: ..."


@dataclass
class SweepContext:
    ws: Workspace
    device: torch.device
    reporter: Reporter
    data_dir: Path | None = None
    download: bool = False
    force: bool = False


Executor = Callable[[Plan, SweepContext], list[UnitStatus]]
EXECUTORS: Registry[Executor] = Registry("executor")


@EXECUTORS.register("local")
def run_local(plan: Plan, ctx: SweepContext) -> list[UnitStatus]:
    statuses: list[UnitStatus] = []
    for cfg in plan.train:
        record, trained = ensure_trained(ctx.ws, cfg, ctx.device, ctx.reporter, ctx.data_dir, ctx.download, ctx.force)
        statuses.append(UnitStatus("train", record.run_id, "done" if trained else "stored"))
        for acfg in plan.attack:
            doc, fresh = ensure_attacked(ctx.ws, record, acfg, ctx.device, ctx.reporter, ctx.data_dir,
                                         ctx.download, ctx.force)
            statuses.append(UnitStatus("attack", f"{record.run_id}/{doc['attack_id']}", "done" if fresh else "stored"))
    return statuses


def run_plan(plan: Plan, ctx: SweepContext, executor: str = "local") -> list[UnitStatus]:
    return EXECUTORS.get(executor)(plan, ctx)
