"""Sweeps: a plan of units (plan), presets that declare one (presets), and the executors that run it
(local, pool, ray; chosen by name in executors)."""

from .executors import EXECUTORS, run_plan, unit_table
from .plan import Plan, UnitStatus

__all__ = ["EXECUTORS", "Plan", "UnitStatus", "run_plan", "unit_table"]
