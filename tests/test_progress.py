"""Progress: piped, one line per finished unit as it happens; in a terminal, one overall bar plus
the running units (finished ones disappear); quiet prints nothing."""

from __future__ import annotations

import io

from hotbench.progress import MILESTONES, Reporter


class Recording(io.StringIO):
    """Remembers what had been written at every flush: lines must arrive as units finish."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def test_piped_prints_one_flushed_line_per_finished_unit():
    out = Recording()
    rep = Reporter(live=False, file=out)
    with rep.session():
        bar = rep.overall("sweep", 2)
        unit = rep.task("train digits-tanh", 3)
        for _ in range(3):
            unit.advance()
        assert out.getvalue().startswith("[1/2] train digits-tanh: done in ")
        assert out.getvalue().endswith("s\n")
        assert out.flushed and out.flushed[-1] == out.getvalue()  # flushed when it happened
        unit.done()  # a second finish is not a second line
        bar.advance()
        attack = rep.task("pgd ε=0.3 on digits-tanh @T=1", 100)
        attack.advance(40)
        assert out.getvalue().count("\n") == 1  # nothing until it finishes
        attack.done()
        bar.advance()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("[2/2] pgd ε=0.3 on digits-tanh @T=1: done in ")
    assert "\x1b[" not in out.getvalue()  # no terminal codes in a log


def test_terminal_keeps_the_overall_bar_and_only_running_units():
    out = io.StringIO()
    rep = Reporter(live=True, file=out)
    with rep.session():
        progress = rep._progress
        bar = rep.overall("sweep", 3)
        for i in range(3):
            unit = rep.task(f"unit {i}", 2)
            assert [t.description for t in progress.tasks] == ["sweep", f"unit {i}"]
            unit.advance(2)  # reaching its total finishes it
            bar.advance()
        assert [t.description for t in progress.tasks] == ["sweep"]


def test_quiet_prints_nothing():
    out = io.StringIO()
    rep = Reporter(quiet=True, file=out)
    with rep.session():
        rep.overall("sweep", 1)
        rep.task("unit", 1).advance()
        rep.log("a message")
    assert out.getvalue() == ""


def _sweep(rep: Reporter, units: int) -> None:
    with rep.session():
        bar = rep.overall("sweep", units)
        for i in range(units):
            unit = rep.task(f"unit {i}", 1)
            unit.advance()
            bar.advance()
        rep.detail("trained unit 0: test acc 0.980")  # said again by the report after a sweep


def test_piped_sweep_prints_a_line_per_tenth_unless_verbose():
    """Issue 26: piped, `make demo`'s 70 units printed 70 lines (and a 'trained' line per model)
    before its report. A sweep now prints the first and last unit and one per tenth of the units;
    --verbose prints every unit and every detail."""
    out = io.StringIO()
    _sweep(Reporter(live=False, file=out), 70)
    lines = out.getvalue().splitlines()
    assert len(lines) <= MILESTONES + 1, lines
    assert lines[0].startswith("[1/70] unit 0: done in ") and lines[-1].startswith("[70/70] ")
    counters = [int(line[1:].split("/")[0]) for line in lines]
    assert counters == sorted(set(counters))
    assert "trained" not in out.getvalue()
    out = io.StringIO()
    _sweep(Reporter(live=False, file=out, verbose=True), 70)
    lines = out.getvalue().splitlines()
    assert len(lines) == 71 and lines[-1].startswith("trained unit 0")


def test_a_detail_outside_a_sweep_is_printed():
    """`hotbench train` says the model's test accuracy: outside a sweep a detail is a log line."""
    out = io.StringIO()
    rep = Reporter(live=False, file=out)
    with rep.session():
        rep.detail("trained digits-tanh: test acc 0.980")
    assert out.getvalue() == "trained digits-tanh: test acc 0.980\n"
