"""The report command's gate step: the gate options validated before any output is written
(prepare), every requested check run (evaluate: against a baseline, reports.baseline; against
thresholds, reports.thresholds), and the baseline saved where every check passed.

Exit codes (see `hotbench report --help`): 0 every check passed, 1 a regression (a gated accuracy
moved by more than the tolerance, a baseline record is missing, or a --fail-under threshold is not
met), 2 bad input (unreadable baseline, one with no accuracy to check, malformed --fail-under, a
threshold that matches nothing). A regression is a result, not an error: it never goes through
HotbenchError, whose exit code is 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HotbenchError
from .baseline import (
    DEFAULT_TOLERANCE,
    check_direction,
    compare,
    filter_records,
    load_baseline,
    parse_tolerance,
    save_baseline,
)
from .gate_result import EXIT_OK, EXIT_REGRESSION, GateResult
from .thresholds import Threshold, check_thresholds, parse_threshold


@dataclass
class GateRequest:
    """The gate options of `hotbench report`, validated before any output is written (bad input:
    exit 2)."""

    baseline_path: Path | None = None
    baseline: dict[str, Any] | None = None
    tolerance: float | str = DEFAULT_TOLERANCE
    thresholds: list[Threshold] = field(default_factory=list)
    save_path: Path | None = None
    direction: str = "both"

    @property
    def active(self) -> bool:
        return bool(self.baseline is not None or self.thresholds or self.save_path)


def prepare(
    baseline: Path | None,
    tolerance: float | str,
    fail_under: list[str] | None,
    save_path: Path | None,
    direction: str = "both",
) -> GateRequest:
    tolerance = parse_tolerance(tolerance)
    check_direction(direction)
    if save_path is not None and save_path.exists() and save_path.is_dir():
        raise HotbenchError(
            f"--save-baseline '{save_path}' is a directory", "pass a file name, e.g. baseline.json"
        )
    return GateRequest(
        baseline,
        load_baseline(baseline) if baseline is not None else None,
        tolerance,
        [parse_threshold(s) for s in fail_under or []],
        save_path,
        direction,
    )


@dataclass
class GateOutcome:
    request: GateRequest
    current: dict[str, Any]
    results: list[tuple[str, str, GateResult]]  # (title, reference column, result)
    note: str | None = None  # whether the baseline was written (save_if_passed)

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if any(r.failed for _, _, r in self.results) else EXIT_OK


def evaluate(req: GateRequest, current: dict[str, Any], filters=None) -> GateOutcome:
    """Run every requested check. Called before the report is written, so that a bad threshold (exit
    2) never leaves half an output behind."""
    results = []
    if req.baseline is not None:
        results.append(
            (
                f"regression gate against {req.baseline_path}",
                "baseline",
                compare(
                    filter_records(req.baseline, filters),
                    current,
                    req.tolerance,
                    req.direction,
                    source=req.baseline_path,
                ),
            )
        )
    if req.thresholds:
        results.append(
            ("--fail-under thresholds", "threshold", check_thresholds(current, req.thresholds))
        )
    return GateOutcome(req, current, results)


def save_if_passed(outcome: GateOutcome) -> None:
    """Save the baseline if one was asked for and every gate passed; `outcome.note` says which."""
    path = outcome.request.save_path
    if path is None:
        return
    if outcome.exit_code:
        outcome.note = f"baseline not written to {path}: the gate failed"
        return
    save_baseline(path, outcome.current)
    outcome.note = f"baseline written to {path} ({len(outcome.current['records'])} records)"
