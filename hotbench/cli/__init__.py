"""The command line: Typer commands only. Each parses its options, calls the Python API
(hotbench.api) or the library function behind it, and prints; user errors are one line on stderr and
exit code 2.

One module per group of commands (compute, results, info), the options they share declared once in
`options`, and the application with its error handling in `base`."""

from __future__ import annotations

from .. import interrupts
from ..errors import HotbenchError
from ..runtime import env_threads
from . import compute, info, results
from .base import PROCESS, app, print_error

__all__ = ["app", "main"]

# `hotbench --help` lists the commands in the order a user meets them, not in the modules' order
ORDER = ("train", "attack", "report", "compare", "run", "diagnose", "ls", "import-weights")
ORDER += ("presets", "attacks", "doctor")
_MODULES = (compute, info, results)  # imported for their commands, registered on `app`
app.registered_commands.sort(key=lambda c: ORDER.index(c.name or c.callback.__name__))


def main() -> None:
    try:
        env_threads()  # a bad HOTBENCH_THREADS fails first; commands that compute apply it
    except HotbenchError as exc:
        print_error(str(exc))
        raise SystemExit(exc.exit_code) from None
    PROCESS["set_threads"] = True
    PROCESS["standalone"] = True
    interrupts.install()
    app()
