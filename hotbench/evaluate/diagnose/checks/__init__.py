"""The catalog of checks: importing this package registers every check in CHECKS, in the order the
diagnosis lists them (model-side measurements, attack comparisons, probes, the undefended
reference). A new check is one `@check(...)` function in one of these modules, or in a new module
named in MODULES."""

from __future__ import annotations

import importlib

MODULES = ("model", "attacks", "probes", "reference")  # registration (and display) order
for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")
