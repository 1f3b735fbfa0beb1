"""Running a sweep's units outside the driver process: the unit as a worker sees it (Job, run_job),
the Backend protocol a pool or a cluster implements (sweep.pool, sweep.ray), and the Driver that
feeds them.

The unit of work is the store's: train one config, or run one attack config on one trained run. A
worker *computes* a unit (units.compute_trained / compute_attack) and sends the result back: the
weights as safetensors bytes plus the metrics for a training, the result document for an attack.
Only the driver *persists* (units.persist_trained / persist_attack, under the run's FileLock), so
the workspace gets the same files, written the same atomic way, as with the local executor, and
workers need no shared filesystem: an attack unit carries the weights it attacks (read back from
the workspace and checked against run.json).

What this module decides, and nothing more: which units are already stored (skipped before anything
is submitted), when a unit is ready (an attack once its run, and its transfer surrogate if any, are
stored), and what each unit's status is. Placement, resources and retries are the backend's (see
sweep.pool, sweep.ray).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import torch
from rich.markup import escape
from safetensors.torch import load, save

from ..attacks.composite import surrogate_config
from ..attacks.spec import ATTACKS
from ..config import AttackConfig, TrainConfig
from ..context import Context
from ..data import DATASETS, data_folders, load_dataset
from ..errors import HotbenchError
from ..models import HotNet, build_model
from ..store import WEIGHTS
from ..units import (
    LoadedRun,
    Trained,
    compute_attack,
    compute_trained,
    load_run_data,
    persist_attack,
    persist_trained,
    settled,
)
from .plan import Plan, UnitStatus

# Test-only fault injection, read by the driver and shipped with each unit (so it reaches Ray
# workers too): a worker whose unit name contains KILL_UNIT exits abruptly (os._exit) as if killed;
# with KILL_ONCE (a file path) only the first attempt dies, and it creates that file.
KILL_UNIT_ENV = "HOTBENCH_TEST_KILL_UNIT"
KILL_ONCE_ENV = "HOTBENCH_TEST_KILL_ONCE"
KILLED_EXIT_CODE = 86


# ---- the unit as a worker sees it ----------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One unit, self-contained: configs (already resolved), where to find the data, and which
    device."""

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
    weights_sha256: str | None = None  # an attack's target weights, recorded in its result

    @property
    def run_id(self) -> str:
        return self.train.run_id

    @property
    def needs(self) -> list[str]:
        """Run ids whose weights this unit needs (an attack's target and surrogate)."""
        if self.kind == "train":
            return []
        return [self.run_id] + ([self.surrogate.run_id] if self.surrogate is not None else [])


_WORKER_DEVICE: str | None = None  # set once per pool worker by init_worker


def init_worker(device: str, threads: int) -> None:
    """Run once per pool worker: pin the device the worker's jobs run on (so two workers never share
    a GPU) and size torch's threads."""
    global _WORKER_DEVICE
    _WORKER_DEVICE = device
    torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))


def _maybe_die(job: Job) -> None:
    """Test-only: end this worker abruptly, as a kill -9 or an out-of-memory kill would (see
    KILL_UNIT_ENV)."""
    if job.kill is None or job.kill[0] not in job.name:
        return
    marker = job.kill[1]
    if marker is not None:
        try:
            fd = os.open(
                marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY
            )  # only the first attempt wins
        except FileExistsError:
            return
        os.close(fd)
    os._exit(KILLED_EXIT_CODE)


def weights_to_bytes(model: HotNet) -> bytes:
    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def model_from_bytes(cfg: TrainConfig, blob: bytes, device: torch.device | str = "cpu") -> HotNet:
    """Rebuild a trained model from safetensors bytes (no code runs while they are read)."""
    cfg = cfg.resolved()
    model = build_model(DATASETS.get(cfg.dataset), cfg.arch, cfg.act, cfg.temp)
    model.load_state_dict(load(blob), strict=True)
    return model.to(device).eval()


def run_job(
    job: Job, weights: bytes | None = None, surrogate: bytes | None = None
) -> dict[str, Any]:
    """Compute one unit in a worker. Pure: reads the data, writes nothing; the driver persists the
    result."""
    start = time.perf_counter()
    _maybe_die(job)
    device = torch.device(job.device or _WORKER_DEVICE or "cpu")
    data = load_dataset(job.train.dataset, job.data_dir, job.download)
    if job.kind == "train":
        trained = compute_trained(job.train, data, device, data_dir=job.data_dir)
        return {
            "weights": weights_to_bytes(trained.model),
            "metrics": trained.metrics,
            "provenance": trained.provenance,
            "time_s": time.perf_counter() - start,
        }
    assert job.attack is not None and weights is not None
    net = model_from_bytes(job.train, weights, device)
    sur = (
        model_from_bytes(job.surrogate, surrogate, device)
        if job.surrogate is not None and surrogate
        else None
    )
    doc = compute_attack(LoadedRun(job.run_id, job.train, net, sur), data, job.attack, device)
    if job.weights_sha256 is not None:
        doc["weights_sha256"] = job.weights_sha256
    return {"doc": doc, "time_s": time.perf_counter() - start}


