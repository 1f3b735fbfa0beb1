"""Report formats: the JSON schema holds, markdown and CSV give back the JSON numbers, HTML is one
self-contained page, plots are real PNG/SVG files."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from hotbench.config import AttackConfig
from hotbench.errors import HotbenchError
from hotbench.reports.plots import plot_vs_eps, plot_vs_temperature
from hotbench.reports.records import SCHEMA_FILE, SCHEMA_VERSION, flat_records, results_document
from tests.conftest import report_text
from tests.reports.conftest import populate

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# cheap attacks: enough to give every (model, eval T) row a few columns in a second or two
def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_json_document_validates_against_the_shipped_schema(results_ws):
    doc = json.loads(report_text(results_ws, "json"))
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)
    assert doc["schema_version"] == SCHEMA_VERSION
    # one record per (model, attack config): 2 models x 2 attacks x eval T in {train T, 1}, minus
    # the none T=1 model whose eval T = 1 is its training T (same config hash, stored once)
    stored = sum(
        len(list((results_ws.run_dir(r.run_id) / "attacks").glob("*.json")))
        for r in results_ws.records()
    )
    assert len(doc["records"]) == stored == 6
    assert len({(r["run_id"], r["attack_id"]) for r in doc["records"]}) == stored
    r = doc["records"][0]
    assert r["attack_seed"] == 0 and r["train_seed"] == 0 and r["n_samples"] == 50
    assert r["time_s"] >= 0 and r["train_time_s"] > 0 and r["versions"]["torch"]


def test_schema_rejects_a_broken_document(results_ws):
    doc = results_document(results_ws)
    schema = json.loads(SCHEMA_FILE.read_text())
    del doc["records"][0]["attack_id"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    doc = results_document(results_ws)
    doc["records"][0]["adv_acc"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def _markdown_rows(md: str) -> list[dict[str, str]]:
    lines = [line for line in md.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    head, align, body = split[0], split[1], split[2:]
    assert all(re.fullmatch(r":?-{3,}:?", a) for a in align)
    return [dict(zip(head, row, strict=True)) for row in body]


def test_markdown_round_trips_the_json_numbers(results_ws):
    records = flat_records(results_ws)
    md = report_text(results_ws, "markdown")
    rows = _markdown_rows(md)
    assert len(rows) == len({(r["run_id"], r["eval_temp"]) for r in records})
    seen = 0
    for r in records:
        [row] = [
            x
            for x in rows
            if (x["dataset"], x["act"], float(x["train T"]), float(x["eval T"]))
            == (r["dataset"], r["act"], r["train_temp"], r["eval_temp"])
        ]
        for cell, key in ((row["clean"], "clean"), (row[r["label"]], "adv")):
            # `0.856 [.82,.89]`: the number and its 95% interval (issues 13, 30)
            value, lo, hi = re.fullmatch(
                r"(\d\.\d{3}) \[(0|1|\.\d\d),(0|1|\.\d\d)\]", cell
            ).groups()
            assert float(value) == pytest.approx(r[f"{key}_acc"], abs=5e-4)
            assert float(lo) <= r[f"{key}_ci_low"] + 1e-9 <= float(lo) + 0.01 + 1e-9
            assert float(hi) - 0.01 - 1e-9 <= r[f"{key}_ci_high"] <= float(hi) + 1e-9
        assert int(row["n"]) == r["n_samples"]
        seen += 1
    assert seen == len(records)
    assert (
        "adversarial accuracy = correct after attack / all samples" in md
    )  # the caption travels with it


def test_markdown_aligns_text_left_and_numbers_right(results_ws):
    """Issue 26: the text columns after the attacks (broken most by, robustness, masking) were
    right-aligned like numbers. Read from the separator row: a column whose cells are numbers
    (`0.980 [.92,1]`, `100`; `-` where none) is right-aligned, every other one left-aligned."""
    md = report_text(results_ws, "markdown").splitlines()
    start = next(i for i, line in enumerate(md) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), md[start:]))
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in table]
    head, align, body = split[0], split[1], split[2:]
    assert {"dataset", "clean", "broken most by", "robustness", "masking"} <= set(head), head
    for i, name in enumerate(head):
        values = [row[i] for row in body if row[i] != "-"]
        if not values:
            continue
        numeric = all(re.match(r"\d", v) for v in values)
        assert align[i] == ("---:" if numeric else ":---"), (name, align[i], values[:3])


def test_csv_round_trips_the_json_numbers_exactly(results_ws):
    records = flat_records(results_ws)
    rows = list(csv.DictReader(io.StringIO(report_text(results_ws, "csv"))))
    for r in records:
        [row] = [
            x
            for x in rows
            if x["run_id"] == r["run_id"] and float(x["eval_temp"]) == r["eval_temp"]
        ]
        assert float(row["clean_acc"]) == r["clean_acc"]
        assert float(row[r["label"]]) == r["adv_acc"]
        assert int(row["n_samples"]) == r["n_samples"]


def test_html_is_one_self_contained_page_with_table_and_plot(results_ws, tmp_path):
    out = tmp_path / "report.html"
    r = invoke("report", "-w", str(results_ws.root), "--format", "html", "--output", str(out))
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(
        r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I
    )  # nothing fetched
    assert "<link" not in page and "<script" not in page and "<style>" in page
    assert "<table>" in page and "fgsm ε=0.3" in page and "pgd ε=0.3" in page
    assert 'src="data:image/png;base64,' in page
    for rec in flat_records(results_ws):
        assert f"{rec['adv_acc']:.3f}" in page and rec["attack_id"] in page


def test_html_reads_on_a_laptop_and_a_phone(results_ws):
    """No table can push the page wider than the screen: each scrolls in its own box with its first
    column sticky; the viewport meta (a phone drew the page at desktop width, 27% zoom); verdicts
    as coloured badges in the table and above their evidence. This checks the markup;
    tests/reports/test_browser.py measures the page in headless Chromium."""
    page = report_text(results_ws, "html")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    tables = page.count("<table>")
    assert tables >= 2 and page.count('<div class="scroll"><table>') == tables
    assert page.count("</table></div>") == tables
    css = page.split("<style>")[1].split("</style>")[0]
    assert ".scroll { overflow-x: auto;" in css and "position: sticky; left: 0" in css
    assert "@media (max-width: 600px)" in css
    verdicts = re.findall(
        r'<span class="badge v-(robustness|masking)-([a-z-]+)">([a-z ]+)</span>', page
    )
    # the class names the axis and its value; above the evidence the masking badge says "masking"
    assert verdicts and all(
        slug == "-".join(text.removeprefix("masking ").split()) for _, slug, text in verdicts
    )
    body_rows = page.split("<h2>Results</h2>")[1].split("</table>")[0].count("<tr>") - 1
    # both axes in each row, and both above each verdict's evidence
    assert len(verdicts) >= 4 * body_rows


def test_html_sticky_column_is_the_model_then_clean_robust_verdict(results_ws):
    """Issue 26: the sticky first column was `dataset` (every row said "digits"), so after
    scrolling sideways no row said which model it was; robust and the verdict were off the first
    screen. Now: model (act, train T @ eval T), n, clean, the worst cases, the verdict."""
    page = report_text(results_ws, "html")
    table = page.split("<h2>Results</h2>")[1].split("</table>")[0]
    head = re.findall(r"<th>([^<]*)</th>", table)
    assert head[:3] == ["model", "n", "clean"], head
    robust = [h for h in head if h.startswith("robust ")]
    after = head[3 : 3 + len(robust) + 1]
    assert robust and after == [*robust, "verdict"], head
    firsts = re.findall(r"<tr><td>([^<]*)</td>", table)
    assert firsts and len(set(firsts)) == len(firsts), firsts  # each row says which model
    assert all(re.search(r"(tanh|none) T\d+@\d+", f) for f in firsts), firsts


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_temperature_plot_is_a_valid_image(results_ws, tmp_path, suffix):
    out = tmp_path / f"acc-vs-T{suffix}"
    r = invoke("report", "-w", str(results_ws.root), "--format", "csv", "--plot", str(out))
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    if suffix == ".png":
        import matplotlib.image

        assert data.startswith(PNG_MAGIC)
        img = matplotlib.image.imread(out)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    else:
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        text = data.decode()
        # titles, axis labels and the legend are in the file (matplotlib writes text as paths +
        # comments)
        for needle in (
            "training temperature T (log scale)",
            "accuracy",
            "deployed output's gradient (paper)",  # a legend group, one entry per attack
            "fgsm",
            "eval T = 1",
            "robust (worst case)",
        ):
            assert needle in text


def test_eps_plot_needs_a_sweep_and_draws_one(results_ws, tmp_path):
    records = flat_records(results_ws)
    with pytest.raises(HotbenchError, match="more than one eps"):
        plot_vs_eps(records, tmp_path / "e.png")
    r = invoke("report", "-w", str(results_ws.root), "--plot-eps", str(tmp_path / "e.png"))
    assert r.exit_code == 2 and "more than one eps" in r.stderr
    populate(
        results_ws,
        [AttackConfig(method="pgd", steps=3, n_samples=50, eps=e) for e in (0.1, 0.2)],
        eval_temps=(None,),
    )
    data = plot_vs_eps(flat_records(results_ws), tmp_path / "e.png")
    assert data.startswith(PNG_MAGIC) and (tmp_path / "e.png").read_bytes() == data


def test_plot_rejects_unknown_extension_before_writing_anything(results_ws, tmp_path):
    out = tmp_path / "report.json"
    r = invoke(
        "report",
        "-w",
        str(results_ws.root),
        "-f",
        "json",
        "-o",
        str(out),
        "--plot",
        str(tmp_path / "p.jpg"),
    )
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "'.jpg'" in r.stderr
    assert ".png, .svg or .pdf" in r.stderr
    assert not out.exists() and not (tmp_path / "p.jpg").exists()


def test_plot_with_no_attack_results_is_a_user_error(trained_ws, tmp_path):
    with pytest.raises(HotbenchError, match="no attack results"):
        plot_vs_temperature(flat_records(trained_ws), tmp_path / "p.png")


# ---- -o FILE takes its format from the extension (issue 26: `-o r.json` wrote the text table) --
@pytest.mark.parametrize(
    "name, check",
    [
        ("r.json", lambda t: json.loads(t)["schema_version"] == SCHEMA_VERSION),
        ("r.csv", lambda t: "run_id" in next(csv.reader(io.StringIO(t)))),
        ("r.md", lambda t: t.lstrip().startswith(("#", "|"))),
        ("r.HTML", lambda t: t.lstrip().lower().startswith("<!doctype html")),
        ("r.tex", lambda t: "\\begin{" in t),
        ("r.txt", lambda t: "robust" in t and not t.lstrip().startswith(("{", "<", "|"))),
        ("report", lambda t: "robust" in t and not t.lstrip().startswith(("{", "<", "|"))),
    ],
)
def test_the_output_extension_sets_the_format(results_ws, tmp_path, name, check):
    out = tmp_path / name
    r = invoke("report", "-w", str(results_ws.root), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert check(out.read_text()), out.read_text()[:200]


@pytest.mark.parametrize("fmt, name", [("table", "r.json"), ("json", "r.csv"), ("html", "r.md")])
def test_a_format_that_contradicts_the_extension_is_one_line(results_ws, tmp_path, fmt, name):
    out, fig = tmp_path / name, tmp_path / "fig.png"
    r = invoke("report", "-w", str(results_ws.root), "-f", fmt, "-o", str(out), "--plot", str(fig))
    assert r.exit_code == 2, r.output
    assert f"--format {fmt} contradicts" in r.stderr and r.stderr.strip().count("\n") == 0
    assert not out.exists() and not fig.exists()  # nothing written before the check


def test_an_agreeing_format_and_extension_pass(results_ws, tmp_path):
    out = tmp_path / "r.json"
    r = invoke("report", "-w", str(results_ws.root), "-f", "json", "-o", str(out))
    assert r.exit_code == 0 and json.loads(out.read_text())


# ---- --plot - and two outputs to one path (issue 30) ---------------------------------------------
def test_plot_dash_writes_the_figure_to_stdout(results_ws, tmp_path):
    out = tmp_path / "r.json"
    r = runner.invoke(app, ["report", "-w", str(results_ws.root), "-o", str(out), "--plot", "-"])
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes.startswith(PNG_MAGIC) and json.loads(out.read_text())


def test_plot_dash_beside_the_report_on_stdout_says_how_to_get_it(results_ws):
    """README says `-` is stdout; `report --plot -` was refused with only "give --plot a file of
    its own", not the way to what was asked: the report to a file, the figure to stdout."""
    r = runner.invoke(app, ["report", "-w", str(results_ws.root), "--plot", "-"])
    assert r.exit_code == 2 and "or pass -o FILE for the report" in r.stderr, r.stderr


