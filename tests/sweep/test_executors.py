"""Executors: the process pool and Ray give the local executor's result files, only the driver
writes the workspace, a dead worker costs one unit (or is retried), and a re-run computes only what
is missing.

Equality is exact (timestamps, timings and checksums aside): CPU float reductions depend on the
number of torch threads, so the local reference is computed with the thread count the workers use.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.config import AttackConfig, TrainConfig
from hotbench.context import Context
from hotbench.errors import HotbenchError, reset_warnings
from hotbench.progress import Reporter
from hotbench.store import Workspace
from hotbench.sweep import Plan, UnitStatus, pool, run_plan
from hotbench.sweep import ray as ray_executor
from hotbench.sweep.driver import KILL_ONCE_ENV, KILL_UNIT_ENV
from tests.conftest import CPU, strip_volatile

PLAN = Plan(
    train=[TrainConfig(dataset="digits", act="tanh", temp=t, epochs=3) for t in (1.0, 20.0)],
    attack=[
        AttackConfig(method="fgsm", eps=0.1, n_samples=50),
        AttackConfig(method="pgd", eps=0.1, steps=5, n_samples=50, eval_temp=1.0),
        AttackConfig(method="transfer", eps=0.1, steps=5, n_samples=50),
    ],  # needs a surrogate run too
)
T1, T20 = (c.run_id for c in PLAN.train)
N_UNITS = 2 + 2 * 3 + 1  # the executors list the transfer surrogate's training as a unit of its own


def ctx_for(root: Path, **kw: Any) -> Context:
    return Context(ws=Workspace(root), device=CPU, reporter=Reporter(quiet=True), **kw)


def snapshot(root: Path) -> dict[str, Any]:
    """Every JSON of a workspace minus the volatile keys, plus the raw weights."""
    out: dict[str, Any] = {
        str(p.relative_to(root)): strip_volatile(json.loads(p.read_text()))
        for p in root.rglob("*.json")
    }
    out.update({str(p.relative_to(root)): p.read_bytes() for p in root.rglob("model.safetensors")})
    return out


def by_name(statuses: list[UnitStatus]) -> dict[str, str]:
    return {s.name: s.status for s in statuses}


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> Callable[[int], Path]:
    """Local-executor workspaces of PLAN, one per torch thread count asked for (computed on first
    use)."""
    cache: dict[int, Path] = {}

    def get(threads: int) -> Path:
        if threads not in cache:
            root = tmp_path_factory.mktemp(f"local-{threads}threads")
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                statuses = run_plan(PLAN, ctx_for(root), "local")
            finally:
                torch.set_num_threads(before)
            assert {s.status for s in statuses} == {"done"} and len(statuses) == N_UNITS
            cache[threads] = root
        return cache[threads]

    return get


def pool_threads(workers: int) -> int:
    return max(1, pool.cpu_cores() // workers)


# ---- options -------------------------------------------------------------------------------------
def test_unknown_executor_is_one_line_listing_the_names(tmp_path):
    with pytest.raises(HotbenchError, match=r"unknown executor 'slurm'.*local, process, ray"):
        run_plan(PLAN, ctx_for(tmp_path), "slurm")


@pytest.mark.parametrize(
    "executor, kw, message",
    [
        ("local", {"workers": 2}, "--workers applies to --executor process"),
        ("ray", {"workers": 2}, "--workers applies to --executor process"),
        ("process", {"address": "auto"}, "--address applies to --executor ray"),
        ("process", {"workers": 0}, "--workers must be >= 1"),
    ],
)
def test_options_of_another_executor_are_refused(tmp_path, executor, kw, message):
    with pytest.raises(HotbenchError, match=message):
        run_plan(PLAN, ctx_for(tmp_path), executor, **kw)
    assert not (tmp_path / "runs").exists()  # refused before any work


def test_ray_not_installed_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(HotbenchError, match=r"not installed.*pip install 'hotbench\[ray\]'"):
        run_plan(PLAN, ctx_for(tmp_path), "ray")

    result = CliRunner().invoke(
        app, ["run", "ci-smoke", "--executor", "ray", "-w", str(tmp_path / "ws")]
    )
    assert result.exit_code == 2
    assert "pip install 'hotbench[ray]'" in result.output and "Traceback" not in result.output


def test_a_wrong_ray_address_fails_in_seconds():
    with pytest.raises(HotbenchError, match="no Ray cluster answers at '127.0.0.1:1'"):
        ray_executor.check_reachable(
            "127.0.0.1:1"
        )  # nothing listens on port 1; ray.init would retry for minutes
    with pytest.raises(HotbenchError, match="is not HOST:PORT"):
        ray_executor.check_reachable("head-node")
    ray_executor.check_reachable("auto")  # left to Ray, which finds a cluster or fails at once


def test_pool_devices_round_robin_over_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pool.pool_devices(torch.device("cuda"), 3) == ["cuda:0", "cuda:1", "cuda:0"]
    assert pool.pool_devices(torch.device("cuda:1"), 2) == ["cuda:1", "cuda:1"]  # asked for one GPU
    assert pool.pool_devices(CPU, 2) == ["cpu", "cpu"]


def test_more_workers_than_gpus_is_warned_about(monkeypatch, capsys):
    """Measured on an H100 (docs/performance.md): three workers on the one GPU made each attack
    unit about 20 times slower than one. Allowed, but said once; one worker per GPU and CPU workers
    are not warned about."""
    reset_warnings()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    pool.pool_devices(torch.device("cuda"), 2)
    pool.pool_devices(CPU, 4)
    assert "warning" not in capsys.readouterr().err
    pool.pool_devices(torch.device("cuda"), 3)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 workers share 2 GPU(s)" in err and "--workers" in err


# ---- process pool --------------------------------------------------------------------------------
def test_process_pool_matches_local_and_resubmits_nothing(tmp_path, references, monkeypatch):
    statuses = run_plan(PLAN, ctx_for(tmp_path), "process", workers=2)
    assert [s.status for s in statuses] == ["done"] * N_UNITS
    assert all(s.time_s is not None for s in statuses)
    assert snapshot(tmp_path) == snapshot(references(pool_threads(2)))

    def no_submit(*a, **kw):
        raise AssertionError("a stored unit was submitted")

    monkeypatch.setattr(pool.PoolBackend, "submit", no_submit)
    again = run_plan(PLAN, ctx_for(tmp_path), "process", workers=2)
    assert [s.status for s in again] == ["stored"] * N_UNITS


# slow: three pools start (the first break, the dying unit alone, the re-run): ~15 s on 16 cores
@pytest.mark.slow
def test_process_worker_death_fails_one_unit_and_rerun_finishes_it(
    tmp_path, references, monkeypatch
):
    ref = references(pool_threads(2))
    shutil.copytree(ref, tmp_path, dirs_exist_ok=True)
    for victim in [
        *(tmp_path / "runs" / T20 / "attacks").glob("pgd-*.json"),
        *(tmp_path / "runs" / T1 / "attacks").glob("fgsm-*.json"),
    ]:
        victim.unlink()
    monkeypatch.setenv(KILL_UNIT_ENV, f"{T20}/pgd")  # that worker exits abruptly, every time

    statuses = by_name(run_plan(PLAN, ctx_for(tmp_path), "process", workers=2))
    dead = [n for n in statuses if n.startswith(f"{T20}/pgd")]
    assert len(dead) == 1 and statuses[dead[0]].startswith("failed: worker process died")
    fgsm = next(n for n in statuses if n.startswith(f"{T1}/fgsm"))
    assert (
        statuses[fgsm] == "done"
    )  # finished first, or caught in the broken pool and retried alone
    assert sum(s == "stored" for s in statuses.values()) == N_UNITS - 2
    assert not list((tmp_path / "runs" / T20 / "attacks").glob("pgd-*.json"))

    monkeypatch.delenv(KILL_UNIT_ENV)
    again = by_name(run_plan(PLAN, ctx_for(tmp_path), "process", workers=2))
    assert again[dead[0]] == "done" and sum(s == "stored" for s in again.values()) == N_UNITS - 1
    assert snapshot(tmp_path) == snapshot(ref)


# ---- Ray -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance (2 CPUs) for the module: it takes several seconds to start."""
    ray = pytest.importorskip(
        "ray", reason="ray is not installed (pip install 'hotbench[ray]'); Ray executor untested"
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_matches_local_and_retries_a_dead_worker(tmp_path, references, ray_local, monkeypatch):
    ref = references(1)  # a Ray task has num_cpus=1, and Ray gives its worker one thread
    statuses = run_plan(PLAN, ctx_for(tmp_path), "ray")
    assert [s.status for s in statuses] == ["done"] * N_UNITS
    assert snapshot(tmp_path) == snapshot(ref)
    assert ray_local.is_initialized()  # the executor used the running instance and left it running

    victim = next((tmp_path / "runs" / T20 / "attacks").glob("pgd-*.json"))
    victim.unlink()
    marker = tmp_path / "died-once"
    monkeypatch.setenv(KILL_UNIT_ENV, f"{T20}/pgd")
    monkeypatch.setenv(KILL_ONCE_ENV, str(marker))
    again = by_name(run_plan(PLAN, ctx_for(tmp_path), "ray"))
    assert marker.exists()  # the first attempt's worker did die
    assert (
        again[f"{T20}/{victim.stem}"] == "done"
        and sum(s == "stored" for s in again.values()) == N_UNITS - 1
    )
    assert snapshot(tmp_path) == snapshot(ref)


# ---- `train` / `attack` with a preset take the executor too --------------------------------------
def test_executor_options_need_a_preset(tmp_path):
    for cmd in ("train", "attack"):
        r = CliRunner().invoke(app, [cmd, "--executor", "process", "-w", str(tmp_path / "ws")])
        assert r.exit_code == 2 and "apply to preset sweeps" in r.stderr


def test_train_preset_through_the_process_executor_matches_local(tmp_path):
    preset = tmp_path / "tiny.yaml"
    preset.write_text(
        "train:\n  acts: [tanh]\n  temps: [5]\n  epochs: 2\nattack:\n  n_samples: 30\n"
        "  attacks:\n    - method: fgsm\n      eps: [0.1]\n"
    )
    r = CliRunner().invoke(
        app,
        [
            "train",
            "--preset",
            str(preset),
            "--executor",
            "process",
            "--workers",
            "1",
            "-w",
            str(tmp_path / "pool"),
            "-q",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        app,
        ["attack", "--preset", str(preset), "--executor", "bogus", "-w", str(tmp_path / "pool")],
    )
    assert r.exit_code == 2 and "unknown executor 'bogus'" in r.stderr
    before = torch.get_num_threads()
    torch.set_num_threads(pool_threads(1))
    try:
        r = CliRunner().invoke(
            app,
            [
                "train",
                "--preset",
                str(preset),
                "-w",
                str(tmp_path / "local"),
                "-q",
                "--device",
                "cpu",
            ],
        )
    finally:
        torch.set_num_threads(before)
    assert r.exit_code == 0, r.output
    pool, local = snapshot(tmp_path / "pool"), snapshot(tmp_path / "local")
    assert pool.keys() == local.keys() and any(k.endswith("model.safetensors") for k in pool)
    assert pool == local


# ---- one status per unit, counted right (issue 26) ----------------------------------------------
def test_local_lists_each_unit_once_and_counts_what_it_computed(tmp_path):
    """A fresh sweep computes everything: the transfer attack's surrogate is a unit of its own
    (trained inside the first transfer attack, it had no status and took that attack's progress
    number), and an attack at eval T 'train' and at eval T 1 on a T = 1 model is one unit (it was
    listed twice, 'done' and 'stored'). A second sweep stores nothing new and says so in one
    line."""
    from hotbench.sweep.presets import summary

    plan = Plan(
        train=[
            TrainConfig(dataset="digits", act="tanh", temp=5.0, epochs=1, n_train=200),
            TrainConfig(dataset="digits", act="none", temp=1.0, epochs=1, n_train=200),
        ],
        attack=[
            AttackConfig(method="transfer", eps=0.1, steps=2, n_samples=20),
            AttackConfig(method="fgsm", eps=0.1, n_samples=20),
            AttackConfig(method="fgsm", eps=0.1, n_samples=20, eval_temp=1.0),
        ],
    )
    log = io.StringIO()
    ctx = ctx_for(tmp_path)
    ctx.reporter = Reporter(live=False, file=log, verbose=True)
    statuses = run_plan(plan, ctx, "local")
    names = [s.name for s in statuses]
    units = plan.distinct_units() + 1  # the transfer surrogate (seed 1) is a unit of its own
    assert len(names) == len(set(names)) == units
    assert {s.status for s in statuses} == {"done"}, [(s.name, s.status) for s in statuses]
    assert summary(statuses).startswith(f"{units} units: all computed (3 train, ")
    # piped, one line per unit, each with its own number (the surrogate, trained inside the
    # transfer attack, took the attack's number: `[6/69]` twice in `make demo`)
    counters = re.findall(r"^\[(\d+)/(\d+)\] ", log.getvalue(), re.M)
    assert [int(k) for k, _ in counters] == list(range(1, units + 1)), log.getvalue()
    assert {int(n) for _, n in counters} == {units}
    again = run_plan(plan, ctx_for(tmp_path), "local")
    assert len(again) == units and {s.status for s in again} == {"stored"}
    assert summary(again) == f"all {units} units already stored, nothing computed"
