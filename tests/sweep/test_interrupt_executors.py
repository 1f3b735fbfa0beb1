"""Ctrl-C and SIGKILL with the process and Ray executors leave no process behind (issue 17 #10).

A real `hotbench run` is started in its own session, so that every process it starts (pool workers,
Ray's GCS server, raylet and workers) can be found by session id in /proc; Ctrl-C is sent the way a
terminal sends it, to the whole process group. Linux only (/proc).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotbench.sweep.reaper import proc_stat
from tests.conftest import sigint_default

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# long enough to be caught mid-way by a signal
PRESET = """\
train:
  datasets: [digits]
  acts: [tanh]
  temps: [1, 5, 10, 20]
  epochs: 400
attack:
  n_samples: 20
  attacks:
    - method: fgsm
      eps: [0.1]
"""


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid`, the driver's (the reaper is in its own)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (f := proc_stat(int(d.name))) is not None:
            if int(f[3]) == sid and f[0] not in ("Z", "X"):
                out.append(int(d.name))
    return out


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for k in kids:
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def alive(pids) -> list[int]:
    return [p for p in pids if (f := proc_stat(p)) is not None and f[0] not in ("Z", "X")]


def start(tmp_path: Path, *extra: str) -> subprocess.Popen:
    preset = tmp_path / "long.yaml"
    preset.write_text(PRESET)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "hotbench.cli", "run", str(preset), "-w", str(tmp_path / "ws")]
        + ["--device", "cpu", "-q", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=sigint_default,
    )


def wait_until(cond, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"hotbench ended (rc {proc.returncode}) before {what}: {err[-2000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"no {what} within {timeout}s")
        time.sleep(0.1)


def training_started(ws: Path) -> bool:
    return any((ws / "runs" / ".locks").glob("*.lock"))


def test_ctrl_c_with_the_process_executor_is_one_line_and_leaves_no_process(tmp_path):
    proc = start(tmp_path, "--executor", "process", "--workers", "2")
    try:
        # both workers alive and computing (the driver takes the lock only to persist: wait for
        # the workers' CPU time instead)
        wait_until(lambda: len(session_members(proc.pid)) >= 3, proc, 120, "pool workers")
        time.sleep(4)  # past their imports, inside the training
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), err
    deadline = time.monotonic() + 10
    while session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_members(proc.pid) == [], "a worker outlived the command"


@pytest.mark.slow
def test_ray_driver_killed_with_sigkill_leaves_no_ray_process(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'hotbench[ray]')")
    proc = start(tmp_path, "--executor", "ray")
    try:
        wait_until(lambda: training_started(tmp_path / "ws") or _ray_up(proc.pid), proc, 180, "Ray")
        wait_until(lambda: _ray_up(proc.pid), proc, 180, "Ray's processes")
        time.sleep(3)
        spawned = descendants(proc.pid)
        assert spawned
        proc.kill()  # SIGKILL: no handler, no finally, no ray.shutdown() runs
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 40
        while alive(spawned) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = alive(spawned)
        names = [Path(f"/proc/{p}/comm").read_text().strip() for p in left if proc_stat(p)]
        assert left == [], f"Ray processes outlived the driver: {names}"
    finally:
        for p in alive(descendants(proc.pid)):
            os.kill(p, signal.SIGKILL)


@pytest.mark.slow
def test_ctrl_c_with_the_ray_executor_is_one_line_and_leaves_no_process(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'hotbench[ray]')")
    proc = start(tmp_path, "--executor", "ray")
    try:
        wait_until(lambda: _ray_up(proc.pid), proc, 180, "Ray's processes")
        time.sleep(3)
        spawned = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=90)
        deadline = time.monotonic() + 40
        while alive(spawned) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert alive(spawned) == [], "Ray processes outlived the command"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("interrupted:"), err


def _ray_up(pid: int) -> bool:
    names = set()
    for p in descendants(pid):
        try:
            names.add(Path(f"/proc/{p}/comm").read_text().strip())
        except OSError:
            pass
    return any("raylet" in n for n in names)


@pytest.mark.slow
def test_ray_under_quiet_prints_nothing_but_the_result(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'hotbench[ray]')")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "hotbench.cli", "run", "ci-smoke", "--executor", "ray", "-q"]
        + ["-w", str(tmp_path / "ws"), "--device", "cpu", "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def _torch_loaded(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("moment", ["starting", "computing"])
def test_sigkill_of_the_process_executors_driver_leaves_no_worker(tmp_path, moment):
    """SIGKILL runs no handler in the driver: the workers must notice on their own (issue 29).
    `starting`: the driver dies while the workers still import torch (before their initializer
    runs); `computing`: while they train."""
    proc = start(tmp_path, "--executor", "process", "--workers", "2")
    spawned: set[int] = set()
    try:

        def workers(loaded: bool) -> bool:
            kids = descendants(proc.pid)
            spawned.update(kids)
            return sum(1 for k in kids if not loaded or _torch_loaded(k)) >= 2

        # two workers (the resource tracker also counts as a descendant: a third one)
        wait_until(lambda: workers(False) and len(descendants(proc.pid)) >= 3, proc, 120, "workers")
        if moment == "computing":
            wait_until(lambda: workers(True), proc, 120, "workers past their imports")
            time.sleep(2)  # inside the training
        spawned.update(descendants(proc.pid))
        proc.kill()  # SIGKILL: no handler, no finally, no pool shutdown runs in the driver
        proc.wait(timeout=30)  # not communicate(): a live worker holds the pipes open
        deadline = time.monotonic() + 30  # a worker still importing torch under load notices late
        while alive(spawned) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(spawned)
        names = [Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in left if proc_stat(p)]
        assert left == [], f"processes outlived the killed driver: {names}"
    finally:
        for p in alive(spawned | descendants(proc.pid)):
            os.kill(p, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
