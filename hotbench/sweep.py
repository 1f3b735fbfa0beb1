"""A sweep is a plan of units (train one config; attack one run with one config) and an executor that runs
them. Units already in the workspace are skipped before anything runs, so a sweep resumes where it stopped.

The local executor runs units in this process, in order; other executors (`process`, `ray`: see
hotbench.executors) run them elsewhere, but only the driver writes the workspace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.table import Table
from rich.text import Text

from .config import AttackConfig, TrainConfig
from .errors import HotbenchError
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
    time_s: float | None = None  # compute time of a unit done now


@dataclass
class SweepContext:
    ws: Workspace
    device: torch.device
    reporter: Reporter
    data_dir: Path | None = None
    download: bool = False
    force: bool = False
    workers: int | None = None  # --workers, for the process executor
    address: str | None = None  # --address, for the ray executor


Executor = Callable[[Plan, SweepContext], list[UnitStatus]]
EXECUTORS: Registry[Executor] = Registry("executor")


@EXECUTORS.register("local")
def run_local(plan: Plan, ctx: SweepContext) -> list[UnitStatus]:
    statuses: list[UnitStatus] = []
    bar = ctx.reporter.task(f"local: {len(plan.train) * (1 + len(plan.attack))} units",
                            len(plan.train) * (1 + len(plan.attack)))
    for cfg in plan.train:
        start = time.perf_counter()
        record, trained = ensure_trained(ctx.ws, cfg, ctx.device, ctx.reporter, ctx.data_dir, ctx.download, ctx.force)
        statuses.append(UnitStatus("train", record.run_id, "done" if trained else "stored",
                                   round(time.perf_counter() - start, 3) if trained else None))
        bar.advance()
        for acfg in plan.attack:
            start = time.perf_counter()
            doc, fresh = ensure_attacked(ctx.ws, record, acfg, ctx.device, ctx.reporter, ctx.data_dir,
                                         ctx.download, ctx.force)
            statuses.append(UnitStatus("attack", f"{record.run_id}/{doc['attack_id']}", "done" if fresh else "stored",
                                       round(time.perf_counter() - start, 3) if fresh else None))
            bar.advance()
    return statuses


def run_plan(plan: Plan, ctx: SweepContext, executor: str = "local", *, workers: int | None = None,
             address: str | None = None) -> list[UnitStatus]:
    """Run every unit of `plan` not yet stored, with the named executor. `workers` / `address` (or the same
    fields of `ctx`) apply to the `process` / `ray` executors only, and are refused elsewhere so that a
    user who passes them is not silently ignored."""
    run = EXECUTORS.get(executor)
    workers = workers if workers is not None else ctx.workers
    address = address if address is not None else ctx.address
    if workers is not None and executor != "process":
        raise HotbenchError(f"--workers applies to --executor process, not '{executor}'",
                            "drop --workers, or pass --executor process (Ray sizes itself from the cluster)")
    if workers is not None and workers < 1:
        raise HotbenchError(f"--workers must be >= 1, got {workers}", "pass e.g. --workers 2")
    if address is not None and executor != "ray":
        raise HotbenchError(f"--address applies to --executor ray, not '{executor}'",
                            "drop --address, or pass --executor ray")
    ctx.workers, ctx.address = workers, address
    return run(plan, ctx)


def unit_table(statuses: list[UnitStatus]) -> Table:
    """Per-unit status at the end of a sweep: what was computed now, reused, or failed (and why)."""
    table = Table(title="units", title_justify="left")
    table.add_column("unit", overflow="fold")  # the name is the key: wrap it, never cut it
    table.add_column("kind", no_wrap=True)
    table.add_column("status", overflow="fold")
    table.add_column("time", justify="right", no_wrap=True)
    colour = {"done": "green", "stored": "dim"}
    for s in statuses:
        style = colour.get(s.status, "red")
        table.add_row(Text(s.name), s.kind, Text(s.status, style=style),  # Text: no markup in error messages
                      f"{s.time_s:.1f}s" if s.time_s is not None else "")
    return table


# The executors that run units outside this process register themselves on import.
from . import executors as _executors  # noqa: E402,F401
