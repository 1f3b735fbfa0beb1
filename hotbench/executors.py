"""Executors that run a sweep's units outside the driver process: `process` (a pool on one machine, one
worker per GPU) and `ray` (a Ray cluster, or a local Ray instance).

The unit of work is the store's: train one config, or run one attack config on one trained run. A worker
*computes* a unit (runner.compute_trained / compute_attack) and sends the result back: the weights as
safetensors bytes plus the metrics for a training, the result document for an attack. Only the driver
*persists* (runner.persist_trained / persist_attack, under the run's FileLock), so the workspace gets the
same files, written the same atomic way, as with the local executor, and workers need no shared filesystem:
an attack unit carries the weights it attacks (read back from the workspace and checked against run.json).

What this module decides, and nothing more: which units are already stored (skipped before anything is
submitted), when a unit is ready (an attack once its run, and its transfer surrogate if any, are stored), and
what each unit's status is. Placement, resources and retries are the pool's or Ray's:
- `process`: concurrent.futures.ProcessPoolExecutor with the spawn start method (CUDA cannot be forked).
  Each worker takes one device when it starts: cuda:0..k-1 round-robin when several GPUs exist, else the
  CPU with cores / workers torch threads. A worker that dies breaks the whole pool and the pool cannot say
  which unit killed it, so every unit that was in flight is run once more, alone, in a fresh pool; a unit
  whose worker dies while it runs alone is reported failed, and the sweep goes on without it.
- `ray`: one Ray task per unit (`num_gpus=1` when the cluster has GPUs), `max_retries` for worker death.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import torch
from rich.markup import escape

from .attacks import ATTACKS, surrogate_config
from .config import AttackConfig, TrainConfig
from .data import DATASETS, load_dataset
from .errors import HotbenchError
from .models import HotNet, build_model
from .runner import Trained, compute_attack, compute_trained, persist_attack, persist_trained
from .store import WEIGHTS
from .sweep import EXECUTORS, Plan, SweepContext, UnitStatus

# Test-only fault injection, read by the driver and shipped with each unit (so it reaches Ray workers too):
# a worker whose unit name contains KILL_UNIT exits abruptly (os._exit) as if killed; with KILL_ONCE (a
# file path) only the first attempt dies, and it creates that file.
KILL_UNIT_ENV = "HOTBENCH_TEST_KILL_UNIT"
KILL_ONCE_ENV = "HOTBENCH_TEST_KILL_ONCE"
KILLED_EXIT_CODE = 86

RAY_MAX_RETRIES = 3  # a Ray task whose worker dies is resubmitted this many times before it is failed
RAY_INSTALL = "pip install 'hotbench[ray]'"


# ---- the unit as a worker sees it ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One unit, self-contained: configs (already resolved), where to find the data, and which device."""

    kind: Literal["train", "attack"]
    name: str  # the status name: <run_id> or <run_id>/<attack_id>, as the local executor reports
    train: TrainConfig  # the run trained, or the run attacked
    attack: AttackConfig | None = None
    surrogate: TrainConfig | None = None  # transfer attacks craft on this stored run
    device: str | None = None  # None: the device the pool pinned this worker to
    data_dir: str | None = None
    download: bool = False
    kill: tuple[str, str | None] | None = None  # test-only fault injection, see KILL_UNIT_ENV
    slot: int = -1  # the driver's index of this unit's status (workers ignore it)

    @property
    def run_id(self) -> str:
        return self.train.run_id

    @property
    def needs(self) -> list[str]:
        """Run ids whose weights this unit needs (an attack's target and surrogate)."""
        if self.kind == "train":
            return []
        return [self.run_id] + ([self.surrogate.run_id] if self.surrogate is not None else [])


_WORKER_DEVICE: str | None = None  # set once per pool worker by _init_pool_worker


def _init_pool_worker(slots: Any, threads: int) -> None:
    """Pool initializer: take one device slot (so two workers never share a GPU) and size torch's threads."""
    global _WORKER_DEVICE
    _WORKER_DEVICE = slots.get()
    torch.set_num_threads(threads)
    if _WORKER_DEVICE.startswith("cuda"):
        torch.cuda.set_device(torch.device(_WORKER_DEVICE))


