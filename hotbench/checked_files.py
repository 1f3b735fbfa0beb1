"""The workspace's JSON documents as files that can be trusted: written atomically with a checksum,
and read back only when it holds; an attack result also only when its content is one hotbench could
have written (its config hashes to its id, it sits in its run's folder, its per-sample outcomes obey
the rules the engine holds by construction). Everything a command reads from a workspace passes
here, so a damaged or hand-edited file is one line naming it and the fix, never a wrong number."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import AttackConfig
from .data import DATASETS
from .errors import HotbenchError
from .files import atomic_write_bytes

RESULT_SCHEMA = "hotbench.result/1"
# the per-sample lists of a result document: one entry per evaluated test image, all equally long
PER_SAMPLE = ("index", "label", "clean_pred", "adv_pred", "linf", "l2")


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


def atomic_write_json(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    doc = {**doc, "checksum": _json_checksum(doc)}
    atomic_write_bytes(path, (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode())
    return doc


def delete_fix(path: Path) -> str:
    """What to delete when one stored file is damaged: the run folder for run.json (nothing in it
    can be trusted without it), else only that file (the other results stay)."""
    if path.name == "run.json":
        return f"delete '{path.parent}' and compute it again"
    return f"delete '{path}' and compute it again (the other results are kept)"


def read_json_checked(path: Path) -> dict[str, Any]:
    """Read a JSON written by `atomic_write_json`; a truncated or edited file is a user-facing
    error."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise HotbenchError(
            f"'{path}' is unreadable or truncated ({type(exc).__name__})", delete_fix(path)
        ) from None
    if not isinstance(doc, dict) or doc.get("checksum") != _json_checksum(doc):
        raise HotbenchError(f"'{path}' fails its checksum (edited or corrupted)", delete_fix(path))
    return doc


