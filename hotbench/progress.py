"""Progress on stderr (stdout stays clean for JSON/CSV), silenced by --quiet.

Two shapes, chosen by whether stderr is a terminal:
- terminal: ONE overall bar (units of a sweep) plus the units running now; a unit's bar disappears
  when it finishes, so a 60-unit sweep ends with the results on screen, not 60 finished bars. The
  unit's name comes last on its line so that a narrow terminal cuts the bar, not the name.
- piped or redirected (CI logs, `| cat`, `2> log`): no bars (rich would only draw them once, at the
  end); a line per finished unit, flushed as it happens: `[3/12] pgd ε=0.3 on ... done in 2.1s`.
  In a sweep, unless verbose, only the units that reach another tenth of the sweep (or end a
  minute without a line) get one: a 70-unit `make demo` printed 70 lines before its report.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.segment import Segment
from rich.text import Text

from .errors import printable

# Piped, a sweep's unit lines unless verbose: one per tenth of the units, and at least one a
# minute (a CI job that prints nothing for ten minutes may be killed as hung).
MILESTONES = 10
QUIET_LINE_S = 60.0


class _ShownConsole(Console):
    """A Console that shows control characters instead of sending them to the terminal: an escape
    sequence in a file name, a preset value or a document's label (one cleared the screen) is
    written escaped, `\\x1b[2J`, in text, tables and progress lines alike (rich drops only a few
    control codes and passes ESC through). Rich's own codes (colours, the cursor moves of a live
    progress display) are control segments or styles, made after this, and are left alone."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # strings (print's arguments, table cells) are escaped before rich measures them, so a
        # table's column fits the escaped text
        return super().render_str(printable(text, keep="\n"), **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterator[Segment]:
        # the net under everything else (Text objects, a renderable's own strings): measured
        # before this, such text can be cut to its column, never sent raw
        for segment in super().render(renderable, options):
            if segment.control is None:
                shown = printable(segment.text, keep="\n")
                if shown is not segment.text:
                    segment = Segment(shown, segment.style)
            yield segment


# The width of what hotbench prints when no stream is a terminal and COLUMNS is unset (piped, in
# CI): the report's (cli.base.terminal), for stdout and stderr alike. Rich's own fallback is 80, so
# piped, the report on stdout was 100 wide and the gate's table on stderr 80.
PIPED_WIDTH = 100


class _Console(_ShownConsole):
    """A rich Console (showing control characters escaped) whose width, where nothing says it (no
    terminal, no COLUMNS), is PIPED_WIDTH, as the report's, instead of rich's 80."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._width is not None or "COLUMNS" in self._environ:
            return dims
        for fd in (0, 1, 2):
            try:
                os.get_terminal_size(fd)
                return dims
            except (AttributeError, ValueError, OSError):
                continue
        return ConsoleDimensions(PIPED_WIDTH, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


def new_console(**options: Any) -> Console:
    """Every Console hotbench prints with: a user's text (an arch 'a:b:c', a --param) is echoed as
    typed, never turned into an emoji by rich's ':name:' codes, never acted on by the terminal
    (`_ShownConsole`), and, piped, as wide as the report (`_Console`)."""
    return _Console(emoji=False, **options)


stderr = new_console(stderr=True)


def plain_text(renderable, width: int) -> str:
    """A rich renderable (a table) as plain text, for reports written to stdout or a file: no colour
    codes, and at the width asked for rather than the terminal's."""
    console = new_console(file=io.StringIO(), width=width, record=True, force_terminal=False)
    console.print(renderable)
    return console.export_text()


class Tracker:
    """A handle over one unit's (or the sweep's) progress; a no-op when quiet.

    A unit tracker finishes when it reaches its total or when `done()` is called, whichever comes
    first, and only once: its bar is removed (terminal) or its one line is written (piped)."""

    def __init__(
        self, reporter: Reporter, description: str, total: float | None, overall: bool = False
    ) -> None:
        self._r = reporter
        self.description = description
        self.total = total
        self.completed = 0.0
        self.overall = overall
        self._start = time.perf_counter()
        self._finished = False
        self._task: TaskID | None = None
        if reporter._progress is not None:
            self._task = reporter._progress.add_task(description, total=total)

    def advance(self, n: float = 1, note: str | None = None) -> None:
        """`note`: what just finished, for the overall bar of executors whose units run elsewhere
        (their own trackers are in the workers): piped, it becomes the unit's line."""
        self.completed += n
        if self._task is not None and self._r._progress is not None:
            self._r._progress.advance(self._task, n)
        if self.overall and note is not None and n and not self._r.quiet and not self._r.live:
            if self._r.shown(self.completed - n, self.completed, self.total):
                total = f"/{int(self.total)}" if self.total else ""
                self._r._line(f"[{int(self.completed)}{total}] {note}")
        if not self.overall and self.total is not None and self.completed >= self.total:
            self.done()

    def update(self, **kw) -> None:
        if "description" in kw:
            self.description = kw["description"]
        if "total" in kw:
            self.total = kw["total"]
        if self._task is not None and self._r._progress is not None:
            self._r._progress.update(self._task, **kw)

    def done(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.overall:
            return
        if self._task is not None and self._r._progress is not None:
            self._r._progress.remove_task(self._task)
            self._task = None
        self._r._finished_unit(self.description, time.perf_counter() - self._start)


class Reporter:
    """Progress and log lines of one command. `live=None` draws bars only when stderr is a
    terminal; tests pass `live=False` with their own `file` to see the piped shape."""

    def __init__(
        self,
        quiet: bool = False,
        live: bool | None = None,
        file: TextIO | None = None,
        verbose: bool = False,
    ) -> None:
        self.quiet = quiet
        self.verbose = verbose  # every unit's line, and every detail, in a sweep too
        self._last_line = time.perf_counter()
        self._file = file
        self._console = new_console(file=file, highlight=False) if file is not None else stderr
        self.live = self._console.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._overall: Tracker | None = None

    @contextmanager
    def session(self) -> Iterator[Reporter]:
        if self.quiet or not self.live:
            try:
                yield self
            finally:
                self._overall = None  # a later line is outside the sweep
            return
        self._progress = Progress(
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self._console,
            transient=True,  # the bars go when the command ends: the results stay on screen
        )
        try:
            with self._progress:
                yield self
        finally:
            self._progress = None
            self._overall = None

    def overall(self, description: str, total: int) -> Tracker:
        """The sweep's bar: `total` distinct units; `advance` as each finishes or is found
        stored."""
        self._overall = Tracker(self, description, total, overall=True)
        return self._overall

    def task(self, description: str, total: float | None) -> Tracker:
        """One unit of work (a training run, an attack) with its own steps (epochs, batches)."""
        return Tracker(self, description, total)

    def _finished_unit(self, description: str, seconds: float) -> None:
        if self.quiet or self.live:
            return
        where = ""
        if self._overall is not None and self._overall.total:
            # the overall bar advances after the unit's tracker finishes: count this unit in
            done = min(int(self._overall.completed) + 1, int(self._overall.total))
            if not self.shown(done - 1, done, self._overall.total):
                return
            where = f"[{done}/{int(self._overall.total)}] "
        self._line(f"{where}{description}: done in {seconds:.1f}s")

    def shown(self, before: float, after: float, total: float | None) -> bool:
        """Whether a sweep's progress from `before` to `after` units of `total` gets a line when
        piped: always when verbose or outside a sweep; else the first and the last unit, a unit
        that reaches another tenth of the sweep, and any after a minute without a line."""
        if self.verbose or not total:
            return True
        tenth = int(MILESTONES * after // total) > int(MILESTONES * before // total)
        late = time.perf_counter() - self._last_line >= QUIET_LINE_S
        return before < 1 or after >= total or tenth or late

    def _line(self, text: str) -> None:
        self._last_line = time.perf_counter()
        stream = self._file or sys.stderr
        stream.write(printable(text) + "\n")
        stream.flush()

    def detail(self, message: str) -> None:
        """A line that matters outside a sweep (`train`: the model's test accuracy) and not in
        one, unless verbose: the report after the sweep says it again."""
        if self._overall is None or self.verbose:
            self.log(message)

    def log(self, message: str | RenderableType) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            self._console.print(message)
        (self._file or sys.stderr).flush()