def _maybe_die(job: Job) -> None:
    """Test-only: end this worker abruptly, as a kill -9 or an out-of-memory kill would (see KILL_UNIT_ENV)."""
    if job.kill is None or job.kill[0] not in job.name:
        return
    marker = job.kill[1]
    if marker is not None:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # only the first attempt wins
        except FileExistsError:
            return
        os.close(fd)
    os._exit(KILLED_EXIT_CODE)


def weights_to_bytes(model: HotNet) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def model_from_bytes(cfg: TrainConfig, blob: bytes, device: torch.device | str = "cpu") -> HotNet:
    """Rebuild a trained model from safetensors bytes (no code runs while they are read)."""
    from safetensors.torch import load

    cfg = cfg.resolved()
    model = build_model(DATASETS.get(cfg.dataset), cfg.arch, cfg.act, cfg.temp)
    model.load_state_dict(load(blob), strict=True)
    return model.to(device).eval()


def run_job(job: Job, weights: bytes | None = None, surrogate: bytes | None = None) -> dict[str, Any]:
    """Compute one unit in a worker. Pure: reads the data, writes nothing; the driver persists the result."""
    start = time.perf_counter()
    _maybe_die(job)
    device = torch.device(job.device or _WORKER_DEVICE or "cpu")
    data = load_dataset(job.train.dataset, job.data_dir, job.download)
    if job.kind == "train":
        trained = compute_trained(job.train, data, device)
        return {"weights": weights_to_bytes(trained.model), "metrics": trained.metrics,
                "provenance": trained.provenance, "time_s": time.perf_counter() - start}
    assert job.attack is not None and weights is not None
    net = model_from_bytes(job.train, weights, device)
    sur = model_from_bytes(job.surrogate, surrogate, device) if job.surrogate is not None and surrogate else None
    doc = compute_attack(job.run_id, job.train, net, data, job.attack, device, surrogate=sur)
    return {"doc": doc, "time_s": time.perf_counter() - start}


# ---- backends: where jobs run ----------------------------------------------------------------------------
Outcome = tuple[Literal["ok", "error", "retry"], Any]  # ("ok", result) | ("error", message) | ("retry", None)


