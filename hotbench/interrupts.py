"""A Ctrl-C that no library can lose.

Python turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens to be. If that
is inside a library that clears errors (C code that calls PyErr_CheckSignals and then PyErr_Clear, a
`__del__` run by the garbage collector), the interrupt is gone and the command runs on to the end
(seen once in CI: `hotbench train` exited 0 after its Ctrl-C). The `hotbench` process therefore
installs a handler that also remembers the interrupt, and the loops that compute (a training batch,
an attack batch) ask `check()` between steps: a lost KeyboardInterrupt is raised again there, a
batch later at most.

Only the `hotbench` command installs it (cli.main); a notebook or a test keeps its own handler, and
`check()` is then a no-op.
"""

from __future__ import annotations

import signal
from types import FrameType

_pending = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _pending
    _pending = True
    raise KeyboardInterrupt


def install() -> None:
    """Take over SIGINT where Python's own handler has it (not where it is ignored: a job started
    in the background, or a pool worker, must stay deaf to the terminal's Ctrl-C)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise the KeyboardInterrupt of a Ctrl-C that arrived and was swallowed on its way."""
    if _pending:
        raise KeyboardInterrupt


def handled() -> None:
    """The command has stopped for the interrupt: forget it."""
    global _pending
    _pending = False
