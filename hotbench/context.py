"""The Context every unit of work runs in: where results are stored, on which device, who reports
progress, where the data is, and how a sweep's units are executed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .progress import Reporter
from .store import Workspace


@dataclass
class Context:
    ws: Workspace
    device: torch.device
    reporter: Reporter
    data_dir: Path | None = (
        None  # folder of the torchvision datasets (None: the default, see data.py)
    )
    download: bool = False  # fetch torchvision datasets when missing
    force: bool = False  # recompute units even if stored
    workers: int | None = None  # --workers, for the process executor
    address: str | None = None  # --address, for the ray executor
