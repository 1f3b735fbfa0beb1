"""`hotbench report --format latex`: a booktabs table for a paper, every accuracy with its 95%
interval and n, every label escaped, to stdout or to a file with -o (issue 15)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.reports.file_tables import latex_escape
from hotbench.reports.records import flat_records
from tests.conftest import report_text

runner = CliRunner()
CELL = re.compile(r"(\d\.\d{3}) \{\\scriptsize \[(0|1|\.\d\d),(0|1|\.\d\d)\] \$n\$=(\d+)\}")


def _table(tex: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the tabular (no cell holds ` & `: labels are escaped)."""
    head = tex.split("\\toprule\n")[1].split("\n")[0]
    body = tex.split("\\midrule\n")[1].split("\n\\bottomrule")[0].splitlines()
    split = [line.removesuffix(r" \\").split(" & ") for line in [head, *body]]
    return split[0], split[1:]


def test_latex_is_booktabs_with_every_accuracy_its_interval_and_n(results_ws):
    tex = report_text(results_ws, "latex")
    for part in ("\\begin{tabular}", "\\toprule", "\\midrule", "\\bottomrule", "\\caption{"):
        assert tex.count(part) == 1, part
    assert "\\hline" not in tex and "ε" not in tex and "±" not in tex  # booktabs, escaped
    head, body = _table(tex)
    spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", tex).group(1)
    assert len(spec) == len(head) and all(len(row) == len(head) for row in body)
    records = flat_records(results_ws)
    assert len(body) == len({(r["run_id"], r["eval_temp"]) for r in records})
    for r in records:
        [row] = [
            x
            for x in body
            if (x[0], x[2], float(x[3]), float(x[4]))
            == (r["dataset"], r["act"], r["train_temp"], r["eval_temp"])
        ]
        label = latex_escape(r["label"])
        for cell, key in ((row[head.index("clean")], "clean"), (row[head.index(label)], "adv")):
            value, lo, hi, n = CELL.fullmatch(cell).groups()
            assert float(value) == pytest.approx(r[f"{key}_acc"], abs=5e-4)
            # the bounds every format shows: 2 decimals, rounded outward
            assert r[f"{key}_ci_low"] - 0.01 < float(lo) <= r[f"{key}_ci_low"] + 1e-9
            assert r[f"{key}_ci_high"] - 1e-9 <= float(hi) < r[f"{key}_ci_high"] + 0.01
            assert int(n) == r["n_samples"]


def test_latex_escapes_what_would_break_the_build():
    assert latex_escape("pgd@z ε=0.3") == r"pgd@z $\varepsilon$=0.3"
    assert latex_escape("a_b & 50% #1 {x} $y ~^\\") == (
        r"a\_b \& 50\% \#1 \{x\} \$y \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )


def test_cli_writes_latex_to_stdout_and_to_a_file(results_ws, tmp_path):
    w = str(results_ws.root)
    out = runner.invoke(app, ["report", "-w", w, "--format", "latex"])
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("% hotbench report --format latex")
    path = tmp_path / "table.tex"
    r = runner.invoke(app, ["report", "-w", w, "-f", "latex", "-o", str(path)])
    assert r.exit_code == 0, r.output
    assert path.read_text() == out.stdout and "\\toprule" not in r.stdout


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex on this machine")
def test_latex_compiles(results_ws, tmp_path):
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        + report_text(results_ws, "latex")
        + "\\end{document}\n"
    )
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
