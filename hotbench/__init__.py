"""hotbench: does a high-temperature output activation make a classifier robust, or only mask its
gradients?

The Python API (docs/python-api.md), imported on first use so that `import hotbench` stays cheap:

    import hotbench

    ctx = hotbench.Context.create("runs", device="cpu")
    hotbench.train(ctx, temps=[1, 50], dataset="digits", act="tanh")
    hotbench.attack(ctx, methods=["pgd"], eval_temps=[1.0])
    print(hotbench.report(ctx, "markdown"))
    outcome = hotbench.report(ctx, gate=hotbench.Gate(baseline="baseline.json"))  # CI gate
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = [
    "Context",
    "Filters",
    "Gate",
    "Layout",
    "ReportFiles",
    "ReportOutcome",
    "__version__",
    "attack",
    "attacks",
    "compare",
    "diagnose",
    "doctor",
    "import_weights",
    "list_runs",
    "load_results",
    "presets",
    "report",
    "run",
    "train",
]

if TYPE_CHECKING:
    from .api import (
        Context,
        Filters,
        Gate,
        Layout,
        ReportFiles,
        ReportOutcome,
        attack,
        attacks,
        compare,
        diagnose,
        doctor,
        import_weights,
        list_runs,
        load_results,
        presets,
        report,
        run,
        train,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("hotbench.api"), name)
    raise AttributeError(f"module 'hotbench' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
