"""Sweeps: a plan of units (plan), presets that declare one (presets; their schema in preset_schema,
their files in preset_files), and the executors that run it (local, pool, ray; chosen by name in
executors).

The re-exports load on first use: `hotbench.sweep.presets` is read by the CLI to parse and to list
presets, which must not import the executors (and torch) with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executors import EXECUTORS, run_plan, unit_table
    from .plan import Plan, UnitStatus

__all__ = ["EXECUTORS", "Plan", "UnitStatus", "run_plan", "unit_table"]
_WHERE = {"EXECUTORS": "executors", "run_plan": "executors", "unit_table": "executors"}
_WHERE |= {"Plan": "plan", "UnitStatus": "plan"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
