"""The machine a command runs on: the device, torch's threads, and what results record about
software and hardware (seeds are in the configs)."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING

from .errors import HotbenchError
from .version import __version__

if TYPE_CHECKING:  # imported by the functions that need it: `--help` must not pay for torch
    import torch

THREADS_ENV = "HOTBENCH_THREADS"


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "torchattacks": _version("torchattacks"),
        "numpy": _version("numpy"),
        "hotbench": __version__,
    }


def hardware(device: torch.device | str) -> dict[str, object]:
    import torch

    device = torch.device(device)
    info: dict[str, object] = {
        "device": str(device),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def resolve_device(name: str = "auto") -> torch.device:
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise HotbenchError(
            f"unknown device '{name}'", "valid devices: auto, cpu, cuda, cuda:N, mps"
        )
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HotbenchError(
            f"device '{name}' asked for, but CUDA is not available", "use --device cpu or auto"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise HotbenchError(
            "device 'mps' asked for, but MPS is not available", "use --device cpu or auto"
        )
    return torch.device(name)


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count once, at CLI start, and return it.

    torch defaults to one thread per physical core, which is right for a machine of one's own; on a
    shared box it oversubscribes. `HOTBENCH_THREADS` (or `n`) overrides. Inter-op threads are left
    alone: hotbench runs one op graph at a time, so they never help. Small CNNs on tiny batches gain
    nothing past ~4-8 threads, hence the cap."""
    import torch

    if n is None:
        n = env_threads()
    if n is None:
        n = min(torch.get_num_threads(), 8)
    torch.set_num_threads(n)
    return n


@contextmanager
def fixed_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` torch threads (None: leave them), then restore the count."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def env_threads() -> int | None:
    """`HOTBENCH_THREADS`, checked without importing torch (the CLI checks it before parsing, and
    sets the threads only in commands that compute)."""
    raw = os.environ.get(THREADS_ENV)
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise HotbenchError(
            f"{THREADS_ENV}={raw!r} is not an integer",
            f"set {THREADS_ENV} to e.g. 2, or unset it",
        ) from None
    if n <= 0:
        raise HotbenchError(
            f"{THREADS_ENV} must be >= 1, got {n}", f"set {THREADS_ENV} to e.g. 2, or unset it"
        )
    return n
