"""`hotbench doctor`: everything a bug report needs, and what is missing with the fix for each.

It only looks: no dataset is loaded (file presence is checked against what each loader reads),
nothing is written to the workspace (writability is probed with a temporary file in the deepest
existing folder, removed at once), and no package is imported beyond what hotbench itself imports,
except torchattacks (to report its version when it imports at all).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import torch

from .data import DATASETS, data_folders
from .errors import printable
from .install import PIP_TORCHATTACKS, setup_fix, torchattacks_fix
from .runtime import versions
from .store import default_workspace

Level = Literal["error", "warning"]


@dataclass
class Problem:
    level: Level  # "error": a hotbench command will fail; "warning": works, but worth fixing
    what: str
    fix: str


@dataclass
class Report:
    versions: dict[str, str | None]
    platform: dict[str, Any]
    devices: dict[str, Any]
    threads: dict[str, Any]
    workspace: dict[str, Any]
    data: dict[str, Any]
    torchattacks: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_devices() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return {
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "gpus": (
            [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if cuda
            else []
        ),
        "mps_available": mps,
        "auto": "cuda" if cuda else "mps" if mps else "cpu",
    }


def check_threads() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
    }


def check_workspace(root: Path | None, problems: list[Problem]) -> dict[str, Any]:
    """Where results go and whether they can; nothing is created."""
    path = Path(root) if root is not None else default_workspace()
    info: dict[str, Any] = {
        "path": str(path),
        "absolute": str(path.absolute()),
        "exists": path.exists(),
        "writable": False,
        "runs": 0,
    }
    fix = "pass --workspace with a directory you can write to (or set HOTBENCH_HOME)"
    if path.exists() and not path.is_dir():
        problems.append(Problem("error", f"workspace '{path}' is a file, not a directory", fix))
        return info
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(existing))
        tempfile.NamedTemporaryFile(dir=existing, prefix=".hotbench-probe", delete=True).close()
        info["writable"] = True
    except OSError as exc:
        problems.append(
            Problem("error", f"workspace '{path}' is not writable ({exc.strerror})", fix)
        )
    runs = path / "runs"
    if runs.is_dir():
        info["runs"] = sum(1 for d in runs.iterdir() if (d / "run.json").is_file())
    return info


def check_data(data_dir: Path | None, problems: list[Problem]) -> dict[str, Any]:
    """Which datasets a command could load from `data_dir`, by the files their loaders read (each
    dataset's registration names them: `DatasetSpec.files`); loading would take seconds."""
    root = data_folders(data_dir)[0]
    present: dict[str, bool] = {}
    missing_files: dict[str, list[str]] = {}
    for name, spec in DATASETS.items():
        missing = [f for f in spec.files if not (root / f).is_file()]  # embedded: none
        present[name] = not missing
        if missing:
            missing_files[name] = missing
    absent = [n for n, ok in present.items() if not ok]
    if absent:
        problems.append(
            Problem(
                "warning",
                f"datasets not found under '{root}': {', '.join(absent)}",
                "pass --data-dir (or set HOTBENCH_DATA) to the folder holding them, or add"
                " --download to train/run",
            )
        )
    return {
        "path": str(root),
        "absolute": str(root.absolute()),
        "exists": root.is_dir(),
        "present": present,
        "missing_files": missing_files,
    }


def check_torchattacks(problems: list[Problem]) -> dict[str, Any]:
    """Is torchattacks importable, and does the partial `robustbench` copy its wheel installs shadow
    a real one?"""
    info: dict[str, Any] = {
        "installed": False,
        "version": _dist_version("torchattacks"),
        "import_error": None,
        "robustbench": None,
    }
    if importlib.util.find_spec("torchattacks") is None:
        problems.append(
            Problem(
                "error",
                "torchattacks is not installed (every attack needs it)",
                torchattacks_fix(),
            )
        )
    else:
        try:
            import torchattacks  # noqa: F401

            info["installed"] = True
        except Exception as exc:  # a broken install can fail with anything; report it, do not crash
            info["import_error"] = f"{type(exc).__name__}: {exc}"
            problems.append(
                Problem(
                    "error",
                    f"torchattacks is installed but fails to import ({type(exc).__name__})",
                    f"reinstall it: `{PIP_TORCHATTACKS} --force-reinstall`",
                )
            )
    spec = importlib.util.find_spec("robustbench")
    if spec is not None:
        owners = sorted(set(metadata.packages_distributions().get("robustbench", [])))
        real = _dist_version("robustbench")
        info["robustbench"] = {"path": spec.origin, "provided_by": owners, "real_robustbench": real}
        if "torchattacks" in owners and real is not None:
            problems.append(
                Problem(
                    "warning",
                    f"the 'robustbench' package at '{spec.origin}' is written by both torchattacks"
                    f" and robustbench {real}: torchattacks' partial copy can shadow the real one",
                    "reinstall the real one last (`pip install --force-reinstall --no-deps"
                    " robustbench`) or keep robustbench in a separate virtual environment",
                )
            )
    requests = _dist_version("requests")
    info["requests"] = requests
    if requests is not None and _older(requests, (2, 31)):
        problems.append(
            Problem(
                "warning",
                f"requests {requests} is installed (torchattacks' metadata pins ~=2.25.1;"
                " releases before 2.31 miss the fix for CVE-2023-32681)",
                "install torchattacks with --no-deps and `pip install 'requests>=2.31'`",
            )
        )
    return info


def _older(version: str, than: tuple[int, ...]) -> bool:
    parts = []
    for p in version.split(".")[: len(than)]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) < than


