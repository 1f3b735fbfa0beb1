"""Progress: piped, one line per finished unit as it happens; in a terminal, one overall bar plus
the running units (finished ones disappear); quiet prints nothing."""

from __future__ import annotations

import io

from hotbench.progress import Reporter


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