# ---- backends: where jobs run --------------------------------------------------------------------
Outcome = tuple[
    Literal["ok", "error", "retry"], Any
]  # ("ok", result) | ("error", message) | ("retry", None)


class Backend(Protocol):
    name: str
    worker_device: str | None  # the device a job names (None: the worker's own)

    def capacity(self) -> int: ...  # how many jobs may be in flight now

    def submit(self, job: Job, weights: Callable[[str], bytes]) -> Any: ...

    def wait(self, inflight: dict[Any, Job]) -> list[tuple[Any, Outcome]]: ...

    def close(self) -> None: ...


def error_line(exc: BaseException) -> str:
    """A unit's error as the one line its status shows."""
    if isinstance(exc, HotbenchError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# ---- the driver ----------------------------------------------------------------------------------
@dataclass
class _Pending:
    """An attack waiting for the runs it needs to be stored."""

    target: TrainConfig
    attack: AttackConfig  # unresolved
    surrogate: TrainConfig | None
    slot: int  # index of its status in the plan's order


@dataclass
class Driver:
    """Plans the units, feeds ready jobs to a backend, persists results and keeps per-unit
    statuses."""

    plan: Plan
    ctx: Context
    backend: Backend
    statuses: list[UnitStatus | None] = field(default_factory=list)
    _train_slot: dict[str, int] = field(default_factory=dict)
    _stored: set[str] = field(default_factory=set)
    _failed: dict[str, str] = field(default_factory=dict)  # run_id -> why its training failed
    _pending: list[_Pending] = field(default_factory=list)
    _twins: dict[str, list[int]] = field(
        default_factory=dict
    )  # unit name -> slots of the same unit again
    _blob: tuple[str, bytes] | None = None

    def run(self) -> list[UnitStatus]:
        self.ctx.ws.ensure_writable()
        trains, ready = self._plan()
        bar = self.ctx.reporter.overall(
            f"{self.backend.name}: {self.plan.distinct_units()} units", self._units()
        )
        bar.advance(self._finished())
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
                        self.ctx.reporter.log(
                            f"worker died while running {job.name}: running it again, alone"
                        )
                        continue
                    n_before = self._finished()
                    if kind == "ok":
                        queue.extend(self._persist(job, value))
                    else:
                        queue.extend(self._fail(job, value))
                    bar.update(total=self._units())  # twins found on release leave the count
                    status = self.statuses[job.slot]
                    secs = f" in {status.time_s:.1f}s" if status and status.time_s else ""
                    note = f"{job.name}: {status.status if status else 'done'}{secs}"
                    bar.advance(self._finished() - n_before, note=note)
        except BaseException:  # Ctrl-C or a driver error: stop the workers, leave none behind
            abort = getattr(self.backend, "abort", None)
            (abort or self.backend.close)()
            raise
        self.backend.close()
        twins = self._twin_slots()  # a unit planned twice is listed once, as it ran
        return [s for i, s in enumerate(self.statuses) if s is not None and i not in twins]

    def _twin_slots(self) -> set[int]:
        return {slot for slots in self._twins.values() for slot in slots}

    def _units(self) -> int:
        """Distinct units: a unit planned twice (a twin) is run and counted once."""
        return len(self.statuses) - len(self._twin_slots())

    def _finished(self) -> int:
        twins = self._twin_slots()
        return sum(s is not None and i not in twins for i, s in enumerate(self.statuses))

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
                self.statuses[p.slot] = UnitStatus(
                    "attack",
                    f"{p.target.run_id}/{p.attack.label}",
                    f"failed: training {failed[0]} failed",
                )
            elif all(r in self._stored for r in needs):
                record = self.ctx.ws.load_record(p.target.run_id)
                n_test = record.doc["metrics"].get("n_test")
                if n_test is None:  # runs stored before run.json recorded it
                    n_test = len(load_run_data(record, self.ctx.data_dir, self.ctx.download).test)
                cfg = p.attack.resolved(p.target.temp, int(n_test))
                if cfg.eot is not None or cfg.draws is not None:  # none on a deterministic model
                    test = load_run_data(record, self.ctx.data_dir, self.ctx.download).test
                    cfg = settled(self.ctx, record, test, cfg)
                name = f"{p.target.run_id}/{cfg.attack_id(p.target.run_id)}"
                # (a result of weights since replaced is computed again)
                stored = (
                    not self.ctx.force
                    and self.ctx.ws.stored_result(record, cfg.attack_id(p.target.run_id))
                    is not None
                )
                if name in self._twins:  # e.g. eval T "train" and 1 on a T=1 model: run once
                    self._twins[name].append(p.slot)
                    if stored:
                        self.statuses[p.slot] = UnitStatus("attack", name, "stored")
                elif stored:
                    self._twins[name] = []
                    self.statuses[p.slot] = UnitStatus("attack", name, "stored")
                else:
                    self._twins[name] = []
                    where = self._where()
                    # the target's data: --data-dir, else where its run.json says
                    folder = data_folders(self.ctx.data_dir, record.recorded_data_dir)[0]
                    where["data_dir"] = str(folder)
                    jobs.append(
                        Job(
                            "attack",
                            name,
                            p.target,
                            cfg,
                            p.surrogate,
                            slot=p.slot,
                            weights_sha256=record.weights_sha256,
                            **where,
                        )
                    )
            else:
                keep.append(p)
        self._pending = keep
        return jobs

    def _where(self) -> dict[str, Any]:
        return {
            "device": self.backend.worker_device,
            "data_dir": str(self.ctx.data_dir) if self.ctx.data_dir is not None else None,
            "download": self.ctx.download,
        }

    def _job(self, kind: Literal["train"], cfg: TrainConfig) -> Job:
        return Job(kind, cfg.run_id, cfg, slot=self._train_slot[cfg.run_id], **self._where())

    @staticmethod
    def _kill() -> tuple[str, str | None] | None:
        unit = os.environ.get(KILL_UNIT_ENV)
        return (unit, os.environ.get(KILL_ONCE_ENV)) if unit else None

    def _weights(self, run_id: str) -> bytes:
        """A stored run's weights, checked against run.json, for shipping to a worker (last one
        cached)."""
        if self._blob is not None and self._blob[0] == run_id:
            return self._blob[1]
        record = self.ctx.ws.load_record(run_id)
        blob = (record.path / WEIGHTS).read_bytes()
        if hashlib.sha256(blob).hexdigest() != record.doc["weights"]["sha256"]:
            raise HotbenchError(
                f"weights file '{record.path / WEIGHTS}' does not match the checksum in run.json",
                f"delete '{record.path}' and run the sweep again",
            )
        self._blob = (run_id, blob)
        return blob

    # -- results: only the driver writes the workspace
    def _persist(self, job: Job, result: dict[str, Any]) -> list[Job]:
        ws, secs = self.ctx.ws, round(float(result["time_s"]), 3)
        with ws.lock(job.run_id):
            if job.kind == "train":
                if (
                    ws.has_run(job.run_id) and not self.ctx.force
                ):  # another sweep stored it meanwhile
                    status = "stored"
                else:
                    model = model_from_bytes(job.train, result["weights"])
                    persist_trained(
                        ws, Trained(job.train, model, result["metrics"], result["provenance"])
                    )
                    status = "done"
                self._stored.add(job.run_id)
                self.ctx.reporter.detail(
                    f"trained {job.run_id}: test acc {result['metrics']['test_acc']:.3f}"
                )
            else:
                doc = result["doc"]
                record = ws.load_record(job.run_id)
                if not self.ctx.force and ws.stored_result(record, doc["attack_id"]) is not None:
                    status = "stored"
                else:
                    persist_attack(ws, doc)
                    status = "done"
        self.statuses[job.slot] = UnitStatus(job.kind, job.name, status, secs)
        for slot in self._twins.get(job.name, []):
            self.statuses[slot] = UnitStatus(
                job.kind, job.name, "stored"
            )  # as the local executor finds it
        return self._release() if job.kind == "train" else []

    def _fail(self, job: Job, why: str) -> list[Job]:
        for slot in [job.slot] + self._twins.get(job.name, []):
            self.statuses[slot] = UnitStatus(job.kind, job.name, f"failed: {why}")
        self.ctx.reporter.log(f"[red]failed[/] {escape(job.name)}: {escape(why)}")
        if job.kind == "train":
            self._failed[job.run_id] = why
            return self._release()  # its attacks fail too
        return []
