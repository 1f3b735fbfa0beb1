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
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout
from pydantic import ValidationError

from .checked_files import (
    RESULT_SCHEMA,
    atomic_write_json,
    check_result,
    delete_fix,
    first_error,
    read_json_checked,
    sha256_file,
)
from .config import STORED, TrainConfig, imported_run_id
from .data import DATASETS
from .errors import ArchImportError, HotbenchError, warn
from .files import NAME_FIX, atomic_write_bytes, write_error
from .user_arch import import_callable, is_import_path

# torch, safetensors and the models load when weights are read or written: a report reads only the
# JSON documents, and `hotbench report` must not pay torch's import.
if TYPE_CHECKING:
    import torch

    from .models import HotNet


RUN_SCHEMA = "hotbench.run/1"


WEIGHTS = "model.safetensors"


DEFAULT_WORKSPACE = "./hotbench-runs"


def default_workspace() -> Path:
    """HOTBENCH_HOME, or ./hotbench-runs. An empty HOTBENCH_HOME counts as unset (as in most
    shells' conventions), not as "" = the current directory."""
    return Path(os.environ.get("HOTBENCH_HOME") or DEFAULT_WORKSPACE)


def _arch_not_here(run_id: str, doc: dict[str, Any], exc: ArchImportError) -> HotbenchError:
    """A run trained with a user's network whose module does not import from the current
    directory: the run is intact (its checksum held), so say where the module was, not "delete"."""
    src = (doc.get("provenance") or {}).get("arch_source") or {}
    where = f" (it was trained from {src['file']})" if isinstance(src.get("file"), str) else ""
    return HotbenchError(
        f"run '{run_id}' uses a network that does not import from here: {exc.problem}{where}",
        "run hotbench from the folder that holds the module, as when it was trained, or add that"
        " folder to PYTHONPATH; the run itself is intact",
    )


class UntrustedRun(HotbenchError):
    """A run folder whose run.json, intact, does not name the model it holds: a copy of a run folder
    under another name, or a config edited (and re-signed) after training. Listings skip it with a
    warning; a command that asks for it by id gets the error."""


def expected_run_id(doc: dict[str, Any], cfg: TrainConfig) -> str:
    """The id a run.json's config hashes to: the config alone for a trained model, the config and
    the weights file for imported ones (checkpoints.import_weights)."""
    imported = (doc.get("provenance") or {}).get("imported")
    if isinstance(imported, dict) and isinstance(imported.get("sha256"), str):
        return imported_run_id(cfg, imported["sha256"])
    return cfg.run_id


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    run_id: str
    path: Path
    doc: dict[str, Any]

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.model_validate(self.doc["config"], context={STORED: True})

    @property
    def test_acc(self) -> float:
        return float(self.doc["metrics"]["test_acc"])

    @property
    def n_test(self) -> int | None:
        """The size of the test set this run was trained beside (run.json's metrics; None: a run
        stored before they recorded it). The store reads no data, and a dataset under --data-dir
        may hold other files than the published ones: its results' sample indices lie below it."""
        n = self.doc.get("metrics", {}).get("n_test")
        return n if isinstance(n, int) and not isinstance(n, bool) else None

    @property
    def weights_sha256(self) -> str:
        """The sha256 of the stored weights file: what every result and diagnosis of this run
        records (`weights_sha256`), so that a result is never reported for weights it did not
        measure (after `train --force`). `Workspace.load_model` checks the file against it. Use
        it as the key of anything cached per model."""
        return str(self.doc["weights"]["sha256"])

    @property
    def recorded_data_dir(self) -> Path | None:
        """The data folder run.json recorded at training (None: an embedded dataset, or a run of a
        hotbench that did not record it); `data.data_folders` says where to look."""
        recorded = (self.doc.get("provenance", {}).get("data") or {}).get("dir")
        return Path(recorded) if recorded else None


def weights_sha256(record: RunRecord) -> str:
    """The sha256 of a run's weights (see `RunRecord.weights_sha256`)."""
    return record.weights_sha256


def is_stale(doc: dict[str, Any], record: RunRecord) -> bool:
    """Whether a result or diagnosis document was measured on other weights than the run's current
    ones. Documents of hotbench versions that did not record it count as current; `save_run` stamps
    them with the old hash when it replaces the weights."""
    sha = doc.get("weights_sha256")
    return sha is not None and sha != record.weights_sha256