class Backend(Protocol):
    name: str
    worker_device: str | None  # the device a job names (None: the worker's own)

    def capacity(self) -> int: ...  # how many jobs may be in flight now

    def submit(self, job: Job, weights: Callable[[str], bytes]) -> Any: ...

    def wait(self, inflight: dict[Any, Job]) -> list[tuple[Any, Outcome]]: ...

    def close(self) -> None: ...


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, HotbenchError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def pool_devices(device: torch.device, workers: int) -> list[str]:
    """One device per worker: every visible GPU round-robin for `cuda` (cuda:N pins all to N), else `device`."""
    n = torch.cuda.device_count() if device.type == "cuda" and device.index is None else 0
    if n > 0:
        return [f"cuda:{i % n}" for i in range(workers)]
    return [str(device)] * workers


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class PoolBackend:
    """ProcessPoolExecutor (spawn); recreated after a worker death, with the units then in flight run alone."""

    name = "process"
    worker_device = None  # each worker uses the device it took from the pool's slots

    def __init__(self, workers: int, device: torch.device) -> None:
        import multiprocessing

        self.workers = workers
        self.devices = pool_devices(device, workers)
        self.threads = max(1, cpu_cores() // workers)
        self._mp = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self.suspects: set[str] = set()  # units in flight when a worker died: they run alone until cleared

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            slots = self._mp.Queue()
            for d in self.devices:
                slots.put(d)
            self._pool = ProcessPoolExecutor(self.workers, mp_context=self._mp, initializer=_init_pool_worker,
                                             initargs=(slots, self.threads))
        return self._pool

    def capacity(self) -> int:
        return 1 if self.suspects else self.workers

    def submit(self, job: Job, weights: Callable[[str], bytes]) -> Future:
        blobs = [weights(r) for r in job.needs]
        return self._ensure_pool().submit(run_job, job, *blobs)

    def wait(self, inflight: dict[Any, Job]) -> list[tuple[Any, Outcome]]:
        done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            done, _ = wait(list(inflight))  # a broken pool fails every future it holds: collect them all
            assert self._pool is not None
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
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
                out.append((fut, ("error", _one_line(exc))))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayBackend:
    """One Ray task per unit; Ray places it (a GPU each when the cluster has any) and retries worker deaths."""

    name = "ray"

    def __init__(self, ray: Any, device: torch.device) -> None:
        self.ray = ray
        gpus = float(ray.cluster_resources().get("GPU", 0)) if device.type == "cuda" else 0.0
        self.worker_device = "cuda" if gpus > 0 else "cpu"  # a task sees only the GPU Ray gave it, as cuda:0
        self._task = ray.remote(run_job).options(num_cpus=1, num_gpus=1 if gpus > 0 else 0,
                                                max_retries=RAY_MAX_RETRIES, retry_exceptions=False)
        self._refs: dict[str, Any] = {}  # run_id -> weights in the object store, uploaded once per run

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
                out.append((ref, ("error", _one_line(exc.cause if exc.cause is not None else exc))))
            except self.ray.exceptions.RayError as exc:  # worker death beyond max_retries, lost node, ...
                out.append((ref, ("error", _one_line(exc))))
        return out

    def close(self) -> None:
        self._refs.clear()


# ---- the driver --------------------------------------------------------------------------------------------
@dataclass
class _Pending:
    """An attack waiting for the runs it needs to be stored."""

    target: TrainConfig
    attack: AttackConfig  # unresolved
    surrogate: TrainConfig | None
    slot: int  # index of its status in the plan's order


@dataclass
class _Driver:
    """Plans the units, feeds ready jobs to a backend, persists results and keeps per-unit statuses."""

    plan: Plan
    ctx: SweepContext
    backend: Backend
    statuses: list[UnitStatus | None] = field(default_factory=list)
    _train_slot: dict[str, int] = field(default_factory=dict)
    _stored: set[str] = field(default_factory=set)
    _failed: dict[str, str] = field(default_factory=dict)  # run_id -> why its training failed
    _pending: list[_Pending] = field(default_factory=list)
    _twins: dict[str, list[int]] = field(default_factory=dict)  # unit name -> slots of the same unit again
    _blob: tuple[str, bytes] | None = None

    def run(self) -> list[UnitStatus]:
        self.ctx.ws.ensure_writable()
        trains, ready = self._plan()
        bar = self.ctx.reporter.task(f"{self.backend.name}: {len(self.statuses)} units", len(self.statuses))
        bar.advance(sum(s is not None for s in self.statuses))
        queue: deque[Job] = deque(self._job("train", c) for c in trains)
        queue.extend(ready)
        inflight: dict[Any, Job] = {}
        kill = self._kill()
        try:
            while queue or inflight:
                while queue and len(inflight) < self.backend.capacity():
                    job = queue.popleft()
                    job = replace(job, kill=kill) if kill else job
                    inflight[self.backend.submit(job, self._weights)] = job
                for handle, (kind, value) in self.backend.wait(inflight):
                    job = inflight.pop(handle)
                    if kind == "retry":
                        queue.appendleft(job)
                        self.ctx.reporter.log(f"worker died while running {job.name}: running it again, alone")
                        continue
                    n_before = sum(s is not None for s in self.statuses)
                    if kind == "ok":
                        queue.extend(self._persist(job, value))
                    else:
                        queue.extend(self._fail(job, value))
                    bar.advance(sum(s is not None for s in self.statuses) - n_before)
        finally:
            self.backend.close()
        return [s for s in self.statuses if s is not None]

    # -- planning: skip what is stored, before anything is submitted
    def _plan(self) -> tuple[list[TrainConfig], list[Job]]:
        ws, force = self.ctx.ws, self.ctx.force
        targets = list(self.plan.train)
        extra: list[TrainConfig] = []  # transfer surrogates that the plan does not train itself
        attacks: list[tuple[TrainConfig, AttackConfig, TrainConfig | None]] = []
        for t in targets:
            for a in self.plan.attack:
                sur = surrogate_config(t, a).resolved() if ATTACKS.get(a.method).surrogate else None
                if sur is not None and all(sur.run_id != c.run_id for c in targets + extra):
                    extra.append(sur)
                attacks.append((t, a, sur))
        to_train = []
        for cfg in targets + extra:
            self._train_slot[cfg.run_id] = len(self.statuses)
            if ws.has_run(cfg.run_id) and not force:
                self._stored.add(cfg.run_id)
                self.statuses.append(UnitStatus("train", cfg.run_id, "stored"))
            else:
                self.statuses.append(None)
                to_train.append(cfg)
            for t, a, sur in attacks:
                if t.run_id == cfg.run_id:
                    self.statuses.append(None)
                    self._pending.append(_Pending(t, a, sur, len(self.statuses) - 1))
        return to_train, self._release()

    def _release(self) -> list[Job]:
        """Attacks whose runs are now stored: stored results are marked, the rest become jobs."""
        jobs, keep = [], []
        for p in self._pending:
            needs = [p.target.run_id] + ([p.surrogate.run_id] if p.surrogate is not None else [])
            failed = [r for r in needs if r in self._failed]
            if failed:
                self.statuses[p.slot] = UnitStatus("attack", f"{p.target.run_id}/{p.attack.label}",
                                                   f"failed: training {failed[0]} failed")
            elif all(r in self._stored for r in needs):
                record = self.ctx.ws.load_record(p.target.run_id)
                n_test = record.doc["metrics"].get("n_test")
                if n_test is None:  # runs stored before run.json recorded it
                    n_test = len(load_dataset(p.target.dataset, self.ctx.data_dir, self.ctx.download).test)
                cfg = p.attack.resolved(p.target.temp, int(n_test))
                name = f"{p.target.run_id}/{cfg.attack_id(p.target.run_id)}"
                if self.ctx.ws.result_path(p.target.run_id, cfg.attack_id(p.target.run_id)).is_file() and not self.ctx.force:
                    self.statuses[p.slot] = UnitStatus("attack", name, "stored")
                elif name in self._twins:  # e.g. eval T "train" and 1 on a T=1 model: computed once
                    self._twins[name].append(p.slot)
                else:
                    self._twins[name] = []
                    jobs.append(Job("attack", name, p.target, cfg, p.surrogate, slot=p.slot, **self._where()))
            else:
                keep.append(p)
        self._pending = keep
        return jobs

    def _where(self) -> dict[str, Any]:
        return {"device": self.backend.worker_device, "data_dir": str(self.ctx.data_dir) if self.ctx.data_dir is not None else None,
                "download": self.ctx.download}

    def _job(self, kind: Literal["train"], cfg: TrainConfig) -> Job:
        return Job(kind, cfg.run_id, cfg, slot=self._train_slot[cfg.run_id], **self._where())

    @staticmethod
    def _kill() -> tuple[str, str | None] | None:
        unit = os.environ.get(KILL_UNIT_ENV)
        return (unit, os.environ.get(KILL_ONCE_ENV)) if unit else None

    def _weights(self, run_id: str) -> bytes:
        """A stored run's weights, checked against run.json, for shipping to a worker (last one cached)."""
        if self._blob is not None and self._blob[0] == run_id:
            return self._blob[1]
        record = self.ctx.ws.load_record(run_id)
        blob = (record.path / WEIGHTS).read_bytes()
        if hashlib.sha256(blob).hexdigest() != record.doc["weights"]["sha256"]:
            raise HotbenchError(f"weights file '{record.path / WEIGHTS}' does not match the checksum in run.json",
                                f"delete '{record.path}' and run the sweep again")
        self._blob = (run_id, blob)
        return blob

    # -- results: only the driver writes the workspace
    def _persist(self, job: Job, result: dict[str, Any]) -> list[Job]:
        ws, secs = self.ctx.ws, round(float(result["time_s"]), 3)
        with ws.lock(job.run_id):
            if job.kind == "train":
                if ws.has_run(job.run_id) and not self.ctx.force:  # another sweep stored it meanwhile
                    status = "stored"
                else:
                    model = model_from_bytes(job.train, result["weights"])
                    persist_trained(ws, Trained(job.train, model, result["metrics"], result["provenance"]))
                    status = "done"
                self._stored.add(job.run_id)
                self.ctx.reporter.log(f"trained {job.run_id}: test acc {result['metrics']['test_acc']:.3f}")
            else:
                doc = result["doc"]
                if ws.result_path(job.run_id, doc["attack_id"]).is_file() and not self.ctx.force:
                    status = "stored"
                else:
                    persist_attack(ws, doc)
                    status = "done"
        self.statuses[job.slot] = UnitStatus(job.kind, job.name, status, secs)
        for slot in self._twins.get(job.name, []):
            self.statuses[slot] = UnitStatus(job.kind, job.name, "stored")  # as the local executor finds it
        return self._release() if job.kind == "train" else []

    def _fail(self, job: Job, why: str) -> list[Job]:
        for slot in [job.slot] + self._twins.get(job.name, []):
            self.statuses[slot] = UnitStatus(job.kind, job.name, f"failed: {why}")
        self.ctx.reporter.log(f"[red]failed[/] {escape(job.name)}: {escape(why)}")
        if job.kind == "train":
            self._failed[job.run_id] = why
            return self._release()  # its attacks fail too
        return []


def _validate_workers(workers: int | None, default: int) -> int:
    n = default if workers is None else workers
    if n < 1:
        raise HotbenchError(f"--workers must be >= 1, got {n}", "pass e.g. --workers 2")
    return n


CPU_DEFAULT_WORKERS = 4  # each worker holds torch and a dataset copy (~0.5-1 GB): not one per core by default


@EXECUTORS.register("process")
def run_process(plan: Plan, ctx: SweepContext) -> list[UnitStatus]:
    """A process pool on this machine: --workers N (default: one per GPU, else up to 4, one per CPU core).

    Scripts that call this need the `if __name__ == "__main__":` guard: spawned workers re-import them."""
    default = torch.cuda.device_count() if ctx.device.type == "cuda" else min(cpu_cores(), CPU_DEFAULT_WORKERS)
    workers = _validate_workers(ctx.workers, max(1, default))
    return _Driver(plan, ctx, PoolBackend(workers, ctx.device)).run()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HotbenchError("executor 'ray' needs the ray package, which is not installed",
                            f"install it with `{RAY_INSTALL}`") from None
    return ray


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, on a wrong `--address HOST:PORT` (or ray://HOST:PORT): ray.init keeps
    retrying an address where nothing listens. `auto` and no address are left to Ray, which fails fast."""
    if not address or address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        raise HotbenchError(f"--address '{address}' is not HOST:PORT, ray://HOST:PORT or auto",
                            "pass e.g. --address auto on a cluster node, or --address ray://HEAD:10001")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise HotbenchError(f"no Ray cluster answers at '{address}' ({exc.strerror or exc})",
                            "start one (`ray start --head`) or fix --address") from None


@EXECUTORS.register("ray")
def run_ray(plan: Plan, ctx: SweepContext) -> list[UnitStatus]:
    """Ray: the cluster at --address (e.g. `auto` on a cluster node, or ray://head:10001), else the Ray
    instance this process already started, else a fresh local one (stopped again at the end)."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        check_reachable(ctx.address)
        # Worker logs stay on the workers (a unit's error comes back with its status); no dashboard for a
        # throw-away local instance (an existing cluster keeps its own).
        extra = {"include_dashboard": False} if ctx.address is None else {}
        try:
            ray.init(address=ctx.address, log_to_driver=False, logging_level=logging.WARNING, **extra)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise HotbenchError(f"cannot connect to Ray at '{ctx.address}': {_one_line(exc)}",
                                "check --address (e.g. auto on a cluster node, or ray://HEAD:10001)") from None
        started = True
    try:
        return _Driver(plan, ctx, RayBackend(ray, ctx.device)).run()
    finally:
        if started:
            ray.shutdown()
