"""User-facing errors.

Every mistake a user can make (a misspelt name, a bad number, a missing file) raises
`HotbenchError`. The CLI prints it as one line and exits with code 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import difflib
import re
import reprlib
import sys
from collections.abc import Iterable
from typing import Any

EXIT_USAGE = 2


class HotbenchError(Exception):
    """A problem the user can fix: the message names the problem, `fix` says how."""

    exit_code = EXIT_USAGE

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem.rstrip(".")
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.problem}. {self.fix}" if self.fix else f"{self.problem}."


class ArchImportError(HotbenchError):
    """A user's network (`--arch MODULE:CALLABLE`) does not import from here. Raised apart from
    other errors so that reading a stored run that names it says "run from the folder that holds
    the module", never "delete the run": the run is intact, only the import path is missing."""


# What a terminal acts on instead of showing: C0 and C1 control characters (ESC starts the sequences
# that move the cursor or clear the screen; C1's CSI does the same in one byte) and the Unicode
# controls that reorder or hide text (bidi overrides and isolates).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_char(m: re.Match[str]) -> str:
    c = m.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (
        f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
    )


def printable(text: str, keep: str = "") -> str:
    """`text` as a terminal shows it without acting on it: every control character (an escape
    sequence from a user's argument, a preset value or a file name) written as Python writes it in
    a string literal (`\\x1b[2J`). Characters in `keep` (a table's newlines) are left alone."""
    found = _CONTROL.findall(text)
    if all(c in keep for c in found):
        return text  # the same object: callers test `is` to skip a copy
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape_char(m), text)


def closest(name: str, valid: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return matches[0] if matches else None


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 40, 40


def short(value: Any, limit: int = 80) -> str:
    """A value quoted in an error message: bounded in size and in the work it takes (a value read
    from YAML can be huge), whatever `value` is."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> HotbenchError:
    valid = sorted(valid)
    guess = closest(name, valid)
    hint = f"did you mean '{guess}'? " if guess else ""
    return HotbenchError(f"unknown {kind} '{name}'", f"{hint}Valid {kind}s: {', '.join(valid)}")


_WARNED: set[str] = set()


def reset_warnings() -> None:
    """Forget which warnings were printed: each command (CLI) warns about what it meets itself."""
    _WARNED.clear()


def warn(message: str) -> None:
    """One line on stderr, once per command (per process from Python), even under --quiet: a
    warning says that something the user would otherwise take as current or complete is not (a
    skipped file, stale results)."""
    if message not in _WARNED:
        _WARNED.add(message)
        sys.stderr.write(f"warning: {printable(message)}\n")
