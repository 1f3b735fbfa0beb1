"""Results documents read from files (baselines for `report --baseline`, both sides of `hotbench
compare`), checked on load.

A document is a user's input: hand-edited, truncated, from another tool or another version. The
gate and compare trust what this module lets through, so it holds every document to what must be
true of one that hotbench wrote (docs/results-schema.md):

- the file is a regular file of a sane size: a FIFO would block `open` forever and /dev/zero would
  fill memory, so neither is opened;
- records and worst cases are lists of objects, each with its ids (non-empty strings);
- accuracies and interval bounds are numbers in [0, 1] (null or NaN: not measured), never a string,
  a list or 1.7; sample counts are whole numbers >= 0, and no count exceeds its n.

Anything else is one line naming the file and the field (`records[3].adv_acc`), exit code 2:
bad input, never a regression (exit 1) and never a silent pass.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import HotbenchError
from .records import SCHEMA_VERSION

# Far above any real document (a 288-result reproduction is about 1 MB), far below memory.
MAX_DOCUMENT_BYTES = 256 << 20

# Fields that hold a fraction in [0, 1] (or null / NaN: not measured), per kind of record.
RECORD_FRACTIONS = (
    "clean_acc",
    "adv_acc",
    "clean_ci_low",
    "clean_ci_high",
    "adv_ci_low",
    "adv_ci_high",
    "success_rate",
    "targeted_success",
    "targeted_ci_low",
    "targeted_ci_high",
)
ROBUST_FRACTIONS = ("clean_acc", "robust_acc", "ci_low", "ci_high")
# count -> the n it is a part of
RECORD_COUNTS = {"n_clean_correct": "n_samples", "n_adv_correct": "n_samples"}
ROBUST_COUNTS = {"n_robust": "n_samples"}
# accuracies measured on n_samples: NaN ("not measured") only where n is 0. (Not held to their
# counts or intervals: a baseline's accuracy edited by hand is a threshold a user may set.)
RECORD_MEASURED = ("clean_acc", "adv_acc")
ROBUST_MEASURED = ("robust_acc",)
# (low, high) of an interval
RECORD_INTERVALS = (("clean_ci_low", "clean_ci_high"), ("adv_ci_low", "adv_ci_high"))
ROBUST_INTERVALS = (("ci_low", "ci_high"),)
# a count beyond float's exact integers is no test set's (and beyond float's range, a traceback)
MAX_COUNT = 2**53
# what the gate and compare read besides the numbers
RECORD_IDS = ("run_id", "attack_id")
ROBUST_IDS = ("run_id", "robust_id")
TEXT_FIELDS = ("label", "dataset", "act", "threat_model", "method")
VERDICT_AXES = ("robustness", "masking")  # reports.verdicts.VERDICT_COLUMNS (a layer above)
NUMBER_FIELDS = ("train_temp", "eval_temp", "eps")


def _fix(path: Path) -> str:
    return f"regenerate it with `hotbench report --save-baseline {path}`"


def read_document_text(path: Path, what: str) -> str:
    """The text of a document file, refusing what is not a regular file of a sane size before it
    is opened for reading (a FIFO blocks, a device never ends)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise HotbenchError(
            f"{what} '{path}' does not exist",
            f"create one with `hotbench report --save-baseline {path}`",
        ) from None
    except OSError as exc:
        raise HotbenchError(
            f"{what} '{path}' cannot be read ({exc.strerror or type(exc).__name__})",
            "pass a results JSON file",
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise HotbenchError(f"{what} '{path}' is a directory", "pass a results JSON file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file (a device?)"
        raise HotbenchError(f"{what} '{path}' is {kind}", "pass a results JSON file")
    if st.st_size > MAX_DOCUMENT_BYTES:
        raise HotbenchError(
            f"{what} '{path}' is {st.st_size >> 20} MiB, larger than any results document"
            f" ({MAX_DOCUMENT_BYTES >> 20} MiB)",
            "pass a results JSON file (`hotbench report --format json`)",
        )
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:  # grew since the stat
            raise HotbenchError(f"{what} '{path}' is too large", "pass a results JSON file")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HotbenchError(
            f"{what} '{path}' is not readable JSON ({type(exc).__name__})", _fix(path)
        ) from None


def load_document(path: Path, what: str = "baseline") -> dict[str, Any]:
    """Read and check a results document (`what` names it in errors: "baseline", "results file")."""
    path = Path(path)
    text = read_document_text(path, what)
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise HotbenchError(
            f"{what} '{path}' is not readable JSON ({type(exc).__name__})", _fix(path)
        ) from None
    check_document(doc, path, what)
    return doc


def check_document(doc: Any, path: Path, what: str = "baseline") -> dict[str, Any]:
    """Hold a parsed document to what the gate and compare rely on; raise one line naming the
    file and the first field that is wrong."""
    fix = _fix(path)
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise HotbenchError(
            f"{what} '{path}' is not a hotbench results document (no schema_version)", fix
        )
    if doc["schema_version"] != SCHEMA_VERSION:
        raise HotbenchError(
            f"{what} '{path}' has schema_version {_show(doc['schema_version'])}, this hotbench"
            f" reads {SCHEMA_VERSION} (docs/results-schema.md)",
            f"regenerate it: hotbench run PRESET --workspace WS, then hotbench report --workspace"
            f" WS --preset PRESET --save-baseline {path}",
        )
    if not isinstance(doc.get("records"), list):
        raise HotbenchError(f"{what} '{path}' has no 'records' list", fix)
    if "robust" in doc and not isinstance(doc["robust"], list):
        raise HotbenchError(
            f"{what} '{path}': 'robust' is {_kind(doc['robust'])}, not a list of worst cases", fix
        )
    if "verdicts" in doc and not isinstance(doc["verdicts"], list):
        raise HotbenchError(
            f"{what} '{path}': 'verdicts' is {_kind(doc['verdicts'])}, not a list of verdicts", fix
        )
    for i, v in enumerate(doc.get("verdicts", [])):
        if (problem := _verdict_problem(v)) is not None:
            field, why = problem
            where = f"verdicts[{i}]" + (f".{field}" if field else "")
            raise HotbenchError(f"{what} '{path}': {where} {why}", fix)
    for kind, ids, fractions, counts, measured, intervals in (
        ("records", RECORD_IDS, RECORD_FRACTIONS, RECORD_COUNTS, RECORD_MEASURED, RECORD_INTERVALS),
        ("robust", ROBUST_IDS, ROBUST_FRACTIONS, ROBUST_COUNTS, ROBUST_MEASURED, ROBUST_INTERVALS),
    ):
        for i, r in enumerate(doc.get(kind, [])):
            problem = _record_problem(r, ids, fractions, counts) or _consistency_problem(
                r, measured, intervals
            )
            if problem is not None:
                field, why = problem
                where = f"{kind}[{i}]" + (f".{field}" if field else "")
                raise HotbenchError(f"{what} '{path}': {where} {why}", fix)
    return doc


def _record_problem(
    r: Any,
    ids: tuple[str, ...],
    fractions: tuple[str, ...],
    counts: dict[str, str],
) -> tuple[str, str] | None:
    """(field, what is wrong with it) for the first wrong field of one record, or None."""
    if not isinstance(r, dict):
        return "", f"is {_kind(r)}, not an object"
    for key in ids:
        if key not in r:
            return key, "is missing"
        if not isinstance(r[key], str) or not r[key].strip():
            return key, f"is {_show(r[key])}, not an id (a non-empty string)"
    for key in fractions:
        if key in r and (why := _fraction_problem(r[key])) is not None:
            return key, why
    for key in NUMBER_FIELDS:
        v = r.get(key)
        if v is not None and not _is_finite(v):
            return key, f"is {_show(v)}, not a finite number"
    for key in TEXT_FIELDS:
        if r.get(key) is not None and not isinstance(r[key], str):
            return key, f"is {_show(r[key])}, not a string"
    n = r.get("n_samples")
    if n is not None and (why := _count_problem(n)) is not None:
        return "n_samples", why
    for key, of in counts.items():
        k = r.get(key)
        if k is None:
            continue
        if (why := _count_problem(k)) is not None:
            return key, why
        if r.get(of) is not None and k > r[of]:
            return key, f"is {_show(k)}, more than {of} ({_show(r[of])})"
    return None


def _verdict_problem(v: Any) -> tuple[str, str] | None:
    """(field, what is wrong) for a verdict the gate compares (run_id and eval T match it, each
    axis is a word), or None."""
    if not isinstance(v, dict):
        return "", f"is {_kind(v)}, not an object"
    if not isinstance(v.get("run_id"), str) or not v["run_id"].strip():
        return "run_id", f"is {_show(v.get('run_id'))}, not an id (a non-empty string)"
    t = v.get("eval_temp")
    if not _is_finite(t):
        return "eval_temp", f"is {_show(t)}, not a finite number"
    for axis in VERDICT_AXES:
        if v.get(axis) is not None and not isinstance(v[axis], str):
            return axis, f"is {_show(v[axis])}, not a string"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_finite(v: Any) -> bool:
    """A number that is finite as a float (JSON integers are unbounded: 1e400 written out as an
    integer made math.isfinite raise OverflowError)."""
    if not _is_number(v):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _consistency_problem(
    r: dict[str, Any], measured: tuple[str, ...], intervals: tuple[tuple[str, str], ...]
) -> tuple[str, str] | None:
    """(field, what is wrong) where a record's numbers, each in range, contradict each other: NaN
    ("not measured") on samples (the gate passed it as "ok", delta +nan), an inverted interval
    (compare printed "0.400 [.50,.10]" and called two results "CIs apart")."""
    n = r.get("n_samples")
    for key in measured:
        f = r.get(key)
        if f is not None and n is not None and math.isnan(f) and n > 0:
            return key, f"is nan (not measured), but n_samples is {_show(n)}"
    for low, high in intervals:
        lo, hi = r.get(low), r.get(high)
        if lo is not None and hi is not None and lo > hi:
            return low, f"is {_show(lo)}, above {high} ({_show(hi)})"
    return None


def _fraction_problem(v: Any) -> str | None:
    if v is None:
        return None
    if not _is_number(v):
        return f"is {_show(v)}, not a number in [0, 1]"
    if math.isnan(v):
        return None  # not measured (n = 0)
    if not 0 <= v <= 1:
        return f"is {_show(v)}, outside [0, 1]"
    return None


def _count_problem(v: Any) -> str | None:
    if not _is_finite(v) or v != int(v) or not 0 <= v <= MAX_COUNT:
        return f"is {_show(v)}, not a count (a whole number >= 0)"
    return None


def _kind(v: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(v), "a number")


def _show(v: Any) -> str:
    """A value as the document holds it, short (a document may hold anything)."""
    text = json.dumps(v) if not isinstance(v, float) or math.isfinite(v) else str(v)
    return text if len(text) <= 40 else text[:37] + "..."
