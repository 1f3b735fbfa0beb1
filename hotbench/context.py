"""The Context every unit of work runs in: where results are stored, on which device, who reports
progress, where the data is, and how a sweep's units are executed.

One object instead of the same seven loose parameters on every function that trains, attacks or
diagnoses; build it once per command (`Context.create` from plain values, as the CLI and the Python
API do) and pass it down.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .progress import Reporter
from .runtime import resolve_device
from .store import Workspace

if TYPE_CHECKING:
    import torch


@dataclass
class Context:
    ws: Workspace
    device: torch.device | str  # a str only in a context for reading (`for_reading`)
    reporter: Reporter = field(default_factory=lambda: Reporter(quiet=True))
    data_dir: Path | None = None  # folder of the torchvision datasets (None: data.default_data_dir)
    download: bool = False  # fetch torchvision datasets when missing
    force: bool = False  # recompute units even if stored
    workers: int | None = None  # --workers, for the process executor
    address: str | None = None  # --address, for the ray executor

    @classmethod
    def create(
        cls,
        workspace: Workspace | Path | str | None = None,
        device: torch.device | str = "auto",
        quiet: bool = True,
        data_dir: Path | str | None = None,
        download: bool = False,
        force: bool = False,
    ) -> Context:
        """A context from plain values: a workspace path (default: HOTBENCH_HOME or
        ./hotbench-runs), a device name (auto, cpu, cuda, cuda:N, mps), progress bars unless
        `quiet`, where the torchvision datasets are (and whether to download them), and whether
        stored units are recomputed. Executor options (workers, address) are set apart, e.g.
        `dataclasses.replace(ctx, workers=4)`."""
        ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        dev = resolve_device(device) if isinstance(device, str) else device
        where = Path(data_dir) if data_dir is not None else None
        return cls(ws, dev, Reporter(quiet), where, download, force)

    @classmethod
    def for_reading(
        cls, workspace: Workspace | Path | str | None = None, data_dir: Path | str | None = None
    ) -> Context:
        """A context for commands that only read the workspace (report, ls): no progress, nothing
        forced, and the CPU named, not resolved, so that torch is imported only if a measurement
        the report needs was not stored (the data is then where `data_dir` or run.json says)."""
        ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        return cls(ws, "cpu", data_dir=Path(data_dir) if data_dir is not None else None)

    def unforced(self) -> Context:
        """The same context without `force`: for units a forced unit depends on but must not redo
        (a transfer attack's surrogate, diagnose's probes)."""
        return dataclasses.replace(self, force=False)
