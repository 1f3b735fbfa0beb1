"""Expected against got: a preset that declares the verdict its models must get (`expect` in a
train section: the zoo, the controls) is checked after `run` and `report --preset`. The confusion
table lists every entry with both axes, then counts expected against got per axis; a mismatch is a
failed check (exit 1), as a regression gate's is."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.table import Table

from ..evaluate.diagnose import MASKING as MASKING_VALUES
from ..evaluate.diagnose import ROBUSTNESS as ROBUSTNESS_VALUES
from ..progress import plain_text
from .verdicts import MASKING, ROBUSTNESS, VERDICT_COLUMNS


@dataclass
class Outcome:
    """One expected verdict (an entry's model at one eval T) and the verdict it got."""

    name: str
    run_id: str
    eval_temp: float | None  # None: the model has no verdict (never attacked)
    expected: tuple[str, str]  # (robustness, masking)
    got: tuple[str, str] | None

    @property
    def match(self) -> bool:
        return self.got == self.expected


def outcomes(
    expectations: list[tuple[str, str, Any]],
    verdicts: dict[tuple[str, float], dict[str, Any]],
) -> list[Outcome]:
    """Every (entry, model, eval T) the preset expects a verdict for, with the one it got; a model
    with no verdict at all is a mismatch (got None)."""
    out = []
    for name, run_id, expect in expectations:
        want = (expect.robustness, expect.masking)
        docs = sorted(
            ((t, d) for (r, t), d in verdicts.items() if r == run_id), key=lambda td: -td[0]
        )
        if not docs:
            out.append(Outcome(name, run_id, None, want, None))
        for t, d in docs:
            out.append(Outcome(name, run_id, t, want, (d["robustness"], d["masking"])))
    return out


def _pair(p: tuple[str, str] | None) -> str:
    """robustness / masking"""
    return "no verdict (not attacked)" if p is None else f"{p[0]} / {p[1]}"


def summary(results: list[Outcome]) -> str:
    bad = [o for o in results if not o.match]
    if not bad:
        return f"expected verdicts: all {len(results)} as expected"
    names = ", ".join(sorted({o.name for o in bad}))
    return f"expected verdicts: {len(bad)} of {len(results)} differ ({names})"


def render(results: list[Outcome], width: int = 100) -> str:
    """The confusion table: per entry, expected and got on both axes; then, per axis, how many
    verdicts of each expected value got each value."""
    table = Table(
        title="expected against got (robustness / masking)",
        box=box.SIMPLE_HEAD,
        caption=summary(results),
    )
    for h in ("entry", "eval T", "expected", "got", "match"):
        table.add_column(h, justify="right" if h == "eval T" else "left", no_wrap=True)
    for o in results:
        t = "-" if o.eval_temp is None else f"{o.eval_temp:g}"
        table.add_row(o.name, t, _pair(o.expected), _pair(o.got), "yes" if o.match else "NO")
    parts = [plain_text(table, width)]
    for axis, values in ((ROBUSTNESS, ROBUSTNESS_VALUES), (MASKING, MASKING_VALUES)):
        m = Table(title=f"{axis}: expected (rows) against got (columns)", box=box.SIMPLE_HEAD)
        m.add_column("expected", justify="left")
        for g in values:
            m.add_column(g, justify="right")
        counts = _counts(results, axis)
        for e in values:
            m.add_row(e, *(str(counts[(e, g)]) for g in values))
        parts.append(plain_text(m, width))
    return "".join(parts)


def _counts(results: list[Outcome], axis: str) -> Counter:
    i = VERDICT_COLUMNS.index(axis)
    return Counter((o.expected[i], o.got[i] if o.got else "none") for o in results)
