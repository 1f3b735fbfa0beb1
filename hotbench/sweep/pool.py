"""The `process` executor: a process pool on this machine, one worker per GPU (else per CPU core, up
to 4).

concurrent.futures.ProcessPoolExecutor with the spawn start method (CUDA cannot be forked). Each
worker takes one device when it starts: cuda:0..k-1 round-robin when several GPUs exist, else the
CPU with cores / workers torch threads. A worker that dies breaks the whole pool and the pool cannot
say which unit killed it, so every unit that was in flight is run once more, alone, in a fresh pool;
a unit whose worker dies while it runs alone is reported failed, and the sweep goes on without it.
Workers die with the driver, also when it is killed with SIGKILL (sweep.lifeline).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import torch

from ..context import Context
from ..errors import HotbenchError, warn
from .driver import Driver, Job, Outcome, error_line, run_job
from .lifeline import init_pool_worker
from .plan import Plan, UnitStatus


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while workers are spawned: an ignored signal stays ignored across exec, and
    Python then installs no KeyboardInterrupt handler, so a Ctrl-C that arrives while a worker still
    imports torch (before its initializer runs) does not print a traceback either."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def pool_devices(device: torch.device, workers: int) -> list[str]:
    """One device per worker: every visible GPU round-robin for `cuda` (cuda:N pins all to N), else
    `device`. More workers than GPUs is allowed but warned about: on one H100, three workers made
    each attack unit about 20 times slower than one (docs/performance.md, issue 18)."""
    n = torch.cuda.device_count() if device.type == "cuda" and device.index is None else 0
    if device.type == "cuda" and workers > max(n, 1):
        warn(
            f"{workers} workers share {max(n, 1)} GPU(s): attack units ran about 20x slower with"
            " three workers on one GPU than with one (pass --workers with at most one per GPU)"
        )
    if n > 0:
        return [f"cuda:{i % n}" for i in range(workers)]
    return [str(device)] * workers


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class PoolBackend:
    """ProcessPoolExecutor (spawn); recreated after a worker death, with the units then in flight
    run alone."""

    name = "process"
    worker_device = None  # each worker uses the device it took from the pool's slots

    def __init__(self, workers: int, device: torch.device) -> None:
        self.workers = workers
        self.devices = pool_devices(device, workers)
        self.threads = max(1, cpu_cores() // workers)
        self._mp = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._lifeline: Connection | None = None  # the write end: the workers' tie to the driver
        self.suspects: set[str] = (
            set()
        )  # units in flight when a worker died: they run alone until cleared

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            slots = self._mp.Queue()
            for d in self.devices:
                slots.put(d)
            read_end, self._lifeline = self._mp.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=self._mp,
                initializer=init_pool_worker,
                initargs=(os.getpid(), read_end, slots, self.threads),
            )
        return self._pool

    def _drop_pool(self, wait: bool) -> ProcessPoolExecutor | None:
        """Forget the pool and cut its workers' lifeline (after `wait`ing for a clean shutdown)."""
        pool, self._pool = self._pool, None
        if pool is not None and wait:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None
        return pool

    def capacity(self) -> int:
        return 1 if self.suspects else self.workers

    def submit(self, job: Job, weights: Callable[[str], bytes]) -> Future:
        blobs = [weights(r) for r in job.needs]
        with _sigint_ignored():  # submit may spawn a worker
            return self._ensure_pool().submit(run_job, job, *blobs)

    def wait(self, inflight: dict[Any, Job]) -> list[tuple[Any, Outcome]]:
        done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            done, _ = wait(
                list(inflight)
            )  # a broken pool fails every future it holds: collect them all
            self._drop_pool(wait=True)
        out: list[tuple[Any, Outcome]] = []
        for fut in done:
            name = inflight[fut].name
            exc = fut.exception()
            if exc is None:
                self.suspects.discard(name)
                out.append((fut, ("ok", fut.result())))
            elif isinstance(exc, BrokenProcessPool):
                if name in self.suspects:  # it ran alone: the death is its own
                    self.suspects.discard(name)
                    out.append((fut, ("error", "worker process died (again when run alone)")))
                else:
                    self.suspects.add(name)
                    out.append((fut, ("retry", None)))
            else:
                self.suspects.discard(name)
                out.append((fut, ("error", error_line(exc))))
        return out

    def close(self) -> None:
        self._drop_pool(wait=True)

    def abort(self) -> None:
        """Stop now (Ctrl-C, an error in the driver): end the workers instead of waiting for the
        units they run, and reap them, so that no process outlives the command."""
        pool = self._drop_pool(wait=False)
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


def _validate_workers(workers: int | None, default: int) -> int:
    n = default if workers is None else workers
    if n < 1:
        raise HotbenchError(f"--workers must be >= 1, got {n}", "pass e.g. --workers 2")
    return n


CPU_DEFAULT_WORKERS = (
    4  # each worker holds torch and a dataset copy (~0.5-1 GB): not one per core by default
)


def run_process(plan: Plan, ctx: Context) -> list[UnitStatus]:
    """A process pool on this machine: --workers N (default: one per GPU, else up to 4, one per CPU
    core).

    Scripts that call this need the `if __name__ == "__main__":` guard: spawned workers re-import
    them.
    """
    default = (
        torch.cuda.device_count()
        if ctx.device.type == "cuda"
        else min(cpu_cores(), CPU_DEFAULT_WORKERS)
    )
    workers = _validate_workers(ctx.workers, max(1, default))
    return Driver(plan, ctx, PoolBackend(workers, ctx.device)).run()