def warn_if_arch_changed(record: RunRecord) -> None:
    """A user's `--arch` source edited since the run was trained (its sha256 no longer matches
    run.json's `provenance.arch_source`): the weights are loaded into other code than they were
    trained with. One line (once per command: errors.warn); results record the source's sha
    they were measured with (`provenance.arch_source` of each result)."""
    from .models import arch_source

    trained = (record.doc.get("provenance") or {}).get("arch_source") or {}
    arch = record.config.arch
    if arch is None or not is_import_path(arch) or not trained.get("sha256"):
        return
    now_src = arch_source(arch) or {}
    sha = now_src.get("sha256")
    if sha and sha != trained["sha256"]:
        warn(
            f"{arch} ({now_src.get('file')}) has changed since run {record.run_id} was trained"
            f" (sha256 {sha[:12]}, run.json {trained['sha256'][:12]}): its results are of the"
            " code they record; retrain (hotbench train ... --force) to measure the new code"
        )


class Workspace:
    def __init__(self, root: Path | str | None = None) -> None:
        if root is not None and str(root) == "":
            raise HotbenchError(
                "the workspace path is empty", "pass --workspace DIR (or unset HOTBENCH_HOME)"
            )
        self.root = Path(root) if root is not None else default_workspace()
        try:
            self.root.stat()
        except OSError as exc:  # a name over 255 bytes (other errors: ensure_writable says why)
            if exc.errno == errno.ENAMETOOLONG:
                raise HotbenchError(
                    f"workspace '{self.root}' is unusable ({exc.strerror})", NAME_FIX
                ) from None
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

    def lock_path(self, run_id: str) -> Path:
        """Run locks live in runs/.locks, not in the run folder: a command that fails before it
        stores anything (disk full, a diverged training) leaves no empty run folder behind, and
        the lock file is never deleted (a process waiting on a deleted lock file would hold a lock
        no one else sees)."""
        return self.runs / ".locks" / f"{run_id}.lock"

    @contextmanager
    def lock(self, run_id: str, timeout: float = -1) -> Iterator[None]:
        """Exclusive lock on one run, so that parallel sweeps never write the same files."""
        path = self.lock_path(run_id)
        lock = FileLock(str(path), timeout=timeout)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise HotbenchError(
                f"run '{run_id}' is locked by another hotbench process", "wait for it to finish"
            ) from None
        except OSError as exc:  # read-only storage, disk full, a folder that is a file
            raise write_error(
                path,
                exc,
                "computing needs a writable workspace: pass --workspace with one (report and ls"
                " read a read-only one)",
            ) from None
        try:
            yield
        finally:
            lock.release()

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
        from safetensors.torch import save as safetensors_bytes

        cfg = cfg.resolved()
        run_id = run_id or cfg.run_id
        d = self.run_dir(run_id)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        data = safetensors_bytes(state)
        digest = hashlib.sha256(data).hexdigest()
        old = self._stored_sha256(run_id)
        doc = {
            "schema": RUN_SCHEMA,
            "run_id": run_id,
            "config": cfg.model_dump(),
            "metrics": metrics,
            "provenance": {**provenance, "created": now()},
            "weights": {"file": WEIGHTS, "sha256": digest},
        }
        created = not d.exists()
        try:
            atomic_write_bytes(d / WEIGHTS, data)
            if old is not None and old != digest:
                self._stamp_unmarked(d, old)
            return RunRecord(run_id, d, atomic_write_json(d / "run.json", doc))
        except BaseException:  # disk full, Ctrl-C: a new run's folder goes (the caller locks it)
            if created:
                shutil.rmtree(d, ignore_errors=True)
            raise

    def _stored_sha256(self, run_id: str) -> str | None:
        """The weights hash run.json records now (None: no readable run.json)."""
        try:
            return read_json_checked(self.run_dir(run_id) / "run.json")["weights"]["sha256"]
        except (HotbenchError, KeyError, TypeError):
            return None

    def _stamp_unmarked(self, d: Path, old_sha: str) -> None:
        """Weights are being replaced: documents written before results recorded their weights get
        the old hash, so that they read as stale instead of passing for the new weights'."""
        for path in sorted((d / "attacks").glob("*.json")) + sorted(
            (d / "diagnosis").glob("*.json")
        ):
            try:
                doc = read_json_checked(path)
            except HotbenchError:
                continue
            if "weights_sha256" not in doc:
                atomic_write_json(path, {**doc, "weights_sha256": old_sha})

    def load_record(self, run_id: str) -> RunRecord:
        d = self.run_dir(run_id)
        if not (d / "run.json").is_file():
            raise HotbenchError(
                f"no trained model '{run_id}' in workspace '{self.root}'",
                "list them with `hotbench ls`, or train one with `hotbench train`",
            )
        path = d / "run.json"
        doc = read_json_checked(path)
        if doc.get("schema") != RUN_SCHEMA:
            raise HotbenchError(
                f"'{path}' has schema {doc.get('schema')!r}, expected {RUN_SCHEMA}",
                "train it again with this hotbench version",
            )
        record = RunRecord(run_id, d, doc)
        try:  # a file re-signed by hand can hold a valid checksum over invalid content
            record.config  # noqa: B018 (validates)
            float(doc["metrics"]["test_acc"])
            if not isinstance(doc["weights"]["sha256"], str):
                raise TypeError("'weights.sha256' is not a string")
        except (KeyError, TypeError, ValueError, ValidationError, HotbenchError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else first_error(exc)
            raise HotbenchError(
                f"'{path}' is not a valid run record ({detail})", delete_fix(path)
            ) from None
        if doc["run_id"] != d.name:
            raise UntrustedRun(
                f"run folder '{d}' holds run '{doc['run_id']}' (a copy under another name?)",
                f"hotbench names each run folder by its run id: delete '{d}'",
            )
        if (expected := expected_run_id(doc, record.config)) != run_id:
            raise UntrustedRun(
                f"run folder '{d}': its run.json's config hashes to '{expected}', not to its run"
                f" id '{run_id}' (edited after training?)",
                delete_fix(path),
            )
        return record

    def require_arch(self, record: RunRecord) -> None:
        """A run trained with a user's network needs its module to build the model: say where the
        module was (never "delete the run") before any work, e.g. before a transfer attack trains
        its surrogate with the same network."""
        arch = record.config.arch
        if arch is not None and is_import_path(arch):
            try:
                import_callable(arch)
            except ArchImportError as exc:
                raise _arch_not_here(record.run_id, record.doc, exc) from None

    def load_model(self, record: RunRecord, device: torch.device | str = "cpu") -> HotNet:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from .models import build_model

        self.require_arch(record)  # before the weights are read and hashed
        warn_if_arch_changed(record)
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
        bad = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
        if bad:
            raise HotbenchError(
                f"weights in '{path}' contain NaN or infinite values (first: '{bad[0]}'): the"
                " training diverged, and attacking such a model measures nothing",
                f"train it again with a lower --lr (hotbench train ... --force), or delete"
                f" '{record.path}'",
            )
        return model.to(device).eval()

    def records(self) -> list[RunRecord]:
        """Every complete run, sorted by (dataset, act, temperature). Incomplete directories are
        skipped; so is a folder that does not hold the run its name says (`UntrustedRun`), with a
        warning naming it."""
        if not self.runs.is_dir():
            return []
        out = []
        for d in sorted(self.runs.iterdir()):
            if (d / "run.json").is_file():
                try:
                    out.append(self.load_record(d.name))
                except UntrustedRun as exc:  # never counted: one warning names it
                    warn(f"skipped {exc}")
        return sorted(out, key=lambda r: (r.config.dataset, r.config.act, r.config.temp, r.run_id))

    # ---- attack results --------------------------------------------------------------------------
    def result_path(self, run_id: str, attack_id: str) -> Path:
        return self.run_dir(run_id) / "attacks" / f"{attack_id}.json"

    def save_result(self, run_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a result document; one without `weights_sha256` gets the run's current one (the
        caller holds the run's lock, so these are the weights it attacked)."""
        if "weights_sha256" not in doc:
            doc = {**doc, "weights_sha256": self.load_record(run_id).weights_sha256}
        return atomic_write_json(
            self.result_path(run_id, doc["attack_id"]), {"schema": RESULT_SCHEMA, **doc}
        )

    def stored_result(self, record: RunRecord, attack_id: str) -> dict[str, Any] | None:
        """The stored result of one attack config if it is current (None if absent, or measured
        on weights that have since been replaced: it is to be computed again). A damaged file is a
        HotbenchError naming it."""
        path = self.result_path(record.run_id, attack_id)
        if not path.is_file():
            return None
        doc = read_json_checked(path)
        check_result(doc, path, record.n_test)
        return None if is_stale(doc, record) else doc

    def load_results(self, run_id: str) -> list[dict[str, Any]]:
        """The current, valid results of a run. A damaged file (bad checksum, inconsistent content)
        or one measured on earlier weights is left out with a warning that names it and says how to
        refresh it; the others are returned."""
        d = self.run_dir(run_id) / "attacks"
        if not d.is_dir():
            return []
        record = self.load_record(run_id)
        out, stale = [], []
        for path in sorted(d.glob("*.json")):
            try:
                doc = read_json_checked(path)
                check_result(doc, path, record.n_test)
            except HotbenchError as exc:
                warn(f"skipped {exc}")
                continue
            (stale if is_stale(doc, record) else out).append(doc)
        if stale:
            warn(
                f"{len(stale)} stored result(s) of {run_id} were measured on earlier weights (the"
                " model was trained again) and are not reported: refresh them with `hotbench"
                f" attack --run {run_id} ...` with the same options (or re-run the preset)"
            )
        return out