def first_error(exc: ValidationError | HotbenchError | Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "value"
        return f"'{key}': {err['msg']}"
    if isinstance(exc, HotbenchError):
        return exc.problem
    return f"{type(exc).__name__}: {exc}"


# A stored perturbation size is inside its budget when the engine's own test says so
# (attacks.tracking.inside: eps * (1 + 1e-5) + 1e-6, for float32 error), after the rounding to 6
# decimals that result documents store sizes with (up to 5e-7 more).
BUDGET_RTOL, BUDGET_ATOL = 1e-5, 1e-6 + 5e-7


def within_budget(size: float, eps: float) -> bool:
    return size <= eps * (1 + BUDGET_RTOL) + BUDGET_ATOL


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_size(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf")


def _bad_entry(key: str, values: list[Any], ok: Any, what: str) -> str | None:
    for i, v in enumerate(values):
        if not ok(v):
            return f"'{key}' holds {v!r} at position {i}, not {what}"
    return None


def _class_problem(ps: dict[str, Any], dataset: Any) -> str | None:
    """A class beyond the dataset's (a label 12 of digits' 10 was counted as one more clean error):
    the model outputs one logit per class, so every label and prediction is below their number."""
    if not isinstance(dataset, str) or dataset not in DATASETS:
        return None  # an unknown dataset fails where the result's run is read
    k = DATASETS.get(dataset).num_classes
    for key in ("label", "clean_pred", "adv_pred", "target"):
        for i, v in enumerate(ps.get(key) or []):
            if v >= k:
                return f"'{key}' holds {v} at position {i}, beyond the {k} classes of {dataset}"
    return None


def _index_problem(ps: dict[str, Any], n_test: int | None, dataset: Any) -> str | None:
    """A sample index beyond the test set (5000 of digits' 397 was counted: n=50, the worst case
    on the 49 shared): the engine attacks images of the run's test set, so every index is below
    the size the run recorded (None: a run that did not record it, left unchecked)."""
    if n_test is None:
        return None
    for i in ps["index"]:
        if i >= n_test:
            whose = f"{dataset}'" if str(dataset).endswith("s") else f"{dataset}'s"
            return f"sample index {i} is beyond the {n_test} images of {whose} test set"
    return None


def _per_sample_problem(ps: dict[str, Any], cfg: AttackConfig) -> str | None:
    """What makes a result's per-sample outcomes impossible for hotbench to have written (None:
    nothing). Each rule is one that the engine holds by construction (attacks.engine.run_attack)."""
    rules: list[tuple[str, Any, str]] = [
        ("index", lambda v: _is_int(v) and v >= 0, "a test-set index (an integer >= 0)"),
        ("label", lambda v: _is_int(v) and v >= 0, "a class (an integer >= 0)"),
        ("clean_pred", lambda v: _is_int(v) and v >= 0, "a class (an integer >= 0)"),
        ("adv_pred", lambda v: _is_int(v) and v >= 0, "a class (an integer >= 0)"),
        ("linf", _is_size, "a perturbation size (a finite number >= 0)"),
        ("l2", _is_size, "a perturbation size (a finite number >= 0)"),
        ("attacked", lambda v: isinstance(v, bool), "true or false"),
        ("target", lambda v: _is_int(v) and v >= -1, "a target class (an integer >= -1)"),
    ]
    for key, ok, what in rules:
        if key in ps and (problem := _bad_entry(key, ps[key], ok, what)):
            return problem
    seen: set[int] = set()
    for i in ps["index"]:
        if i in seen:
            return f"sample index {i} appears twice"
        seen.add(i)
    for i, y, c, a in zip(ps["index"], ps["label"], ps["clean_pred"], ps["adv_pred"], strict=True):
        if c != y and a == y:
            # only clean-correct samples are attacked; the others keep their clean prediction
            return f"sample {i} is correct after the attack but was misclassified before it"
    norm = cfg.norm
    if norm is not None:  # minimum-norm attacks have no budget to exceed
        sizes = ps["linf"] if norm == "Linf" else ps["l2"]
        for i, size in zip(ps["index"], sizes, strict=True):
            if not within_budget(size, cfg.eps):
                return f"sample {i} is perturbed by {size:g} in {norm}, beyond its eps {cfg.eps:g}"
    return None


def check_result(doc: dict[str, Any], path: Path, n_test: int | None = None) -> AttackConfig:
    """Validate a result document read from `path` (its checksum may hold while its content is
    inconsistent, e.g. re-signed by hand, or copied elsewhere): its schema, a known attack config
    that hashes to its attack id, the run and file it is stored as, and per-sample outcomes that
    hotbench could have written (see `_per_sample_problem`), on test images of its run's test set
    of `n_test` (its run's record knows it; this module reads no data). Returns its config; raises
    a HotbenchError naming the file."""
    try:
        cfg = AttackConfig(**doc["config"])
        ps = doc["per_sample"]
        lengths = {k: len(ps[k]) for k in PER_SAMPLE + tuple(k for k in ("attacked",) if k in ps)}
        for key in ("metrics", "provenance"):
            if not isinstance(doc[key], dict):
                raise TypeError(f"'{key}' is not a mapping")
        if not isinstance(doc["attack_id"], str) or not isinstance(doc["run_id"], str):
            raise TypeError("'attack_id' and 'run_id' must be strings")
    except (KeyError, TypeError, ValidationError, HotbenchError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else first_error(exc)
        raise HotbenchError(
            f"result file '{path}' is not a valid hotbench result ({detail})", delete_fix(path)
        ) from None
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{k} {n}" for k, n in lengths.items())
        raise HotbenchError(
            f"result file '{path}' has per-sample lists of different lengths ({sizes})",
            delete_fix(path),
        )
    dataset = model.get("dataset") if isinstance(model := doc.get("model"), dict) else None
    problem = (
        _result_identity_problem(doc, cfg, path)
        or _per_sample_problem(ps, cfg)
        or _class_problem(ps, dataset)
        or _index_problem(ps, n_test, dataset)
    )
    if problem is not None:
        raise HotbenchError(f"result file '{path}' cannot be trusted: {problem}", delete_fix(path))
    return cfg


def _result_identity_problem(doc: dict[str, Any], cfg: AttackConfig, path: Path) -> str | None:
    if doc.get("schema") != RESULT_SCHEMA:
        return f"schema {doc.get('schema')!r}, expected {RESULT_SCHEMA!r}"
    run_folder = path.parent.parent.name
    if doc["run_id"] != run_folder:
        return f"it is a result of run '{doc['run_id']}', stored under run '{run_folder}'"
    if doc["attack_id"] != path.stem:
        return f"its attack id '{doc['attack_id']}' is not its file name"
    if (expected := cfg.attack_id(doc["run_id"])) != doc["attack_id"]:
        return f"its config hashes to attack id '{expected}', not '{doc['attack_id']}'"
    # not hashed into the id, but what the report groups the worst case by is the config's norm:
    # an edited one (L2 on a pgd result) showed as L2 on the record, grouped as Linf
    if (stored := doc.get("threat_model")) != cfg.norm:
        norm = cfg.norm or "none (minimum-norm)"
        return f"its threat_model {stored!r} is not its attack's ({cfg.method}: {norm})"
    return None
