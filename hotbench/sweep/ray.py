"""The `ray` executor: one Ray task per unit on a Ray cluster, or on a local Ray instance.

Ray places each task (`num_gpus=1` when the cluster has GPUs) and resubmits a task whose worker dies
(`max_retries`). Ray is an optional extra (`pip install 'hotbench[ray]'`), imported only when used.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch

from ..context import Context
from ..errors import HotbenchError
from . import reaper
from .driver import Driver, Job, Outcome, error_line, run_job
from .plan import Plan, UnitStatus

RAY_MAX_RETRIES = (
    3  # a Ray task whose worker dies is resubmitted this many times before it is failed
)
RAY_INSTALL = "pip install 'hotbench[ray]'"


class RayBackend:
    """One Ray task per unit; Ray places it (a GPU each when the cluster has any) and retries worker
    deaths."""

    name = "ray"

    def __init__(self, ray: Any, device: torch.device) -> None:
        self.ray = ray
        gpus = float(ray.cluster_resources().get("GPU", 0)) if device.type == "cuda" else 0.0
        self.worker_device = (
            "cuda" if gpus > 0 else "cpu"
        )  # a task sees only the GPU Ray gave it, as cuda:0
        self._task = ray.remote(run_job).options(
            num_cpus=1,
            num_gpus=1 if gpus > 0 else 0,
            max_retries=RAY_MAX_RETRIES,
            retry_exceptions=False,
        )
        self._refs: dict[
            str, Any
        ] = {}  # run_id -> weights in the object store, uploaded once per run

    def capacity(self) -> int:
        return 1 << 30  # Ray queues tasks until resources free up

    def submit(self, job: Job, weights: Callable[[str], bytes]) -> Any:
        for r in job.needs:
            if r not in self._refs:
                self._refs[r] = self.ray.put(weights(r))
        return self._task.remote(job, *(self._refs[r] for r in job.needs))

    def wait(self, inflight: dict[Any, Job]) -> list[tuple[Any, Outcome]]:
        refs = list(inflight)
        self.ray.wait(refs, num_returns=1)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        out: list[tuple[Any, Outcome]] = []
        for ref in ready:
            try:
                out.append((ref, ("ok", self.ray.get(ref))))
            except self.ray.exceptions.RayTaskError as exc:  # the unit raised: report its own error
                out.append(
                    (ref, ("error", error_line(exc.cause if exc.cause is not None else exc)))
                )
            except (
                self.ray.exceptions.RayError
            ) as exc:  # worker death beyond max_retries, lost node, ...
                out.append((ref, ("error", error_line(exc))))
        return out

    def close(self) -> None:
        self._refs.clear()


@contextmanager
def _quiet_ray(quiet: bool) -> Iterator[None]:
    """Under --quiet, Ray's own loggers (set up by `import ray`, not by logging_level) print only
    errors."""
    if not quiet:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("ray", "ray._private", "ray.util")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HotbenchError(
            "executor 'ray' needs the ray package, which is not installed",
            f"install it with `{RAY_INSTALL}`",
        ) from None
    return ray


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, on a wrong `--address HOST:PORT` (or ray://HOST:PORT): ray.init
    keeps retrying an address where nothing listens. `auto` and no address are left to Ray, which
    fails fast.
    """
    if not address or address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        raise HotbenchError(
            f"--address '{address}' is not HOST:PORT, ray://HOST:PORT or auto",
            "pass e.g. --address auto on a cluster node, or --address ray://HEAD:10001",
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise HotbenchError(
            f"no Ray cluster answers at '{address}' ({exc.strerror or exc})",
            "start one (`ray start --head`) or fix --address",
        ) from None


def run_ray(plan: Plan, ctx: Context) -> list[UnitStatus]:
    """Ray: the cluster at --address (e.g. `auto` on a cluster node, or ray://head:10001), else the
    Ray instance this process already started, else a fresh local one (stopped again at the end)."""
    ray = import_ray()
    started = False
    watchdog = None
    try:
        if not ray.is_initialized():
            check_reachable(ctx.address)
            # a local instance we start must not outlive us, even if this process is SIGKILLed or
            # interrupted inside ray.init: the watchdog comes first, Ray's processes carry its mark
            watchdog = reaper.start() if ctx.address is None else None
            # Worker logs stay on the workers (a unit's error comes back with its status); no
            # dashboard for a throw-away local instance (an existing cluster keeps its own).
            extra = {"include_dashboard": False} if ctx.address is None else {}
            level = logging.ERROR if ctx.reporter.quiet else logging.WARNING
            try:
                with _quiet_ray(ctx.reporter.quiet), _marking(watchdog):
                    ray.init(address=ctx.address, log_to_driver=False, logging_level=level, **extra)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise HotbenchError(
                    f"cannot connect to Ray at '{ctx.address}': {error_line(exc)}",
                    "check --address (e.g. auto on a cluster node, or ray://HEAD:10001)",
                ) from None
            started = True
        return Driver(plan, ctx, RayBackend(ray, ctx.device)).run()
    finally:
        if started:
            ray.shutdown()
        reaper.finish(watchdog)  # stops whatever Ray left running: its agents, a half-done init


def _marking(watchdog: reaper.Watchdog | None) -> AbstractContextManager[None]:
    return watchdog.marking() if watchdog is not None else nullcontext()
