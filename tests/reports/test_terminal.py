"""The terminal report fits the terminal: at 80 and 120 columns no line is longer than the width,
every number appears whole (no cell split across lines or cut with an ellipsis), and every panel
keeps the robust and verdict columns (robustness and masking); `wide` is the single natural-width
table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.reports.layout import Layout
from hotbench.reports.records import flat_records
from hotbench.reports.tables import MIN_NORM, Row
from hotbench.reports.terminal import rich_table, terminal_report
from hotbench.reports.verdicts import BROKEN_BY, MASKING, ROBUSTNESS
from hotbench.stats import fmt_acc

LINF = [f"{m} ε={e:g}" for e in (0.1, 0.3) for m in ("fgsm", "pgd", "mim", "pgd@z", "apgd-dlr@z")]
L2 = ["pgdl2 ε=0.5"]
MINNORM = ["cw", "cw success", "cw L2", "deepfool", "deepfool success", "deepfool L2"]
ROBUST = ["robust ε=0.1", "robust ε=0.3", "robust L2 ε=0.5"]
COLUMNS = LINF + L2 + MINNORM + ROBUST + [BROKEN_BY, ROBUSTNESS, MASKING]
TITLES = {c: f"Linf {c.split(' ')[-1]}" for c in LINF} | {"pgdl2 ε=0.5": "L2 ε=0.5"}
TITLES |= {c: MIN_NORM for c in MINNORM}
VERDICTS = [
    ("not robust", "detected"),
    ("not robust", "not measured"),
    ("robust", "not detected"),
    ("incomplete", "detected"),
]


def rows() -> list[Row]:
    out = []
    for i, (act, t, te) in enumerate(
        [("tanh", 100, 1), ("sigmoid", 50, 50), ("none", 1, 1), ("tanh", 10, 1)]
    ):
        adv = {c: round(0.9 - 0.037 * i - 0.011 * j, 3) for j, c in enumerate(LINF + L2 + ROBUST)}
        adv |= {"cw": 0.0, "deepfool": 0.012}
        notes = {"cw success": "1.000", "cw L2": "1.234", "deepfool success": "0.988"}
        notes |= {"deepfool L2": "0.876", BROKEN_BY: "apgd-dlr@z"}
        notes |= {ROBUSTNESS: VERDICTS[i][0], MASKING: VERDICTS[i][1]}
        clean = 0.975 - i / 100
        ci = {c: (max(v - 0.031, 0.0), min(v + 0.029, 1.0)) for c, v in adv.items()}
        out.append(
            Row(
                f"digits-{act}-T{t}-x",
                "digits",
                act,
                t,
                te,
                clean,
                397,
                adv,
                notes,
                ci=ci,
                clean_ci=(clean - 0.02, clean + 0.015),
            )
        )
    return out


EVIDENCE = [
    "verdict of digits-tanh-T100-x at eval T=1: not robust, masking detected",
    "  - zero gradients: 0.97 of inputs have an exactly-zero output gradient (median norm 0); on"
    " the logits 0.00 (median norm 0.38)",
]


def tokens(text: str) -> list[str]:
    return re.findall(r"\S+", text)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_every_line_fits_and_every_number_is_whole(width):
    text = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(width))
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width  # cells on screen, not code points
    assert "…" not in text  # rich's ellipsis: a cut cell
    found = tokens(text)
    for r in rows():
        for c in LINF + L2 + ROBUST + ["cw", "deepfool"]:
            assert fmt_acc(r.adv[c]) in found, (c, fmt_acc(r.adv[c]))
        for c in ("cw L2", "deepfool success"):
            assert r.notes[c] in found
        assert fmt_acc(r.clean_acc) in found
    # a verdict is whole in every panel: on one line, or wrapped between its words
    panels = len([line for line in lines if line.startswith(("Linf", "L2"))])
    flat = " ".join(text.split())
    assert flat.count("not robust") >= 2 * panels and flat.count("not measured") >= panels


@pytest.mark.parametrize("width", [80, 120])
def test_every_budget_panel_has_robust_and_verdict(width):
    text = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(width))
    panels = re.split(r"\n(?=(?:Linf|L2|minimum-norm)\b)", text)
    titles = [p.splitlines()[0] for p in panels[1:]]
    assert any(t.startswith("Linf ε=0.1") for t in titles)
    assert any(t.startswith("Linf ε=0.3") for t in titles)
    assert any(t.startswith("L2 ε=0.5") for t in titles)
    assert any(t.startswith("minimum-norm") for t in titles)
    for panel in panels[1:]:
        if panel.startswith("minimum-norm"):
            continue
        lines = panel.splitlines()
        header = lines[next(i for i, x in enumerate(lines) if x.startswith("─")) - 1]
        assert "robust" in header
        # a column per verdict axis, or both in one ("verdict") where the terminal is narrow
        assert ("robustness" in header and "masking" in header) or "verdict" in header
        flat = " ".join(panel.split())  # a verdict may wrap between its words
        assert sum(v in flat for v in ("incomplete", "not robust", "not measured")) == 3


def test_wider_terminal_needs_fewer_panels():
    narrow = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(80))
    wide = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(120))
    panels = re.compile(r"^(?:Linf|L2|minimum-norm)", re.M)
    assert len(panels.findall(narrow)) > len(panels.findall(wide))


def test_evidence_is_wrapped_to_the_width():
    text = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(80))
    assert "  - zero gradients: 0.97 of inputs" in text
    assert "(median norm 0.38)" in text.replace("\n    ", " ")


def test_verdicts_are_coloured_in_a_terminal_only():
    plain = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(120))
    coloured = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(120, color=True))
    assert "\x1b[" not in plain
    assert "\x1b[1;33mincomplete" in coloured  # yellow
    assert "\x1b[1;31mnot robust" in coloured  # red
    assert "\x1b[1;32mrobust" in coloured  # green
    assert "\x1b[1;31mdetected" in coloured  # masking: red
    assert "\x1b[32mnot detected" in coloured  # green
    assert "\x1b[33mnot measured" in coloured  # yellow


def test_wide_is_one_table_at_its_natural_width():
    text = rich_table(rows(), COLUMNS, EVIDENCE)
    header = next(line for line in text.splitlines() if "fgsm ε=0.1" in line)
    assert all(c in header for c in ("apgd-dlr@z ε=0.3", "robust L2 ε=0.5", ROBUSTNESS, MASKING))


CAPTURE = Path(__file__).parents[2] / "docs" / "terminal-100.txt"


def assert_fits_whole(text: str, width: int, numbers: list[str]) -> None:
    """Every line is at most `width` terminal cells, nothing is cut with an ellipsis, and each of
    `numbers` (an accuracy with its interval, `0.910 [.83,.95]`) appears whole on one line."""
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    assert "…" not in text
    for num in numbers:
        assert any(num in line for line in lines), num


def test_the_command_at_100_columns_fits_with_every_number_whole(results_ws):
    """`COLUMNS=100 hotbench report` on a real workspace (the README's capture is this at 100):
    the accuracy of every stored result, with its interval, is on one line."""
    r = CliRunner().invoke(app, ["report", "-w", str(results_ws.root)], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    records = flat_records(results_ws)
    numbers = [fmt_acc(x["adv_acc"], (x["adv_ci_low"], x["adv_ci_high"])) for x in records]
    numbers += [fmt_acc(x["clean_acc"], (x["clean_ci_low"], x["clean_ci_high"])) for x in records]
    assert_fits_whole(r.stdout, 100, numbers)
    assert "robustness" in r.stdout and "95% Wilson interval" in r.stdout  # not capitalize()'d


def test_committed_capture_fits_100_columns():
    """docs/terminal-100.txt, shown in the README, is what its command prints today: 100 columns
    wide, every accuracy with its interval as the report writes it (`0.980 [.92,1]`; the capture
    still showed the old `±` form), whole on its row's line, and ending with the summary."""
    text = CAPTURE.read_text(encoding="utf-8")
    assert "±" not in text
    acc = r"\d\.\d{3} \[[.\d]+,[.\d]+\]"
    body, summary = text.split("\nSummary at ")
    rows = [
        line
        for line in body.splitlines()
        if line.rstrip().endswith(("not measured", "not detected", " detected"))
        and not line.startswith(("verdict of", " "))
    ]
    assert rows and len(rows) % 3 == 0  # ci-smoke: 3 (model, eval T) rows in each panel
    for row in rows:  # clean, an attack, robust: each whole on its row's line
        assert len(re.findall(acc, row)) >= 3, row
    last = summary.splitlines()[-3:]  # the summary's rows: clean and the worst case
    assert all(len(re.findall(acc, line)) == 2 for line in last), last
    assert_fits_whole(text, 100, re.findall(acc, text))
    assert max(cell_len(line) for line in text.splitlines()) == 100  # rendered at 100, not less


def test_the_model_cell_names_what_tells_rows_apart():
    from hotbench.reports.tables import model_cell, varying

    def row(act, t, te, defense, seed=0, dataset="digits"):
        return Row("r", dataset, act, t, te, 0.9, 100, {}, defense=defense, seed=seed)

    plain = [row("none", 1, 1, "none"), row("tanh", 50, 1, "temperature")]
    assert [model_cell(r, varying(plain)) for r in plain] == ["none T1@1", "tanh T50@1"]
    defended = plain + [row("none", 1, 1, "pgd-at"), row("tanh", 50, 1, "temperature+trades")]
    cells = [model_cell(r, varying(defended)) for r in defended]
    assert cells == ["none T1@1", "tanh T50@1", "none T1@1 pgd-at", "tanh T50@1 trades"]
    seeds = [row("tanh", 50, 1, "temperature", s, d) for s in (0, 1) for d in ("digits", "mnist")]
    cells = [model_cell(r, varying(seeds)) for r in seeds]
    assert cells == [
        "digits tanh T50@1 s0",
        "mnist tanh T50@1 s0",
        "digits tanh T50@1 s1",
        "mnist tanh T50@1 s1",
    ]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_report_ends_with_one_line_per_model(width):
    """Issue 26: the report ended in evidence bullets, with no summary line per model; then in
    summary lines that wrapped at 80 and 100 columns (the worst case at every budget, the large-eps
    probe's too). Now it ends with a summary table, one row per model and eval T, each on one
    line: the model, clean, the worst case at its verdict's budget with its interval, and the
    verdict on both axes."""
    budget_rows = rows()
    for r in budget_rows:
        r.budget = "robust ε=0.3"  # the verdict's budget, not the first panel's (ε=0.1)
    text = terminal_report(budget_rows, COLUMNS, EVIDENCE, TITLES, Layout(width))
    assert all(cell_len(line) <= width for line in text.splitlines())
    tail = text.split("Summary at Linf ε=0.3")[1]
    lines = tail.splitlines()
    header = lines[next(i for i, x in enumerate(lines) if x.startswith("─")) - 1]
    assert header.split()[:4] == ["model", "clean", "worst", "case"], header
    body = lines[next(i for i, x in enumerate(lines) if x.startswith("─")) + 1 :]
    assert len(body) == len(budget_rows), body  # one line per model and eval T, nothing after
    for r, (robustness, masking), line in zip(budget_rows, VERDICTS, body, strict=True):
        assert line.startswith(f"{r.act} T{r.train_temp:g}@{r.eval_temp:g} "), line
        assert fmt_acc(r.clean_acc, r.clean_ci) in line
        assert fmt_acc(r.adv["robust ε=0.3"], r.ci["robust ε=0.3"]) in line
        assert fmt_acc(r.adv["robust ε=0.1"], r.ci["robust ε=0.1"]) not in line
        assert line.rstrip().endswith(masking) and robustness in line, line


def test_brief_leaves_out_the_panels_and_says_how_to_see_them():
    """`run`'s short report: no budget panel, the evidence, the line that says how to see the
    rest, then the summary."""
    more = "This is the short report: hotbench report --preset quick --verbose"
    text = terminal_report(rows(), COLUMNS, EVIDENCE, TITLES, Layout(100, brief=True, more=more))
    assert "Linf ε=0.1" not in text.split("Summary")[0]  # no panel before the summary
    assert EVIDENCE[0] in text and more in text
    assert text.index(more) < text.index("Summary at")
