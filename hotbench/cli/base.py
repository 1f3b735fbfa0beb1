"""The Typer application every command registers on: its help, the command decorator that turns
user errors into one line on stderr and exit code 2, and what commands that compute share (their
Context, the terminal's width and colour)."""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape  # messages hold [brackets] (e.g. hotbench[ray]) that are not markup
from typer.core import TyperGroup

from .. import interrupts
from ..errors import HotbenchError, printable, reset_warnings
from ..files import NAME_FIX
from ..progress import stderr
from ..version import __version__

if TYPE_CHECKING:
    from pydantic import ValidationError

    from ..context import Context

HELP = """hotbench: does a high-temperature output activation make a classifier robust, or only hide
its gradients? (Tuna, Catak, Eskil, arXiv 2202.07342)

\b
Examples:
  hotbench run quick                 the demo: train, attack, report
  hotbench presets                   the shipped sweeps (hotbench run NAME)
  hotbench attacks                   every attack: norm, what it follows, cost
  hotbench train --act tanh --temp 1 --temp 50
  hotbench attack --method pgd --eval-temp 1   the paper's attack, at T = 1
  hotbench attack --suite adaptive --eval-temp 1
  hotbench report                    worst case and verdict per model
  hotbench report -f html -o r.html  also json, csv, markdown, latex
  hotbench diagnose --eval-temp 1    the gradient-masking evidence
  hotbench compare a.json b.json     what moved between two result files

`hotbench COMMAND -h` shows a command's options and their defaults.
"""


def print_error(message: str) -> None:
    """The one line every user error ends in, on stderr: control characters shown escaped (an
    escape sequence in an argument is never acted on), and no rich markup read in it."""
    stderr.print(
        f"[bold red]error:[/] {escape(printable(message))}", highlight=False, soft_wrap=True
    )


def _given_values(args: list[str], opts: list[str]) -> list[str]:
    """What the user typed after an option (`--epochs abc` or `--epochs=abc`), each time it was
    given: Click's message on a bad value does not say which value it was."""
    out = []
    for i, a in enumerate(args):
        for o in opts:
            if a == o and i + 1 < len(args):
                out.append(args[i + 1])
            elif o.startswith("--") and a.startswith(o + "="):
                out.append(a[len(o) + 1 :])
    return out


def _is_number(text: str, kind: type) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def usage_error(exc: typer.TyperException, args: list[str]) -> HotbenchError:
    """Click's usage error (a value that is not a number, an unknown option, a missing argument)
    as hotbench's one line with the fix, instead of Click's three (usage, hint, error)."""
    ctx = getattr(exc, "ctx", None)
    sub: list[str] = []  # the subcommands' names, not the program's (`python -m hotbench.cli`)
    while ctx is not None and ctx.parent is not None:
        sub.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    command = " ".join(["hotbench", *sub])
    problem = exc.format_message().rstrip(".")
    problem = problem[:1].lower() + problem[1:]
    fix = getattr(exc, "fix", None) or f"see `{command} -h`"
    param = getattr(exc, "param", None)
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    kinds = {int: "a whole number", float: "a number"}
    kind = next((k for k in (int, float) if annotation in (k, list[k], k | None)), None)
    if kind is not None and param is not None and param.opts:
        flag = max(param.opts, key=len)
        given = _given_values(args, list(param.opts))
        bad = next((v for v in given if not _is_number(v, kind)), given[-1] if given else None)
        if bad is not None:
            problem = f"invalid value for '{flag}': {bad!r} is not {kinds[kind]}"
        default = param.default if isinstance(param.default, (int, float)) else None
        example = f", e.g. {flag} {default:g}" if default is not None else ""
        fix = f"pass {kinds[kind]}{example} (`{command} -h` says what {flag} takes)"
    return HotbenchError(problem, fix)


class _Group(TyperGroup):
    """The application's command group: Click's usage errors in hotbench's one line (see
    `usage_error`), exit code 2, like every other bad value."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(args, *rest, **kwargs)
        given = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(given, *rest, **{**kwargs, "standalone_mode": False})
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" or getattr(exc, "exit_code", 2) != 2:
                exc.show()  # bare `hotbench`: its help, as before
                sys.exit(exc.exit_code)
            print_error(str(usage_error(exc, given)))
            sys.exit(2)
        except typer.Abort:
            sys.stderr.write("Aborted!\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Group,
    help=HELP,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    # plain click help: rich markup would eat every "[default: ...]" and print <bool> on flags
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hotbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The command group; options here apply before any command."""


