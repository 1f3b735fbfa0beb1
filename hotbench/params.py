"""Typed rules for the parameters of attacks and defenses (`--param KEY=VALUE`, `--train-eps`,
preset keys): one Param per parameter says what it accepts, so that a bad value is one line naming
the parameter, its rule and the value, wherever it was given."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """What one parameter accepts: its type (bool, int, float or str) and range (numbers), or its
    choices (strings). `check` returns what is wrong with a value, or None; `expect` (e.g. "in (0,
    1] (a Linf budget)") replaces the range's wording when a number is out of it."""

    kind: type
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is excluded
    hi_open: bool = False
    choices: tuple[str, ...] | Callable[[], list[str]] = ()
    expect: str = ""

    def check(self, value: Any) -> str | None:
        if self.kind is bool:
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind is str:
            choices = self.choices() if callable(self.choices) else self.choices
            if not isinstance(value, str) or (choices and value not in choices):
                return f"must be one of: {', '.join(choices)}"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if self.kind is int and not isinstance(value, int):
            return "must be an integer"
        if not math.isfinite(value):
            return "must be a finite number"
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return f"must be {self.expect}" if self.expect else self._bound(self.lo_open, ">")
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return f"must be {self.expect}" if self.expect else self._bound(self.hi_open, "<")
        return None

    def _bound(self, open_: bool, sign: str) -> str:
        bound = self.lo if sign == ">" else self.hi
        return f"must be {sign if open_ else sign + '='} {bound:g}"

    def coerce(self, value: Any) -> Any:
        """A checked value in its kind (an int given for a float is a float): what configs store
        and hash, so that 1 and 1.0 name the same run."""
        return float(value) if self.kind is float else value


POSITIVE = Param(float, lo=0, lo_open=True)
NON_NEGATIVE = Param(float, lo=0)
COUNT = Param(int, lo=1)
FRACTION = Param(float, lo=0, hi=1, lo_open=True, hi_open=True)  # in (0, 1)
FLAG = Param(bool)
