"""A watchdog for the local Ray instance hotbench starts: no Ray process outlives the command.

`ray.shutdown()` stops Ray's GCS server and raylet, but not always what raylet started (its
DashboardAgent and RuntimeEnvAgent), and nothing runs at all in a driver killed with SIGKILL (or by
the out-of-memory killer), or interrupted by Ctrl-C inside `ray.init`, before it could know what it
had started. Those processes stay, holding memory and ports, until someone finds them.

Finding them by parentage is a race: raylet fate-shares with the driver and exits at once, leaving
its agents to init before anyone could read raylet's children. So they are found by two marks that
do not depend on who their parent is. (1) The driver puts a random token in its environment while
`ray.init` starts the instance, and every process Ray starts inherits it. But Ray's process titles
(`ray::DashboardAgent`) are written over the memory /proc reads the environment from, so the token
can be gone from exactly the processes that outlive the driver. (2) Every process of the instance
holds files open in its session directory, which Ray names `session_<date>_<time>_<us>_<driver
pid>`. A process of this user, started after the driver, with either mark is Ray's for this driver.

The watchdog runs in its own session (a Ctrl-C to the driver's process group does not reach it) and
waits until the driver is gone, or says it is done (SIGUSR1, sent by `finish` after
`ray.shutdown()`); then it terminates every marked process, and exits. Linux only (it reads /proc);
elsewhere it is not started.

    python hotbench/sweep/reaper.py DRIVER_PID DRIVER_STARTTIME TOKEN
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ENV = "HOTBENCH_RAY_OWNER"
POLL_S = 0.5
GRACE_S = 5.0


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 = state), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks: with the pid, it names one process (pids are
    reused)."""
    fields = proc_stat(pid)
    return fields[19] if fields else None


def alive(pid: int, started: str | None = None) -> bool:
    fields = proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return started is None or fields[19] == started


def _session_dir(driver: int) -> re.Pattern[str]:
    return re.compile(rf"/session_\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+_{driver}/")


# Ray's own programs, by their command line: process titles (`ray::IDLE`) or Ray's files; a pager
# over a session's log file holds it open too, and is not Ray's
_RAY_PROGRAM = re.compile(rb"^ray::|/ray/(core/src/ray|_private|dashboard|autoscaler)/")


def _is_ray_program(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
    except OSError:
        return False
    return any(_RAY_PROGRAM.search(a) for a in argv)


def _holds_open(pid: int, pattern: re.Pattern[str]) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if pattern.search(os.readlink(fd)):
                return True
        except OSError:
            continue
    return False


def marked(token: str, driver: int, driver_started: str | None) -> list[tuple[int, str | None]]:
    """Live processes (pid, start time) of the Ray instance the driver started: started no earlier
    than the driver, with the token in their environment, or Ray programs with a file open in the
    driver's session directory. Only this user's processes can be read, so only they are found."""
    entry = f"{ENV}={token}".encode()
    session = _session_dir(driver)
    not_before = int(driver_started) if driver_started and driver_started.isdigit() else 0
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or (pid := int(d.name)) in (os.getpid(), driver):
            continue
        fields = proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X") or int(fields[19]) < not_before:
            continue
        try:
            environ = (d / "environ").read_bytes()
        except OSError:
            continue  # another user's process
        if entry in environ.split(b"\0") or (_is_ray_program(pid) and _holds_open(pid, session)):
            found.append((pid, fields[19]))
    return found


_done = False  # set by SIGUSR1: the driver has called ray.shutdown() and is about to exit


def _driver_is_done(*_: object) -> None:
    global _done
    _done = True


def stop(token: str, driver: int, driver_started: str | None) -> None:
    """Terminate every marked process, looking again while they go (one of them may start another
    on its way out); SIGKILL what is left after the grace period."""
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 1.0)):
        sent: set[tuple[int, str | None]] = set()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            procs = marked(token, driver, driver_started)  # live ones only
            if not procs:
                return
            for pid, started in procs:
                if (pid, started) not in sent:
                    sent.add((pid, started))
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass
            time.sleep(0.1)


def watch(driver: int, driver_started: str | None, token: str) -> None:
    """Wait for the driver to die or to send SIGUSR1, then stop the marked processes."""
    while alive(driver, driver_started) and not _done:
        time.sleep(POLL_S)
    stop(token, driver, driver_started)


@dataclass
class Watchdog:
    proc: subprocess.Popen
    token: str
    driver: int
    driver_started: str | None

    @contextmanager
    def marking(self) -> Iterator[None]:
        """Processes started inside the block (Ray's, by `ray.init`) carry the token."""
        old = os.environ.get(ENV)
        os.environ[ENV] = self.token
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = old


def start(driver: int | None = None) -> Watchdog | None:
    """Start a watchdog for the driver (this process by default); call it before `ray.init` and
    start Ray inside `watchdog.marking()`. None where /proc is missing."""
    if not Path("/proc/self/environ").exists():
        return None
    driver = os.getpid() if driver is None else driver
    driver_started = start_time(driver)
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != ENV}
    proc = subprocess.Popen(  # a plain script: importing hotbench would import torch
        [sys.executable, str(Path(__file__).resolve()), str(driver), str(driver_started), token],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready": its SIGUSR1 handler is in place, `finish` cannot kill it
    proc.stdout.close()
    return Watchdog(proc, token, driver, driver_started)


def finish(watchdog: Watchdog | None) -> None:
    """Tell the watchdog the driver is done (after `ray.shutdown()`): it stops whatever Ray left
    running and exits. Waits for it, so that nothing is left when the command returns."""
    if watchdog is None:
        return
    try:
        watchdog.proc.send_signal(signal.SIGUSR1)
        watchdog.proc.wait(timeout=GRACE_S + 5.0)
    except subprocess.TimeoutExpired:
        watchdog.proc.kill()
        watchdog.proc.wait()
        stop(watchdog.token, watchdog.driver, watchdog.driver_started)


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGUSR1, _driver_is_done)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        print("ready", flush=True)
        sys.stdout.close()
    except (OSError, AttributeError, ValueError):  # no reader, no stdout: started by hand
        pass
    driver, started, token = int(argv[0]), argv[1], argv[2]
    watch(driver, None if started == "None" else started, token)


if __name__ == "__main__":
    main(sys.argv[1:])