def validation_error(exc: ValidationError, source: str = "option") -> HotbenchError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "value"
    return HotbenchError(f"invalid {source} '{key}': {err['msg']}", "fix the value (see --help)")


def cli_command(*args, **kwargs):
    """Register a command whose user errors become one line on stderr and exit code 2, Ctrl-C exit
    130."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            reset_warnings()
            try:
                return fn(*a, **kw)
            except HotbenchError as exc:
                print_error(str(exc))
                raise typer.Exit(exc.exit_code) from None
            except Exception as exc:
                if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
                    # the net under the paths checked up front (files.input_file, Workspace)
                    print_error(f"'{exc.filename}': {exc.strerror}. {NAME_FIX}")
                    raise typer.Exit(2) from None
                pydantic = sys.modules.get("pydantic")  # imported by the command, if at all
                if pydantic is None or not isinstance(exc, pydantic.ValidationError):
                    raise
                print_error(str(validation_error(exc)))
                raise typer.Exit(2) from None
            except KeyboardInterrupt:
                interrupts.handled()
                stderr.print(
                    "interrupted: finished results are kept; run the same command again to resume"
                )
                if PROCESS["standalone"] and "ray" in sys.modules:
                    exit_now(130)
                forget_interrupt_in_exec()
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return deco


def forget_interrupt_in_exec() -> None:
    """Clear CPython's record of a KeyboardInterrupt that escaped code run by `exec(str)`.

    CPython (3.11 and later) marks such an interrupt as unhandled even when the command caught it
    (dataclasses builds __init__ with exec, so a Ctrl-C can land there); under `python -m` the
    interpreter then kills itself with SIGINT after its teardown, and exit code 130 becomes a
    signal death (rc -2; seen in CI). Every `exec(str)` resets that record before it runs its code,
    so one that does nothing clears it. Python's normal teardown is kept: it is what unlinks the
    process pool's semaphores (skipped by os._exit, the resource tracker warns on stderr).
    """
    exec("pass", {})


def exit_now(code: int) -> NoReturn:
    """End the `hotbench` process after Ctrl-C without Python's teardown. The terminal's Ctrl-C
    reaches raylet too, which may die before the driver's `ray.shutdown()`; Ray's core worker then
    crashes (SIGSEGV) when destroyed at interpreter exit (rc -11).

    By now every result is on disk (writes are atomic) and executors are shut down by their own
    `finally`: only the output streams need flushing.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


# Set by main(): this process is the `hotbench` command, whose threads Session sets, and which may
# end itself (os._exit) where a command invoked in-process (tests, a notebook) must return.
PROCESS = {"set_threads": False, "standalone": False}


@dataclass
class Session:
    """A command's context options. The API calls it for the Context once the command's inputs are
    checked, so that a bad option answers before torch is imported; it makes one Context and
    returns it on every later call. In the `hotbench` process (main) torch's threads are set there,
    once, before any work; a command invoked in-process (tests, a notebook) leaves the caller's
    thread count alone."""

    workspace: Path | None = None
    device: str = "auto"
    quiet: bool = False
    data_dir: Path | None = None
    download: bool = False
    force: bool = False
    workers: int | None = None  # --workers, for the process executor
    address: str | None = None  # --address, for the ray executor
    verbose: bool = False  # --verbose: a progress line per unit of a sweep
    made: Context | None = field(default=None, repr=False)

    def __call__(self) -> Context:
        from ..context import Context
        from ..runtime import configure_threads

        if self.made is None:
            if PROCESS["set_threads"]:
                configure_threads()  # HOTBENCH_THREADS overrides (docs/performance.md)
                PROCESS["set_threads"] = False
            ctx = Context.create(
                self.workspace, self.device, self.quiet, self.data_dir, self.download, self.force
            )
            ctx.reporter.verbose = self.verbose
            self.made = dataclasses.replace(ctx, workers=self.workers, address=self.address)
        return self.made


def terminal(output: Path | None) -> tuple[int, bool]:
    """Width and colour of the table: the terminal's width (COLUMNS wins; 100 when stdout is not a
    terminal), colour only on a terminal and not under NO_COLOR (https://no-color.org)."""
    width = shutil.get_terminal_size((100, 24)).columns
    color = output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return max(width, 40), color
