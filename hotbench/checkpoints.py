"""Importing weights trained elsewhere, without ever running code from the file.

A `.pt`/`.pth` checkpoint is a pickle, and plain `torch.load` (or `pickle.load`) executes whatever
the file's `__reduce__` entries name: a shared checkpoint is a program. hotbench therefore reads
weights in two ways only: safetensors (a header and raw tensor bytes, no code at all), or
`torch.load(weights_only=True)`, whose restricted unpickler admits tensors and plain containers and
refuses every other global *before* calling it.

An imported model is stored like a trained one (safetensors + run.json with its checksum) but under
its own run id, `<dataset>-<act>-T<T>-import-<hash of config and file>`: `hotbench train` with the
same config must never mistake weights of unknown provenance for a model it trained, and vice versa.
"""

from __future__ import annotations

import math
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .checked_files import sha256_file
from .config import TrainConfig, imported_run_id
from .context import Context
from .data import DATASETS, data_source, load_dataset
from .errors import HotbenchError, warn
from .files import input_file
from .models import HotNet, arch_source, check_model
from .runtime import hardware, versions
from .store import RunRecord
from .training import accuracy

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
_EXPORT_FIX = (
    "export a plain state_dict instead: safetensors.torch.save_file(model.state_dict(),"
    " 'w.safetensors') (or torch.save(model.state_dict(), 'w.pt'))"
)


def _first_line(exc: BaseException) -> str:
    """The first line of an error that is not torch's advice to load with weights_only=False."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "weights_only" not in ln]
    return (useful or lines or [type(exc).__name__])[0]


def _refusal_reason(exc: BaseException) -> str:
    """torch's message is a page long and opens with advice to pass weights_only=False (which would
    run the code); the one useful part names the call the file asked for."""
    text = str(exc)
    m = re.search(r"unsupported(?: global:)? GLOBAL ([\w.]+)", text, re.IGNORECASE)
    if m:
        return f"it asks to call {m.group(1)}"
    m = re.search(r"Unsupported operand \d+|Unsupported class [\w.]+", text)
    if m:
        return m.group(0)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "weights_only" not in ln]
    return lines[0] if lines else type(exc).__name__


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors from a weights file, and the format they came from ("safetensors" or "torch")."""
    path = input_file(path, "weights file")  # not a FIFO or a device: they never end
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        try:
            return load_file(str(path)), "safetensors"
        except (SafetensorError, OSError, ValueError) as exc:
            raise HotbenchError(
                f"'{path}' is not a valid safetensors file ({_first_line(exc)})", _EXPORT_FIX
            ) from None
    if suffix in TORCH_SUFFIXES:
        try:
            with (
                warnings.catch_warnings()
            ):  # torch warns about pickle protocols on stderr: the error says enough
                warnings.simplefilter("ignore", UserWarning)
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise HotbenchError(
                f"refused to load '{path}': it is a pickle that holds more than tensors "
                f"({_refusal_reason(exc)}), and loading it could run code",
                _EXPORT_FIX,
            ) from None
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise HotbenchError(
                f"'{path}' is not a readable torch weights file ({_first_line(exc)})", _EXPORT_FIX
            ) from None
        return _as_state_dict(obj, path), "torch"
    raise HotbenchError(
        f"unknown weights format '{suffix or path.name}'",
        f"use a .safetensors file or a torch state_dict ({', '.join(TORCH_SUFFIXES)})",
    )


def _as_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Accept a bare state_dict, or the common checkpoint layouts that wrap one."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise HotbenchError(
            f"'{path}' does not hold a state_dict (a mapping of names to tensors)", _EXPORT_FIX
        )
    return dict(obj)


def _fit_keys(state: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """Map the naming of common exports onto HotNet's: DataParallel's `module.` prefix, and a bare
    body (an `nn.Sequential` saved on its own, without HotNet's `body.`)."""
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    if not set(state) & expected and {f"body.{k}" for k in state} & expected:
        state = {f"body.{k}": v for k, v in state.items()}
    return state


def build_from_weights(path: Path, cfg: TrainConfig) -> tuple[HotNet, str, str]:
    """A HotNet for `cfg` holding the file's weights, the file's format and its float dtype; every
    mismatch is a user-facing error. Weights of another float dtype are converted to float32 (the
    dtype every hotbench model computes in) with a warning, and the dtype is recorded."""
    cfg = cfg.resolved()
    state, fmt = read_state_dict(path)
    floats = sorted(
        {str(v.dtype).removeprefix("torch.") for v in state.values() if v.is_floating_point()}
    )
    dtype = "/".join(floats) or "none"
    if dtype != "float32":
        warn(
            f"weights in '{path}' are {dtype}: converted to float32 (what hotbench's models compute"
            " in); accuracies may differ slightly from the original model's"
        )
    # a user's arch (--arch MODULE:CALLABLE) is checked to output [batch, classes] first
    model = check_model(DATASETS.get(cfg.dataset), cfg.arch, cfg.act, cfg.temp)
    state = _fit_keys(state, set(model.state_dict()))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise HotbenchError(
            f"weights in '{path}' do not fit arch '{cfg.arch}' for {cfg.dataset}: {detail}",
            "pass the --arch (and --dataset) the weights were trained with",
        ) from None
    bad = [
        k
        for k, v in model.state_dict().items()
        if v.is_floating_point() and not torch.isfinite(v).all()
    ]
    if bad:
        raise HotbenchError(
            f"weights in '{path}' contain NaN or infinite values (first: '{bad[0]}')",
            "export the weights of a finished, healthy training run",
        )
    return model.eval(), fmt, dtype


def import_weights(ctx: Context, path: Path, cfg: TrainConfig) -> tuple[RunRecord, bool]:
    """Store external weights as a run of `ctx.ws` (idempotent: the same file and config give the
    same run; `ctx.force` stores it again).

    Everything is validated (file format, fit to the architecture, finite values, dataset present)
    before anything is written. The bool says whether the run was stored now.
    """
    ws = ctx.ws
    path = Path(path)
    cfg = cfg.resolved()
    model, fmt, dtype = build_from_weights(path, cfg)
    digest = sha256_file(path)
    run_id = imported_run_id(cfg, digest)
    if ws.has_run(run_id) and not ctx.force:
        return ws.load_record(run_id), False
    data = load_dataset(cfg.dataset, ctx.data_dir, ctx.download)
    ws.ensure_writable()
    device = ctx.device
    test_acc = accuracy(model.to(device), data.test)
    if not math.isfinite(test_acc):
        raise HotbenchError(f"the {cfg.dataset} test set is empty", "check --data-dir")
    metrics = {
        "test_acc": test_acc,
        "train_time_s": None,
        "epoch_loss": [],
        "n_train": None,
        "n_test": len(data.test),
    }
    prov = {
        "versions": versions(),
        "hardware": hardware(device),
        "seed": None,
        "data": data_source(cfg.dataset, ctx.data_dir),
        "imported": {
            "file": str(path.resolve()),
            "sha256": digest,
            "format": fmt,
            "dtype": dtype,
            "note": (
                "weights trained outside hotbench: config fields other than dataset, arch, act "
                "and temp do not describe how they were trained"
            ),
        },
    }
    if (source := arch_source(cfg.arch)) is not None:
        prov["arch_source"] = source
    with ws.lock(run_id):
        record = ws.save_run(cfg, model.cpu(), metrics, prov, run_id=run_id)
    ctx.reporter.log(f"imported {run_id} from {path.name} ({fmt}): test acc {test_acc:.3f}")
    return record, True
