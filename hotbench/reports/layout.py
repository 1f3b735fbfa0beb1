"""How the terminal report is laid out, chosen by the command line (`report`, `run`) and read by
the formats: a module of its own, with no imports, so that the command line's parsing stays light
and the terminal report can take it without importing the formats above it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """How the terminal table is laid out: panels that fit `width` columns, or with `wide` one
    table at its natural width; verdicts coloured with `color` (a terminal, not NO_COLOR).
    `verbose`: every evidence line under the verdicts (else the lines that decided them).
    `brief`: no budget panels, only the decisive evidence and the summary (`run`'s default, so
    that `make demo` fits a screen); `more` then says how to see the rest (the full report's
    command)."""

    width: int | None = None
    wide: bool = False
    color: bool = False
    verbose: bool = False
    brief: bool = False
    more: str | None = None