@pytest.mark.parametrize(
    "extra, words",
    [
        (["-o", "{d}/same.png", "--plot", "{d}/same.png"], "--output and --plot would both write"),
        (["--plot", "{d}/f.png", "--plot-eps", "{d}/f.png"], "--plot and --plot-eps would both"),
        (["--plot", "-"], "--output (the report, as no -o FILE is given) and --plot would both"),
        (["-o", "-", "--plot-defenses", "-"], "--plot-defenses would both write stdout"),
    ],
)
def test_two_outputs_to_one_path_are_refused_before_writing(results_ws, tmp_path, extra, words):
    outs = tmp_path / "outs"
    outs.mkdir()
    args = [a.format(d=outs) for a in extra]
    r = runner.invoke(app, ["report", "-w", str(results_ws.root), *args])
    assert r.exit_code == 2, r.output
    assert words in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert list(outs.iterdir()) == [] and r.stdout == ""


def test_a_figure_that_cannot_be_drawn_leaves_no_other_written(results_ws, tmp_path):
    """Issue 26: `--plot x.png --plot-eps e.png` exited 2 (no eps sweep) after writing x.png."""
    x, e = tmp_path / "x.png", tmp_path / "e.png"
    r = invoke("report", "-w", str(results_ws.root), "--plot", str(x), "--plot-eps", str(e))
    assert r.exit_code == 2 and "more than one eps" in r.stderr, r.output
    assert not x.exists() and not e.exists()
