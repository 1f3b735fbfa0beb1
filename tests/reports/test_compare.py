"""`hotbench compare A.json B.json`: a diff of two results documents for people, outside the gate.

A is the report fixtures' real results document; B is A changed the ways that matter (an accuracy
moved far beyond its interval, a record dropped, a record added), so every row kind is checked
against scipy and hotbench.stats directly."""

from __future__ import annotations

import copy
import csv
import io
import json

import pytest
from scipy.stats import fisher_exact
from typer.testing import CliRunner

from hotbench import stats
from hotbench.cli import app
from hotbench.errors import HotbenchError
from hotbench.reports.compare import BOTH, ONLY_A, ONLY_B, compare_documents, compare_files
from hotbench.reports.records import results_document

runner = CliRunner()


@pytest.fixture
def docs(results_ws):
    """(A, B, the moved record's key, the dropped key, the added key)."""
    a = results_document(results_ws)
    b = copy.deepcopy(a)
    moved = b["records"][0]
    n = moved["n_samples"]
    k = n - moved["n_adv_correct"] if moved["adv_acc"] < 0.5 else 0  # far from where it was
    moved.update(n_adv_correct=k, adv_acc=k / n)
    lo, hi = stats.interval(k, n)
    moved.update(adv_ci_low=lo, adv_ci_high=hi)
    dropped = b["records"].pop(1)
    added = {**b["records"][1], "attack_id": "pgd-added", "label": "pgd[random] ε=0.3"}
    b["records"].append(added)
    key = lambda r: f"{r['run_id']}/{r['attack_id']}"  # noqa: E731
    return a, b, key(moved), key(dropped), key(added)


def _write(tmp_path, a, b):
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    return pa, pb


def test_rows_match_records_and_worst_cases_with_intervals_and_exact_test(docs):
    a, b, moved, dropped, added = docs
    rows = {r.key: r for r in compare_documents(a, b)}
    n_worst = len(a["robust"])
    assert len(rows) == len(a["records"]) + n_worst + 1  # A's, plus the one only B has
    assert rows[dropped].found == ONLY_A and rows[dropped].b is None
    assert rows[added].found == ONLY_B and rows[added].a is None
    assert sum(r.kind == "worst case" and r.found == BOTH for r in rows.values()) == n_worst

    m = rows[moved]
    ra = next(r for r in a["records"] if f"{r['run_id']}/{r['attack_id']}" == moved)
    rb = next(r for r in b["records"] if f"{r['run_id']}/{r['attack_id']}" == moved)
    assert m.found == BOTH and m.metric == "adv_acc"
    assert m.a.n == m.b.n == ra["n_samples"] and (m.a.ci_low, m.a.ci_high) == (
        ra["adv_ci_low"],
        ra["adv_ci_high"],
    )
    assert m.diff == pytest.approx(rb["adv_acc"] - ra["adv_acc"])
    table = [
        [ra["n_adv_correct"], ra["n_samples"] - ra["n_adv_correct"]],
        [rb["n_adv_correct"], rb["n_samples"] - rb["n_adv_correct"]],
    ]
    assert m.p_value == pytest.approx(fisher_exact(table).pvalue) and m.p_value < 1e-6
    assert m.disjoint is True and m.same_samples is True

    unchanged = [r for r in rows.values() if r.found == BOTH and r.key != moved]
    assert unchanged and all(r.diff == 0 and r.p_value == 1 and not r.disjoint for r in unchanged)


def test_identical_documents_differ_nowhere(results_ws):
    doc = results_document(results_ws)
    rows = compare_documents(doc, doc)
    assert all(r.found == BOTH and r.diff == 0 and r.disjoint is False for r in rows)


def test_cli_formats_write_only_the_comparison_to_stdout(docs, tmp_path):
    a, b, moved, dropped, added = docs
    pa, pb = _write(tmp_path, a, b)

    r = runner.invoke(app, ["compare", str(pa), str(pb), "--format", "json"])
    assert r.exit_code == 0 and r.stderr == ""
    doc = json.loads(r.stdout)  # nothing else mixed in
    assert doc["only_a"] == [dropped] and doc["only_b"] == [added]
    row = next(x for x in doc["rows"] if x["key"] == moved)
    assert row["intervals_disjoint"] is True and row["p_value"] < 1e-6 and row["a_n"] == row["b_n"]
    assert {"a_acc", "a_ci_low", "a_ci_high", "b_acc", "b_ci_low", "b_ci_high", "diff"} <= set(row)

    r = runner.invoke(app, ["compare", str(pa), str(pb), "-f", "csv"])
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == len(doc["rows"]) and {x["found"] for x in rows} == {BOTH, ONLY_A, ONLY_B}

    r = runner.invoke(app, ["compare", str(pa), str(pb), "-f", "markdown"])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[2].startswith("| result | metric | A | B | B - A | p | flag |")
    assert sum(line.startswith("| ") for line in lines) == len(doc["rows"]) + 1
    assert "pgd\\[random\\]" not in r.stdout and "pgd[random] ε=0.3" in r.stdout

    r = runner.invoke(app, ["compare", str(pa), str(pb)], env={"COLUMNS": "160"})
    assert r.exit_code == 0
    assert "CIs apart" in r.stdout and "A only" in r.stdout and "B only" in r.stdout
    assert "1 only in A, 1 only in B" in r.stdout
    assert "pgd[random]" in r.stdout  # brackets are not eaten as markup
    r = runner.invoke(app, ["compare", str(pa), str(pb)], env={"COLUMNS": "80"})
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines) and "CIs apart" in r.stdout
    assert any("[" in line and "n=" not in line for line in lines)  # n under the interval


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not readable JSON"),
        ('{"schema_version": 1, "records": []}', "has schema_version 1"),
        ('{"records": []}', "no schema_version"),
    ],
)
def test_bad_inputs_are_one_line_and_exit_2(docs, tmp_path, content, message):
    good, _ = _write(tmp_path, docs[0], docs[1])
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    with pytest.raises(HotbenchError, match=message):
        compare_files(good, bad)
    r = runner.invoke(app, ["compare", str(good), str(bad)])
    assert r.exit_code == 2 and message in r.stderr and "results file" in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.output
    r = runner.invoke(app, ["compare", str(good), str(good), "-f", "yaml"])
    assert r.exit_code == 2 and "unknown format 'yaml'" in r.stderr


def test_markdown_and_csv_keep_hostile_labels_and_names_in_their_cell(docs, tmp_path):
    """A label or file name with `|`, a line break or backticks broke the Markdown table (a CI job
    summary) out of its row; CSV keeps them as data."""
    a, b, *_ = docs
    label = "pgd|x\nline two `code` \\ end"
    for doc in (a, b):
        doc["records"][2]["label"] = label
    folder = tmp_path / "we`ird"
    folder.mkdir()
    pa, pb = _write(folder, a, b)
    r = runner.invoke(app, ["compare", str(pa), str(pb), "-f", "markdown"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    head = lines[0]
    assert head.startswith("A = ``") and f"``{pa}``" in head and f"``{pb}``" in head
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + len(compare_documents(a, b))  # no row broken in two
    row = next(line for line in table if "line two" in line)
    assert "pgd\\|x line two `code` \\\\ end" in row
    cells = [c for c in row.replace("\\|", "").split("|")]
    assert len(cells) == 9  # 7 cells and the two edges
    r = runner.invoke(app, ["compare", str(pa), str(pb), "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert any(label in x["what"] for x in rows)  # the label whole, line break and all
