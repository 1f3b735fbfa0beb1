"""Pool workers die with their driver, however the driver dies (issue 29).

The driver's Ctrl-C and error paths stop their workers (sweep.pool.PoolBackend.abort), but a SIGKILL
or an out-of-memory kill runs no code in the driver: its spawned workers then wait forever on a call
queue whose write end they hold themselves, and keep a core busy with a unit no one will persist.
Two mechanisms that need nothing from a dying driver, each enough on its own:

- On Linux, the kernel's parent-death signal (prctl PR_SET_PDEATHSIG): SIGKILL to the worker the
  moment its parent dies, even while the worker holds the GIL in a long torch call. The parent is
  the thread that spawned the worker; PoolBackend spawns from the thread that runs the sweep, which
  outlives its pool.
- Everywhere, a lifeline: the read end of a pipe whose only write end the driver holds. The kernel
  closes that end when the driver dies, and a thread in the worker that blocks on the pipe reads EOF
  and ends the process.

A driver that died before the worker set these up is seen by the worker's parent pid. Everything
here runs before the worker imports torch (this module imports nothing heavy, and the pool's
initializer lives here), so a worker whose driver dies while it still starts ends within moments,
not after its imports.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl (another libc): the lifeline still holds
        pass


def _watch(lifeline: Connection) -> None:
    try:
        while True:
            lifeline.recv_bytes()  # the driver never writes: this returns only at EOF
    except (EOFError, OSError):
        pass
    os._exit(1)  # the driver is gone: nothing this worker computes can be persisted


def die_with_driver(driver_pid: int, lifeline: Connection) -> None:
    """Called first in a pool worker: end this process when `driver_pid` (its parent) dies."""
    _parent_death_signal()
    if os.getppid() != driver_pid:  # the driver died before the signal was set
        os._exit(1)
    threading.Thread(target=_watch, args=(lifeline,), name="hotbench-lifeline", daemon=True).start()


def init_pool_worker(driver_pid: int, lifeline: Connection, slots: Any, threads: int) -> None:
    """The process pool's initializer: tie the worker to its driver, then take one device slot (so
    two workers never share a GPU) and size torch's threads. Ctrl-C is the driver's to handle (it
    stops the workers): a worker ignores SIGINT, which the terminal sends to the whole process
    group, instead of printing its own traceback."""
    die_with_driver(driver_pid, lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .driver import init_worker  # torch: only once the worker is tied to its driver

    init_worker(slots.get(), threads)
