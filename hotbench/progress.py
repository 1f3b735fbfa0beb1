"""Progress bars on stderr (stdout stays clean for JSON/CSV), silenced by --quiet."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr = Console(stderr=True)


def plain_text(renderable, width: int) -> str:
    """A rich renderable (a table) as plain text, for reports written to stdout or a file: no colour
    codes, and at the width asked for rather than the terminal's."""
    console = Console(file=io.StringIO(), width=width, record=True, force_terminal=False)
    console.print(renderable)
    return console.export_text()


class Tracker:
    """A thin handle over one rich task; a no-op when quiet."""

    def __init__(self, progress: Progress | None, description: str, total: float | None) -> None:
        self._p = progress
        self._task = progress.add_task(description, total=total) if progress else None

    def advance(self, n: float = 1) -> None:
        if self._p is not None:
            self._p.advance(self._task, n)

    def update(self, **kw) -> None:
        if self._p is not None:
            self._p.update(self._task, **kw)

    def done(self) -> None:
        if self._p is not None:
            task = next(t for t in self._p.tasks if t.id == self._task)
            self._p.update(self._task, completed=task.total or task.completed)


class Reporter:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._progress: Progress | None = None

    @contextmanager
    def session(self) -> Iterator[Reporter]:
        if self.quiet:
            yield self
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=False,
        )
        with self._progress:
            yield self
        self._progress = None

    def task(self, description: str, total: float | None) -> Tracker:
        return Tracker(self._progress, description, total)

    def log(self, message: str | RenderableType) -> None:
        if not self.quiet:
            if self._progress is not None:
                self._progress.console.print(message)
            else:
                stderr.print(message)
