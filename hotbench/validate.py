"""Checks of option values that more than one entry point takes (the command line, the Python API,
presets): each rule and its one-line message (the problem and its fix, exit code 2) live here once.

Why a module of its own: the same check copied into every command drifts (four copies of the format
check answered in three wordings). This is a leaf (errors only, no torch, no pydantic), so
the command line can run these checks before anything heavy is imported, and the API runs the same
functions for its callers. Checks of one config's fields stay with the config (hotbench.config)."""

from __future__ import annotations

import math

from .errors import HotbenchError

# the formats of the commands that list things (presets, attacks, diagnose)
LISTING_FORMATS = ("table", "json")


def check_format(fmt: str, valid: tuple[str, ...]) -> str:
    """`fmt` if it is one of `valid`; one line naming them if not."""
    if fmt not in valid:
        raise HotbenchError(
            f"unknown format '{fmt}'", f"pass --format with one of: {', '.join(valid)}"
        )
    return fmt


def check_positive(value: float | None, flag: str, example: str) -> float | None:
    """A finite number > 0 (None passes: the option was not given)."""
    if value is not None and not (value > 0 and math.isfinite(value)):  # NaN fails too
        raise HotbenchError(
            f"{flag.lstrip('-')} must be a finite number > 0, got {value}",
            f"pass e.g. {flag} {example}",
        )
    return value


def check_executor_options(
    preset: str | None, executor: str, workers: int | None, address: str | None
) -> None:
    """--executor, --workers and --address choose how a preset's units run: without a preset they
    would be silently ignored."""
    if preset is None and (executor != "local" or workers is not None or address is not None):
        raise HotbenchError(
            "--executor, --workers and --address apply to preset sweeps",
            "add --preset NAME, or use `hotbench run PRESET --executor ...`",
        )
