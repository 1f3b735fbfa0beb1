"""A watchdog for the local Ray instance hotbench starts: it stops Ray when the driver dies.

`ray.shutdown()` stops Ray's processes when the driver ends normally or on Ctrl-C, but nothing runs
in a process that is killed with SIGKILL (or by the kernel's out-of-memory killer): Ray's GCS
server, raylet and agents would stay running, holding memory and ports, until someone finds them.
So when hotbench starts a throw-away local instance it also starts this watchdog, in its own session
(a signal to the driver's process group does not reach it): it polls the driver, and once the driver
is gone it terminates every process Ray started for it (and their descendants), then exits. With a
normal exit there is nothing left to stop and it just exits. Linux only (it reads /proc); elsewhere
it is not started.

    python hotbench/sweep/reaper.py DRIVER_PID PID:STARTTIME ...
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    found, todo = [], children(pid)
    while todo:
        p = todo.pop()
        if p not in found:
            found.append(p)
            todo += children(p)
    return found


def watch(driver: int, targets: list[tuple[int, str | None]]) -> None:
    """Wait for the driver to die, then stop `targets` (pid, start time) and their descendants."""
    while alive(driver):
        time.sleep(POLL_S)
    procs = [(p, s) for p, s in targets if alive(p, s)]
    procs += [(d, start_time(d)) for p, _ in procs for d in descendants(p)]
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 1.0)):
        for pid, started in procs:
            if alive(pid, started):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(alive(p, s) for p, s in procs):
            time.sleep(0.1)


def start(driver: int | None = None) -> subprocess.Popen | None:
    """Start a watchdog over the processes the driver has spawned so far (call it right after
    ray.init started a local instance). None where /proc is missing."""
    if not Path("/proc/self/task").is_dir():
        return None
    driver = os.getpid() if driver is None else driver
    targets = [f"{p}:{start_time(p)}" for p in descendants(driver)]
    if not targets:
        return None
    return subprocess.Popen(  # run as a plain script: importing hotbench would import torch
        [sys.executable, str(Path(__file__).resolve()), str(driver), *targets],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    driver = int(argv[0])
    targets = []
    for item in argv[1:]:
        pid, _, started = item.partition(":")
        targets.append((int(pid), started if started and started != "None" else None))
    watch(driver, targets)


if __name__ == "__main__":
    main(sys.argv[1:])
