"""The Ray watchdog (sweep/reaper.py) on a fake process tree, without Ray (issue 17 #10).

What outlived the driver in the Ray runs: Ray's DashboardAgent and RuntimeEnvAgent, started by
raylet after the watchdog had taken its list of processes (or before the watchdog existed, when
Ctrl-C came inside ray.init), and orphaned when raylet, fate-sharing with the driver, exited before
anyone looked at its children. The fake tree has that shape: a "raylet" that starts an "agent" in
its own session when told to, and exits as soon as the driver is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hotbench.sweep import ray as ray_executor
from hotbench.sweep import reaper

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]

# Ray's agents: a Ray program (by its path) with its log open in the driver's session directory,
# whose process title has overwritten the environment (so: no token); a worker keeps the token
AGENT = textwrap.dedent(
    """
    import sys, time
    log = open(sys.argv[1], "w")
    time.sleep(300)
    """
)

RAYLET = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    driver, go, pidfile, agent, log = sys.argv[1:]
    driver, go, pidfile = int(driver), Path(go), Path(pidfile)
    def driver_alive():
        try:
            return Path(f"/proc/{driver}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
        except OSError:
            return False
    while not go.exists():
        time.sleep(0.05)
    clean = {k: v for k, v in os.environ.items() if k != "HOTBENCH_RAY_OWNER"}
    agent = subprocess.Popen([sys.executable, agent, log], env=clean, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                              start_new_session=True)
    while not Path(log).exists():
        time.sleep(0.02)
    pidfile.write_text(f"{agent.pid} {worker.pid}")
    while driver_alive():
        time.sleep(0.02)
    """
)


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout}s")
        time.sleep(0.05)


def _kill(pid: int) -> None:
    if reaper.alive(pid):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def tree(tmp_path):
    """A driver (a sleeper), its watchdog, a fake raylet started under the watchdog's mark, and two
    bystanders started without it: a sleeper and a pager over the session's log."""
    driver = subprocess.Popen(SLEEPER)
    watchdog = reaper.start(driver=driver.pid)
    assert watchdog is not None
    session = tmp_path / f"session_2026-11-27_19-58-51_403659_{driver.pid}" / "logs"
    session.mkdir(parents=True)
    agent = tmp_path / "ray" / "dashboard" / "agent.py"  # a path of Ray's own
    agent.parent.mkdir(parents=True)
    agent.write_text(AGENT)
    (tmp_path / "raylet.py").write_text(RAYLET)
    go, pidfile, log = tmp_path / "go", tmp_path / "agents.pid", session / "dashboard_agent.log"
    with watchdog.marking():
        raylet = subprocess.Popen(
            [sys.executable, str(tmp_path / "raylet.py"), str(driver.pid), str(go), str(pidfile)]
            + [str(agent), str(log)]
        )
    assert reaper.ENV not in os.environ, "the mark is only for what starts inside the block"
    bystander = subprocess.Popen(SLEEPER)
    log.touch()
    pager = subprocess.Popen([sys.executable, "-c", AGENT, str(session / "pager.log")])
    try:
        yield SimpleNamespace(
            driver=driver, bystanders=[bystander, pager], watchdog=watchdog, raylet=raylet,
            go=go, pidfile=pidfile,
        )  # fmt: skip
    finally:
        for p in (driver, bystander, pager, raylet, watchdog.proc):
            if p.poll() is None:
                p.kill()
                p.wait()
        if pidfile.exists():
            for pid in pidfile.read_text().split():
                _kill(int(pid))


def _agents(t) -> list[int]:
    """Start the raylet's agent (marked only by its open log) and worker (only by the token)."""
    t.go.touch()
    _wait(lambda: t.pidfile.exists() and t.pidfile.read_text(), 10, "agents")
    return [int(p) for p in t.pidfile.read_text().split()]


def test_an_orphan_started_after_the_watchdog_is_stopped_when_the_driver_is_killed(tree):
    time.sleep(2 * reaper.POLL_S)  # the watchdog is polling well before the agents exist
    agents = _agents(tree)
    tree.driver.kill()  # SIGKILL: the raylet follows the driver at once, orphaning the agents
    tree.driver.wait()
    tree.raylet.wait(timeout=10)
    tree.watchdog.proc.wait(timeout=reaper.GRACE_S + 10)
    assert [p for p in agents if reaper.alive(p)] == [], "Ray's processes outlived the driver"
    assert all(b.poll() is None for b in tree.bystanders), "a process without a mark was stopped"


def test_finish_stops_what_shutdown_left_and_nothing_else(tree):
    """`ray.shutdown()` returned; what Ray started and did not stop is stopped by the watchdog,
    which the driver tells (finish) instead of killing it with the leftovers still running."""
    agents = _agents(tree)
    tree.raylet.kill()  # what ray.shutdown() stops; the agents are what it leaves
    tree.raylet.wait()
    reaper.finish(tree.watchdog)
    assert tree.watchdog.proc.poll() is not None
    assert [p for p in agents if reaper.alive(p)] == [], "Ray's processes outlived the command"
    assert reaper.alive(tree.driver.pid), "the watchdog stopped the driver"
    assert all(b.poll() is None for b in tree.bystanders), "a process without a mark was stopped"


def test_finish_on_no_watchdog_is_a_no_op():
    reaper.finish(None)


class _RayInterruptedInInit:
    """A stand-in for `ray` whose init starts a process, as Ray's does, and is then interrupted by
    Ctrl-C before it returns: nothing had told the old watchdog about that process."""

    def __init__(self) -> None:
        self.spawned: list[subprocess.Popen] = []

    def is_initialized(self) -> bool:
        return False

    def init(self, **_: object) -> None:
        self.spawned.append(subprocess.Popen(SLEEPER, start_new_session=True))
        raise KeyboardInterrupt

    def shutdown(self) -> None:
        raise AssertionError("shutdown of an instance whose init never returned")


def test_ctrl_c_inside_ray_init_leaves_no_process(monkeypatch):
    fake = _RayInterruptedInInit()
    monkeypatch.setattr(ray_executor, "import_ray", lambda: fake)
    ctx = SimpleNamespace(address=None, reporter=SimpleNamespace(quiet=True))
    try:
        with pytest.raises(KeyboardInterrupt):
            ray_executor.run_ray(plan=None, ctx=ctx)  # type: ignore[arg-type]
        assert fake.spawned, "the fake init did not run"
        _wait(lambda: fake.spawned[0].poll() is not None, 10, "stop of the process init started")
    finally:
        for p in fake.spawned:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert reaper.ENV not in os.environ
