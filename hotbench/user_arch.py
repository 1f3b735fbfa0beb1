"""Users' own architectures: `--arch MODULE:CALLABLE`, its form checked before torch is imported,
the module imported (from the current directory too, as with `python -m`) only when a network is
built or its weights are loaded."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ArchImportError, HotbenchError
from .registry import ARCHS


def is_import_path(arch: str) -> bool:
    """`my_pkg.nets:build` names a user's callable; a registry name never holds a colon."""
    return ":" in arch


_ARCH_FIX = "pass --arch MODULE:CALLABLE with an importable module (e.g. my_pkg.nets:build)"
# MODULE:CALLABLE, both dotted Python names (`my_pkg.nets:Net.build`)
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def check_import_path(path: str) -> str:
    """The form of `MODULE:CALLABLE`, without importing anything."""
    if not _IMPORT_PATH.fullmatch(path):
        raise HotbenchError(f"arch '{path}' is not MODULE:CALLABLE", _ARCH_FIX)
    return path


@contextlib.contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run a user's code (their network's module, constructor or forward): what it prints goes to
    stderr, since stdout carries hotbench's own data (the run id of `import-weights`, a JSON
    report); and a `sys.exit` in it is an error naming `what`, not the end of hotbench with the
    user's exit code (exit 0 with nothing stored)."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as exc:
        raise HotbenchError(
            f"{what} called sys.exit({exc.code!r})",
            "remove that call: hotbench imports the module and calls the network as a library",
        ) from None


def import_callable(path: str) -> Callable[..., Any]:
    """Import `MODULE:CALLABLE` (the current directory is importable, as with `python -m`)."""
    check_import_path(path)
    module_name, _, attr = path.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        # a console script does not put the current directory on sys.path; users run hotbench from
        # their project folder and expect its packages to import (uvicorn and gunicorn do the same)
        sys.path.insert(0, os.getcwd())
    try:
        with user_code(f"arch '{path}': importing '{module_name}'"):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ArchImportError(
            f"arch '{path}': cannot import module '{module_name}' ({exc})", _ARCH_FIX
        ) from None
    except HotbenchError:
        raise  # user_code's own line (a sys.exit), not wrapped in "raised HotbenchError: ..."
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing
        raise HotbenchError(
            f"arch '{path}': importing '{module_name}' raised {type(exc).__name__}: {exc}",
            "fix the module so that it imports",
        ) from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise HotbenchError(
                f"arch '{path}': module '{module_name}' has no attribute '{attr}'",
                f"name a callable defined in {module_name}",
            )
    if not callable(fn):
        raise HotbenchError(
            f"arch '{path}': '{attr}' is a {type(fn).__name__}, not a callable",
            "name a function or class that returns an nn.Module",
        )
    return fn


def check_arch_name(name: str, *, resolve: bool = True) -> str:
    """Validate an arch name (a registry name, or an import path that resolves to a callable).

    `resolve=False` checks an import path's form only: a stored run's config is read by `ls` and
    `report`, which never build the network, so they must not need the user's module on the import
    path (it is imported, with its own message, when the weights are loaded)."""
    if not is_import_path(name):
        ARCHS.check(name)
    elif resolve:
        import_callable(name)
    else:
        check_import_path(name)
    return name
