"""Perturbation budgets (eps): read, checked and shown in one place, for the command line, presets
and reports alike.

Why a module of its own: a budget is written by people in two ways (`0.3`, or `8/255` as the
CIFAR-10 literature writes it), and a budget of the wrong scale is the commonest silent mistake
of a robustness evaluation: `--eps 8` on inputs in [0, 1] is a budget that allows any image to
become any other, and the attack "succeeds" without saying anything. So:

- `parse_eps` reads a number or a fraction `a/b`; the value stored and hashed is the float.
- `check_eps` holds a budget to its threat model's range: Linf in [0, 1] (inputs are in [0, 1]),
  with "did you mean 8/255 = 0.0314?" for a value that reads as pixels of 255; L2 keeps its own
  range, any finite size that float32 (the dtype attacks compute in) can hold. NaN, infinities
  and negative budgets are refused for both. -0.0 is stored as 0.0 (it hashed and printed apart).
- `fmt_eps` shows a budget the way it was most likely written: `0.3` as 0.3, the float of `8/255`
  as 8/255 (a short fraction that is exactly the stored float), never `-0`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from .errors import HotbenchError

LINF_MAX = 1.0  # inputs are in [0, 1]: a larger Linf budget lets any input become any other
FLOAT32_MAX = 3.4028234663852886e38  # attacks compute in float32 (beyond: inf, or a torch error)
FLOAT32_TINY = 1.1754943508222875e-38  # float32's smallest normal number (below: denormal, or 0)
MAX_DENOMINATOR = 1024  # fractions shown as such: 8/255, 1/3, 16/1023


def _bad(text: Any, flag: str) -> HotbenchError:
    return HotbenchError(
        f"invalid value for '{flag}': '{text}' is not a number or a fraction",
        f"pass e.g. {flag} 0.3 or {flag} 8/255",
    )


def parse_eps(value: Any, flag: str = "--eps") -> float:
    """A budget as a float: a number, or a string holding a number or a fraction `a/b`.

    Raises HotbenchError (one line naming `flag`) for anything else, for a zero denominator and
    for a value that is not finite."""
    if isinstance(value, bool) or value is None:
        raise _bad(value, flag)
    if isinstance(value, (int, float)):
        v = float(value)
    elif isinstance(value, str):
        num, sep, den = value.strip().partition("/")
        try:
            v = float(num) if not sep else float(num) / float(den)
        except ValueError:
            raise _bad(value, flag) from None
        except ZeroDivisionError:
            raise HotbenchError(
                f"{flag} '{value}' divides by zero", f"pass e.g. {flag} 8/255"
            ) from None
        except OverflowError:  # pragma: no cover - float() of a str never overflows, '/' may not
            v = math.inf
    else:
        raise _bad(value, flag)
    if not math.isfinite(v):
        raise HotbenchError(
            f"{flag} must be a finite number >= 0, got {fmt_eps(v)}", f"pass e.g. {flag} 0.3"
        )
    return v + 0.0  # -0.0 -> 0.0


def _guess(v: float) -> str:
    """What a Linf budget above 1 most likely meant: pixels of 255."""
    if v <= 255:
        return f"did you mean {fmt_eps(v)}/255 = {v / 255:.4f}?"
    return "pass a budget in [0, 1], e.g. 0.3 or 8/255"


def check_eps(v: float, norm: str | None, flag: str = "--eps") -> float:
    """`v` if it is a budget of threat model `norm` ("Linf", "L2"; None: a minimum-norm attack,
    whose eps is not a budget and only needs to be a number >= 0); HotbenchError otherwise."""
    if not (v >= 0 and math.isfinite(v)):  # NaN fails too
        raise HotbenchError(
            f"{flag} must be a finite number >= 0, got {fmt_eps(v)}", f"pass e.g. {flag} 0.3"
        )
    if norm == "Linf" and v > LINF_MAX:
        raise HotbenchError(
            f"{flag} {fmt_eps(v)} is above 1, the largest Linf budget on inputs in [0, 1]",
            _guess(v),
        )
    if 0 < v < FLOAT32_TINY:
        raise HotbenchError(
            f"{flag} {fmt_eps(v)} is below float32's smallest normal number ({FLOAT32_TINY:.4g}),"
            " in which attacks compute: no image would move",
            f"pass {flag} 0 for no perturbation, or a budget such as 8/255",
        )
    if v > FLOAT32_MAX:
        raise HotbenchError(
            f"{flag} {fmt_eps(v)} is beyond float32's range ({FLOAT32_MAX:.3g}), in which attacks"
            " compute",
            f"pass e.g. {flag} 0.5 for an L2 budget",
        )
    return v + 0.0


def eps_value(value: Any, norm: str | None, flag: str = "--eps") -> float:
    """`parse_eps` then `check_eps`: the budget a command line or a preset gives."""
    return check_eps(parse_eps(value, flag), norm, flag)


def fmt_eps(v: float | None) -> str:
    """A budget for people: `0.3`, `8/255` for the float of 8/255, `0` for -0.0, `-` for None.

    The shortest decimal (`:g`) is shown when it reads back as the same float; otherwise a fraction
    with a denominator up to MAX_DENOMINATOR that is exactly the float (what `8/255` was parsed
    to); otherwise the decimal to 6 significant digits."""
    if v is None:
        return "-"
    v = float(v) + 0.0
    if not math.isfinite(v):
        return f"{v:g}"
    short = f"{v:g}"
    if float(short) == v:
        return short
    frac = Fraction(v).limit_denominator(MAX_DENOMINATOR)
    if frac.denominator > 1 and frac.numerator / frac.denominator == v:
        return f"{frac.numerator}/{frac.denominator}"
    return short


def eps_key(text: str) -> float:
    """A shown budget (`0.3`, `8/255`) back to its float, for sorting (inf if unreadable)."""
    try:
        return parse_eps(text)
    except HotbenchError:
        return math.inf
