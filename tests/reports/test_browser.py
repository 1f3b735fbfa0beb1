"""The HTML report in a real headless Chromium (Debian's `chromium`, driven by playwright): at a
laptop's 1280 px and a phone's 390 px nothing sticks out of the page sideways (a table may be wider
than the screen only inside its own scroll box), and every verdict badge and evidence line can be
seen. The quick preset's page (`make demo`) is measured too: every verdict on a laptop's first
screen, a line on a phone that says a table scrolls, figures that open full size on a tap.
test_formats.py and test_html.py check the markup; only a browser can say whether it fits.

Skips, with the reason, where playwright or Chromium is missing; `.ci/run` installs both and sets
HOTBENCH_REQUIRE_BROWSER, so CI never skips it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotbench.cli import app
from tests.reports.browser import (
    LAPTOP,
    PHONE,
    WIDTHS,
    browser,
    hidden,
    overflows,
    page_at,
    screenshot,
    unavailable,
)

MISSING = unavailable()
# CI (.ci/run) sets HOTBENCH_REQUIRE_BROWSER: there a missing browser fails the tests, never skips
REQUIRED = bool(os.environ.get("HOTBENCH_REQUIRE_BROWSER"))
pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=str(MISSING))


@pytest.fixture(scope="module")
def chromium():
    """One browser for the module (it starts in about a second)."""
    assert MISSING is None, f"HOTBENCH_REQUIRE_BROWSER is set but {MISSING}"
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def report_html(results_root, tmp_path_factory) -> Path:
    """`hotbench report --format html` of the tiny digits workspace (tanh T=50 and none T=1,
    FGSM and PGD at their training T and at T=1), through the command line; rendered once for the
    module (the workspace is this module's own, and the tests only read the page)."""
    out = tmp_path_factory.mktemp("html") / "report.html"
    r = CliRunner().invoke(
        app, ["report", "-w", str(results_root), "--format", "html", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def quick_html(quick_root, tmp_path_factory) -> Path:
    """The quick preset's report (`make demo`, issue 26: what a new user opens first: eight models,
    nine attacks, two figures); its workspace is built once per test session (quick_root)."""
    out = tmp_path_factory.mktemp("html") / "quick.html"
    r = CliRunner().invoke(app, ["report", "-w", str(quick_root), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(params=["small", "quick"])
def any_html(request) -> Path:
    """Each page the checks below hold for: the tiny workspace's and the quick preset's."""
    return request.getfixturevalue({"small": "report_html", "quick": "quick_html"}[request.param])


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_overflows_the_page(chromium, any_html, width):
    report_html = any_html
    with page_at(chromium, report_html, width) as page:
        assert page.evaluate("document.documentElement.clientWidth") == width
        assert overflows(page) == []
        # the results table is wider than a phone: it scrolls in its box, not the page
        if width == PHONE:
            box = page.evaluate(
                "(() => { const s = document.querySelector('.scroll');"
                " return [s.clientWidth, s.scrollWidth]; })()"
            )
            assert box[1] > box[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_verdict_badges_and_evidence_are_visible(chromium, any_html, width):
    report_html = any_html
    page_text = report_html.read_text()
    verdicts = re.findall(r'<span class="badge v-[a-z-]+">([a-z ]+)</span>', page_text)
    with page_at(chromium, report_html, width) as page:
        # one badge per results row and one above each verdict's evidence, all in colour
        badges = page.locator(".badge")
        assert badges.count() == len(verdicts) >= 4
        colours = page.evaluate(
            "Array.from(document.querySelectorAll('.badge'), b => getComputedStyle(b)"
            ".backgroundColor)"
        )
        assert all(c not in ("rgba(0, 0, 0, 0)", "rgb(238, 238, 238)") for c in colours), colours
        assert hidden(page, ".badge") == []
        evidence = page.locator("h2:has-text('Verdicts and evidence') ~ ul li")
        assert evidence.count() >= 4
        assert hidden(page, "h2 ~ h3") == []
        assert hidden(page, "h2 ~ ul li") == []


def test_laptop_sees_the_verdict_column_without_scrolling(chromium, report_html):
    """The issue's complaint: at 1280 px the robust, broken-by and verdict columns were off the
    page. In the small workspace's results table they are in view as the page opens, unscrolled
    (with the CSS of 725b8e4 the table was 1268 px in a 1200 px box)."""
    with page_at(chromium, report_html, LAPTOP) as page:
        box, heads = page.evaluate(
            """() => {
              const s = document.querySelector('.scroll');
              return [[s.clientWidth, s.scrollWidth],
                      Array.from(s.querySelectorAll('th'),
                                 t => [t.textContent, t.getBoundingClientRect().right])];
            }"""
        )
    assert box[1] <= box[0]  # nothing to scroll to
    right = dict(heads)
    assert {"broken most by", "verdict"} <= right.keys()  # both axes, one above the other
    assert all(r <= LAPTOP for r in right.values()), heads


# Per scroll box: its width, its content's width, and whether the line that says the table
# scrolls (its caption) is shown, inside the box's visible part.
_BOXES_JS = """
() => Array.from(document.querySelectorAll('.scroll'), s => {
  const h = s.querySelector('caption.hint'), box = s.getBoundingClientRect();
  const r = h === null ? null : h.querySelector('span').getBoundingClientRect();
  const shown = h !== null && getComputedStyle(h).display !== 'none' && r.height > 0
    && r.left >= box.left && r.right <= box.right && /scroll/i.test(h.textContent);
  return [s.clientWidth, s.scrollWidth, shown];
})
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_quick_report_says_where_a_table_scrolls(chromium, quick_html, width):
    """Issue 26: at 390 px nothing said that the results table scrolls. A table whose box scrolls
    says so above it, at any width; one that fits says nothing."""
    with page_at(chromium, quick_html, width) as page:
        assert overflows(page) == []
        boxes = page.evaluate(_BOXES_JS)
    assert len(boxes) >= 3, boxes
    if width == PHONE:
        assert boxes[0][1] > boxes[0][0]  # the results table is wider than a phone
    assert all(shown == (scroll > client) for client, scroll, shown in boxes), boxes


# The results table's headers and verdict badges where the page opens, unscrolled:
# [th or badge, text, left, top, right, bottom, on top at its centre]
_FIRST_SCREEN_JS = """
() => {
  const t = document.querySelector('.scroll table');
  return Array.from(t.querySelectorAll('thead th, .badge'), e => {
    const r = e.getBoundingClientRect();
    const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    return [e.tagName === 'TH' ? 'th' : 'badge', e.textContent.trim(),
            r.left, r.top, r.right, r.bottom, top !== null && (top === e || e.contains(top))];
  });
}
"""


def test_quick_report_shows_every_verdict_on_the_first_screen(chromium, quick_html):
    """Issue 26: on the quick preset at 1280 px the results table was 2,005 px wide and the
    verdicts were off the first screen. Measured as the page opens, unscrolled, in a 1280 x 800
    window: the model, clean, worst-case and verdict headers and every row's two verdict badges
    lie inside it and are not covered."""
    with page_at(chromium, quick_html, LAPTOP, height=800) as page:
        found = page.evaluate(_FIRST_SCREEN_JS)
    results = quick_html.read_text().split("<h2>Results</h2>")[1].split("</tbody>")[0]
    badges = [f for f in found if f[0] == "badge"]
    assert len(badges) == 2 * results.count("<tr>") - 2, found  # both axes per row, not the head
    heads = [f for f in found if f[0] == "th"]
    first = [f for f in heads if f[1] in ("model", "clean", "verdict") or f[1].startswith("robust")]
    assert len(first) >= 4, heads
    for _, text, left, top, right, bottom, on_top in first + badges:
        assert 0 <= left and right <= LAPTOP and 0 <= top and bottom <= 800, (text, right, bottom)
        assert on_top, text


# The figure `id` as it shows after a tap: the page's fragment, the figure's position and box,
# the image's drawn and own width, the figure's scroll size, the page's width.
_FIGURE_JS = """
(id) => {
  const f = document.getElementById(id), img = f.querySelector('img');
  const r = f.getBoundingClientRect();
  return {hash: location.hash, position: getComputedStyle(f).position,
          box: [r.left, r.top, r.width, r.height].map(Math.round),
          img: [img.clientWidth, img.naturalWidth],
          scroll: [f.scrollWidth, f.clientWidth],
          page: document.documentElement.scrollWidth};
}
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_quick_report_figures_open_full_size_on_a_tap(chromium, quick_html, width):
    """Issue 26: at 390 px the figure was drawn at 14% of its size, illegible. A tap opens it over
    the whole window at its own size (one image pixel per CSS pixel), scrolling inside; the page
    behind stays as wide as the screen; the close link puts it back in the page."""
    height = 800
    with page_at(chromium, quick_html, width, height) as page:
        ids = page.evaluate("Array.from(document.querySelectorAll('figure.zoom'), f => f.id)")
        assert len(ids) == 2, ids  # accuracy against T, and against eps
        for fid in ids:
            shut = page.evaluate(_FIGURE_JS, fid)
            assert shut["position"] != "fixed" and shut["img"][0] < shut["img"][1]
            page.locator(f"#{fid} img").click()
            opened = page.evaluate(_FIGURE_JS, fid)
            assert opened["hash"] == f"#{fid}" and opened["position"] == "fixed", opened
            assert opened["box"] == [0, 0, width, height], opened
            assert opened["img"][0] == opened["img"][1], opened  # full size
            assert opened["scroll"][0] > opened["scroll"][1], opened  # it scrolls, not the page
            assert opened["page"] <= width, opened
            page.locator(f"#{fid} a.close").click()
            assert page.evaluate(_FIGURE_JS, fid)["position"] != "fixed"


def test_the_check_fails_on_a_page_that_overflows(chromium, tmp_path):
    """The overflow check can fail: a table outside a scroll box and a long word both push the
    page wider than a phone, while the same table inside `.scroll` does not count."""
    bad = tmp_path / "bad.html"
    wide = "<table><tr>" + "<td>0.000&nbsp;±0.037</td>" * 20 + "</tr></table>"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width,'
        ' initial-scale=1"></head><body>'
        f'<div class="scroll" style="overflow-x: auto">{wide}</div>{wide}'
        f"<p>{'x' * 200}</p></body></html>"
    )
    with page_at(chromium, bad, PHONE) as page:
        found = overflows(page)
    assert any(f.startswith("table ") for f in found), found
    assert any(f.startswith("p ") for f in found), found
    assert any(f.startswith("document scrollWidth") for f in found), found
    assert sum(f.startswith("table ") for f in found) == 1  # the scrolled one is allowed


def test_screenshot_is_a_small_png(chromium, report_html, tmp_path):
    """The README's picture comes from the same page and code (tests/reports/shoot.py)."""
    out = tmp_path / "shot.png"
    with page_at(chromium, report_html, LAPTOP) as page:
        size = screenshot(page, out)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert 0 < size < 300 * 1024
