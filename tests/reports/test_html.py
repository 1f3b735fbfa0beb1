"""The HTML report's markup (issue 26): minimum-norm and targeted detail columns in a table of
their own, figures that open full size on a tap without a script. tests/reports/test_browser.py
measures the same page in Chromium; this file checks what the page says."""

from __future__ import annotations

import re

import pytest

from hotbench.config import AttackConfig
from hotbench.reports.records import flat_records
from tests.conftest import report_text
from tests.reports.conftest import populate

# a minimum-norm attack (no eps: accuracy, success rate, mean L2) and a targeted one (target hit)
DETAIL = [
    AttackConfig(method="cw", steps=2, n_samples=50, params={"lr": 0.1}),
    AttackConfig(method="pgd", steps=2, n_samples=50, targeted="random"),
]


def _table_after(page: str, heading: str) -> str:
    return page.split(f">{heading}</h2>")[1].split("</table>")[0]


def _head(table: str) -> list[str]:
    return re.findall(r"<th>([^<]*)</th>", table)


@pytest.fixture
def detail_page(results_ws) -> str:
    populate(results_ws, DETAIL, eval_temps=(None,))
    return report_text(results_ws, "html")


def test_min_norm_and_targeted_columns_have_their_own_table(results_ws, detail_page):
    """The results table keeps identity, clean, worst case, verdict and the budgeted attacks; the
    minimum-norm attacks (no eps: not part of a worst case at a budget) and the targeted attacks'
    target-hit rates move to a table below it, where every row still says which model."""
    labels = {r["label"] for r in flat_records(results_ws)}
    cw = next(x for x in labels if x.startswith("cw"))
    targeted = next(x for x in labels if "[random]" in x)
    main = _head(_table_after(detail_page, "Results"))
    assert main[:3] == ["model", "n", "clean"] and "verdict" in main, main
    assert targeted in main and "fgsm ε=0.3" in main  # an accuracy at a budget stays
    for gone in (cw, f"{cw} success", f"{cw} L2", f"{targeted} target hit"):
        assert gone not in main, main
    detail = _table_after(detail_page, "Minimum-norm and targeted attacks")
    head = _head(detail)
    assert head[:3] == ["model", "n", "clean"], head
    assert {cw, f"{cw} success", f"{cw} L2", f"{targeted} target hit"} <= set(head), head
    assert "verdict" not in head and "fgsm ε=0.3" not in head
    firsts = re.findall(r"<tr><td>([^<]*)</td>", detail)
    assert firsts and all(re.search(r"(tanh|none) T\d+@\d+", f) for f in firsts), firsts
    # the minimum-norm accuracy comes with its interval, as every accuracy does
    rec = next(r for r in flat_records(results_ws) if r["label"] == cw)
    assert re.search(rf"{rec['adv_acc']:.3f} \[(0|1|\.\d\d),(0|1|\.\d\d)\]", detail)


def test_no_detail_table_without_detail_columns(results_ws):
    """The cheap workspace has only FGSM and PGD: no empty second table."""
    page = report_text(results_ws, "html")
    assert "Minimum-norm and targeted attacks" not in page


def test_each_figure_opens_full_size_on_a_tap(detail_page):
    """At 390 px a 2,608 px figure is drawn at 14%: illegible. A tap on it opens it at its own
    size without a script: the image links to its figure's id, and CSS `:target` shows that figure
    over the page, where it scrolls; a link closes it. The image data is in the file once."""
    page = detail_page
    assert "<script" not in page
    figures = re.findall(r'<figure class="zoom" id="([^"]+)">(.*?)</figure>', page, re.S)
    images = re.findall(r"<img [^>]*>", page)
    assert figures and len(figures) == len(images)
    for fid, inner in figures:
        assert re.search(rf'<a href="#{fid}"[^>]*><img [^>]*src="data:image/png;base64,', inner)
        assert re.search(r'<a class="close" href="#[^"]+"', inner)
        assert "full size" in inner  # the caption says that it opens
        assert inner.count("data:image/png;base64,") == 1
    css = page.split("<style>")[1].split("</style>")[0]
    assert ".zoom:target" in css and "position: fixed" in css