def examine(workspace: Path | None = None, data_dir: Path | None = None) -> Report:
    """What `hotbench doctor` reports: versions, platform, devices, threads, workspace, data,
    problems."""
    problems: list[Problem] = []
    vers = {
        **versions(),
        "torchattacks": _dist_version("torchattacks"),
        "safetensors": _dist_version("safetensors"),
        "scikit-learn": _dist_version("scikit-learn"),
    }
    for pkg in ("torchvision", "numpy"):
        if vers.get(pkg) is None:
            problems.append(Problem("error", f"{pkg} is not installed", setup_fix(pkg)))
    report = Report(
        versions=vers,
        platform={
            "system": platform.platform(),
            "machine": platform.machine(),
            "python": sys.executable,
        },
        devices=check_devices(),
        threads=check_threads(),
        workspace=check_workspace(workspace, problems),
        data=check_data(data_dir, problems),
        torchattacks=check_torchattacks(problems),
        problems=problems,
    )
    return report


def render_text(report: Report) -> str:
    """Plain aligned text (no colour codes), so it pastes cleanly into an issue."""
    v = report.versions
    d = report.devices
    t = report.threads
    w = report.workspace
    data = report.data
    lines = [
        "versions   " + ", ".join(f"{k} {val or 'MISSING'}" for k, val in v.items()),
        (
            f"platform   {report.platform['system']} ({report.platform['machine']}); python at"
            f" {report.platform['python']}"
        ),
        (
            f"devices    auto -> {d['auto']}; cuda"
            f" {'yes: ' + ', '.join(d['gpus']) if d['cuda_available'] else 'no'}; mps"
            f" {'yes' if d['mps_available'] else 'no'}"
        ),
        (
            f"threads    torch {t['torch_threads']} (interop {t['torch_interop_threads']}) on"
            f" {t['cpu_count']} CPUs; OMP_NUM_THREADS={t['OMP_NUM_THREADS'] or 'unset'}"
        ),
        (
            f"workspace  {w['absolute']} ({'exists' if w['exists'] else 'not created yet'}, "
            f"{'writable' if w['writable'] else 'NOT writable'}, {w['runs']} trained models)"
        ),
        f"data       {data['absolute']} ({'exists' if data['exists'] else 'missing'}): "
        + ", ".join(f"{n} {'yes' if ok else 'no'}" for n, ok in data["present"].items()),
    ]
    rb = report.torchattacks.get("robustbench")
    ta = report.torchattacks
    lines.append(
        f"attacks    torchattacks {ta['version'] or 'MISSING'}"
        + (
            f"; robustbench at {rb['path']} from {', '.join(rb['provided_by']) or 'unknown'}"
            if rb
            else ""
        )
    )
    if report.problems:
        lines.append("problems")
        lines += [f"  {p.level}: {p.what}. fix: {p.fix}" for p in report.problems]
    else:
        lines.append("problems   none")
    # paths come from the user (-w, HOTBENCH_HOME, --data-dir): shown, never acted on by a terminal
    return printable("\n".join(lines) + "\n", keep="\n")


def render_doctor(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=1) + "\n"
    return render_text(report)
