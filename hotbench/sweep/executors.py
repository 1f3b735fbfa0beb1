"""Where a sweep's units run: the executors by name, and `run_plan`, which runs every unit of a plan
not yet stored. Units already in the workspace are skipped, so a sweep resumes where it stopped.

`local` runs units in this process, in order; `process` (sweep.pool) and `ray` (sweep.ray) run them
elsewhere, but only the driver writes the workspace.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from ..context import Context
from ..errors import HotbenchError, printable
from ..registry import EXECUTORS
from .local import run_local
from .plan import Plan, UnitStatus
from .pool import run_process
from .ray import run_ray

Executor = Callable[[Plan, Context], list[UnitStatus]]
EXECUTORS.add("local", run_local)
EXECUTORS.add("process", run_process)
EXECUTORS.add("ray", run_ray)


def run_plan(
    plan: Plan,
    ctx: Context,
    executor: str = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
) -> list[UnitStatus]:
    """Run every unit of `plan` not yet stored, with the named executor. `workers` / `address` (or
    the same fields of `ctx`) apply to the `process` / `ray` executors only, and are refused
    elsewhere so that a user who passes them is not silently ignored."""
    run = EXECUTORS.get(executor)
    workers = workers if workers is not None else ctx.workers
    address = address if address is not None else ctx.address
    if workers is not None and executor != "process":
        raise HotbenchError(
            f"--workers applies to --executor process, not '{executor}'",
            "drop --workers, or pass --executor process (Ray sizes itself from the cluster)",
        )
    if workers is not None and workers < 1:
        raise HotbenchError(f"--workers must be >= 1, got {workers}", "pass e.g. --workers 2")
    if address is not None and executor != "ray":
        raise HotbenchError(
            f"--address applies to --executor ray, not '{executor}'",
            "drop --address, or pass --executor ray",
        )
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
        table.add_row(
            Text(printable(s.name)),  # escaped before the table measures it
            s.kind,
            Text(printable(s.status), style=style),  # Text: no markup in error messages
            f"{s.time_s:.1f}s" if s.time_s is not None else "",
        )
    return table
