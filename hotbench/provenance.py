"""What makes a result reproducible: seeds are in the configs; this records software and hardware."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import torch

from . import __version__


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "torchattacks": _version("torchattacks"),
        "numpy": _version("numpy"),
        "hotbench": __version__,
    }


def hardware(device: torch.device | str) -> dict[str, object]:
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
    from .errors import HotbenchError

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise HotbenchError(f"unknown device '{name}'", "valid devices: auto, cpu, cuda, cuda:N, mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HotbenchError(f"device '{name}' asked for, but CUDA is not available", "use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise HotbenchError("device 'mps' asked for, but MPS is not available", "use --device cpu or auto")
    return torch.device(name)


def command_line() -> str:
    return " ".join(sys.argv)
