"""`make demo` (`hotbench run quick`, piped) fits a screen, and the evidence under the verdicts is
the lines that decided them unless --verbose (issue 26: the demo printed about 290 lines, 70 of
them progress, and every verdict's every measurement)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.evaluate.diagnose import report_verdicts
from hotbench.progress import MILESTONES
from hotbench.store import Workspace

DEMO_LINES = 60  # "at most about 60 lines", stdout and stderr together


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "100", "NO_COLOR": "1"})


def flat(text: str) -> str:
    return " ".join(text.split())


def test_run_prints_a_short_report_that_ends_with_the_summary(quick_root: Path):
    r = invoke("run", "quick", "-w", str(quick_root), "--device", "cpu")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines() + r.stderr.splitlines()
    # a fresh run prints at most MILESTONES + 1 progress lines besides what a stored one prints
    assert len(lines) + MILESTONES + 1 <= DEMO_LINES, r.stdout + r.stderr
    assert not re.search(r"^Linf ε=", r.stdout, re.M)  # no budget panel: `report` has them
    assert f"hotbench report --preset quick -w {quick_root} --verbose" in flat(r.stdout)
    summary = r.stdout.split("\nSummary at Linf ε=0.3")[1].splitlines()
    rows = [line for line in summary if re.match(r"(none|tanh) T\d+@\d+ ", line)]
    assert len(rows) == 8 and summary[-1] == rows[-1]  # it ends with them, one line per model
    interval = r"\d\.\d{3} \[[.\d]+,[.\d]+\]"
    verdict = r"(not robust|robust|incomplete) +(not detected|detected|not measured)$"
    for row in rows:  # clean and the worst case, with their intervals, then both axes
        assert len(re.findall(interval, row)) == 2 and re.search(verdict, row.rstrip()), row


def test_run_verbose_prints_the_full_report(quick_root: Path):
    r = invoke("run", "quick", "-w", str(quick_root), "--device", "cpu", "--verbose")
    assert r.exit_code == 0, r.output
    assert re.search(r"^Linf ε=0.3", r.stdout, re.M) and "checks measured:" in flat(r.stdout)
    assert "\nSummary at Linf ε=0.3" in r.stdout


def test_report_shows_the_evidence_that_decided_and_verbose_all(quick_root: Path):
    short = invoke("report", "-w", str(quick_root))
    full = invoke("report", "-w", str(quick_root), "--verbose")
    assert short.exit_code == full.exit_code == 0, short.output + full.output
    s, f = flat(short.stdout), flat(full.stdout)
    for supporting in ("checks measured:", "most breaks:", "saturated outputs:"):
        assert supporting in f and supporting not in s, supporting
    for decisive in (
        "is below 0.3",
        "no significant gap",
        "gradient-free attacks measured at this budget",
        "they overestimate robustness by",
    ):
        assert decisive in s and decisive in f, decisive
    assert f.count("verdict of ") == 8  # a verdict each; decided by the same lines: named once
    ws = Workspace(quick_root)
    for run_id, t in report_verdicts(ws, ws.records()):
        assert f"{run_id} at eval T={t:g}" in s
    assert "add --verbose" in s and "add --verbose" not in f
    assert len(short.stdout.splitlines()) < len(full.stdout.splitlines())


def test_the_decided_lines_are_evidence_lines(quick_root: Path):
    """What the terminal shows without --verbose is a part of each axis' evidence, never empty."""
    ws = Workspace(quick_root)
    for d in report_verdicts(ws, ws.records()).values():
        decided = d["decided"]
        assert decided["robustness"] and set(decided["robustness"]) <= set(d["evidence"])
        assert decided["masking"] and set(decided["masking"]) <= set(d["masking_evidence"])
