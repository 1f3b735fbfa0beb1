"""The workspace: one directory per trained model, named by its config, holding everything about it.

    <workspace>/runs/<run_id>/model.safetensors   weights (no code runs when they are loaded)
    <workspace>/runs/<run_id>/run.json            config, metrics, provenance, weights checksum
    <workspace>/runs/<run_id>/attacks/<id>.json   one file per attack config, with per-sample
    outcomes

Every file is written to a temporary name and renamed into place, and run.json is written last: a
run (or an attack result) exists exactly when its JSON exists and its checksum holds. A process
killed mid-way leaves at most a stray temporary file, never a result that a later run would trust.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import TrainConfig
from .data import DATASETS
from .errors import HotbenchError
from .models import HotNet, build_model

RUN_SCHEMA = "hotbench.run/1"
RESULT_SCHEMA = "hotbench.result/1"
WEIGHTS = "model.safetensors"


def default_workspace() -> Path:
    return Path(os.environ.get("HOTBENCH_HOME", "./hotbench-runs"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_checksum(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    doc = {**doc, "checksum": _json_checksum(doc)}
    atomic_write_bytes(path, (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode())
    return doc


def read_json_checked(path: Path) -> dict[str, Any]:
    """Read a JSON written by `atomic_write_json`; a truncated or edited file is a user-facing
    error."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HotbenchError(
            f"'{path}' is unreadable or truncated ({type(exc).__name__})",
            f"delete '{path.parent}' and compute it again",
        ) from None
    if not isinstance(doc, dict) or doc.get("checksum") != _json_checksum(doc):
        raise HotbenchError(
            f"'{path}' fails its checksum (edited or corrupted)",
            f"delete '{path.parent}' and compute it again",
        )
    return doc


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    run_id: str
    path: Path
    doc: dict[str, Any]

    @property
    def config(self) -> TrainConfig:
        return TrainConfig(**self.doc["config"])

    @property
    def test_acc(self) -> float:
        return float(self.doc["metrics"]["test_acc"])

    @property
    def weights_sha256(self) -> str:
        """The sha256 of the stored weights file, as run.json records it (`Workspace.load_model`
        checks the file against it). Results and diagnoses record it to say which weights they
        measured; use it as the key of anything cached per model."""
        return str(self.doc["weights"]["sha256"])


def weights_sha256(record: RunRecord) -> str:
    """The sha256 of a run's weights (see `RunRecord.weights_sha256`)."""
    return record.weights_sha256


class Workspace:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_workspace()
        if self.root.exists() and not self.root.is_dir():
            raise HotbenchError(
                f"workspace '{self.root}' is a file, not a directory",
                "pass --workspace with a directory path (or set HOTBENCH_HOME)",
            )
        self.runs = self.root / "runs"

    def ensure_writable(self) -> None:
        """Fail early if the workspace cannot be written, without creating anything.

        Commands call this before validating everything else (data files, ...), so it must leave no
        trace: the probe file goes in the deepest folder that already exists on the way to runs/ and
        is removed at once; folders are created only when a result is saved.
        """
        existing = self.runs
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        try:
            if not existing.is_dir():
                raise NotADirectoryError(20, "Not a directory", str(existing))
            probe = tempfile.NamedTemporaryFile(dir=existing, prefix=".hotbench-probe", delete=True)
            probe.close()
        except OSError as exc:
            raise HotbenchError(
                f"workspace '{self.root}' is not writable ({exc.strerror})",
                "pass --workspace with a directory you can write to (or set HOTBENCH_HOME)",
            ) from None

    # ---- runs ------------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    @contextmanager
    def lock(self, run_id: str, timeout: float = -1) -> Iterator[None]:
        """Exclusive lock on one run directory, so that parallel sweeps never write the same
        files."""
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(d / ".lock"), timeout=timeout):
                yield
        except Timeout:
            raise HotbenchError(
                f"run '{run_id}' is locked by another hotbench process", "wait for it to finish"
            ) from None

    def has_run(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / "run.json").is_file()

    def save_run(
        self,
        cfg: TrainConfig,
        model: HotNet,
        metrics: dict[str, Any],
        provenance: dict[str, Any],
        run_id: str | None = None,
    ) -> RunRecord:
        """Store a model. `run_id` defaults to the config hash; imported weights get their own id
        (see checkpoints.py) so that `ensure_trained` never mistakes them for a model trained with
        `cfg`.
        """
        cfg = cfg.resolved()
        run_id = run_id or cfg.run_id
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".model.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(state, tmp)
            digest = sha256_file(Path(tmp))
            os.replace(tmp, d / WEIGHTS)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        doc = {
            "schema": RUN_SCHEMA,
            "run_id": run_id,
            "config": cfg.model_dump(),
            "metrics": metrics,
            "provenance": {**provenance, "created": now()},
            "weights": {"file": WEIGHTS, "sha256": digest},
        }
        return RunRecord(run_id, d, atomic_write_json(d / "run.json", doc))

    def load_record(self, run_id: str) -> RunRecord:
        d = self.run_dir(run_id)
        if not (d / "run.json").is_file():
            raise HotbenchError(
                f"no trained model '{run_id}' in workspace '{self.root}'",
                "list them with `hotbench ls`, or train one with `hotbench train`",
            )
        doc = read_json_checked(d / "run.json")
        if doc.get("schema") != RUN_SCHEMA:
            raise HotbenchError(
                f"'{d / 'run.json'}' has schema {doc.get('schema')!r}, expected {RUN_SCHEMA}",
                "train it again with this hotbench version",
            )
        return RunRecord(run_id, d, doc)

    def load_model(self, record: RunRecord, device: torch.device | str = "cpu") -> HotNet:
        path = record.path / WEIGHTS
        fix = f"delete '{record.path}' and train it again (hotbench train ... --force)"
        if not path.is_file():
            raise HotbenchError(f"weights file '{path}' is missing", fix)
        if sha256_file(path) != record.doc["weights"]["sha256"]:
            raise HotbenchError(
                f"weights file '{path}' does not match the checksum in run.json (truncated or"
                " replaced)",
                fix,
            )
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise HotbenchError(
                f"weights file '{path}' is not valid safetensors ({exc})", fix
            ) from None
        cfg = record.config
        model = build_model(DATASETS.get(cfg.dataset), cfg.arch, cfg.act, cfg.temp)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise HotbenchError(
                f"weights in '{path}' do not fit arch '{cfg.arch}': {str(exc).splitlines()[0]}", fix
            ) from None
        return model.to(device).eval()

    def records(self) -> list[RunRecord]:
        """Every complete run, sorted by (dataset, act, temperature). Incomplete directories are
        skipped."""
        if not self.runs.is_dir():
            return []
        out = [
            self.load_record(d.name)
            for d in sorted(self.runs.iterdir())
            if (d / "run.json").is_file()
        ]
        return sorted(out, key=lambda r: (r.config.dataset, r.config.act, r.config.temp, r.run_id))

    # ---- attack results --------------------------------------------------------------------------
    def result_path(self, run_id: str, attack_id: str) -> Path:
        return self.run_dir(run_id) / "attacks" / f"{attack_id}.json"

    def save_result(self, run_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        return atomic_write_json(
            self.result_path(run_id, doc["attack_id"]), {"schema": RESULT_SCHEMA, **doc}
        )

    def load_results(self, run_id: str) -> list[dict[str, Any]]:
        d = self.run_dir(run_id) / "attacks"
        if not d.is_dir():
            return []
        return [read_json_checked(p) for p in sorted(d.glob("*.json"))]
