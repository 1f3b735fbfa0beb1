"""A real headless browser for the HTML report: Debian's Chromium driven by playwright's Python API.

Shared by tests/reports/test_browser.py (overflow and visibility at laptop and phone widths) and
tests/reports/shoot.py (the README's screenshot), so that the picture in the README is the page the
test measured. playwright's own browser downloads are never used: `executable_path` points at the
system's Chromium (`.ci/run` installs Debian's `chromium`; HOTBENCH_CHROMIUM names another binary).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LAPTOP = 1280
PHONE = 390
WIDTHS = (LAPTOP, PHONE)


def chromium_path() -> str | None:
    """The Chromium binary to drive: HOTBENCH_CHROMIUM if set, else the first of the names Debian
    and Ubuntu install it under that is on PATH; None if there is none."""
    if env := os.environ.get("HOTBENCH_CHROMIUM"):
        return env if Path(env).is_file() else None
    return next((p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None)


def unavailable() -> str | None:
    """Why the browser check cannot run here (a skip reason), or None if it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]' installs it)"
    if chromium_path() is None:
        return (
            "no Chromium found (apt-get install chromium, or set HOTBENCH_CHROMIUM to a binary);"
            " .ci/run installs it"
        )
    return None


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (a playwright Browser) for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def page_at(b: Any, html_file: Path, width: int, height: int = 800) -> Iterator[Any]:
    """The page `html_file` opened in a fresh tab whose viewport is `width` CSS px wide."""
    page = b.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(html_file.resolve().as_uri())
        yield page
    finally:
        page.close()


# Every element's border box must lie within the viewport, except what is inside a table's own
# scroll box (.scroll), which may be wider than the screen because the box scrolls it; the box
# itself must fit. Content that overflows its own box without widening it (a long word in a
# paragraph) is caught by the box's scrollWidth, and anything else by the document's.
_OVERFLOWS_JS = """
() => {
  const vw = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.parentElement && el.parentElement.closest('.scroll');
    if (box) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const name = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
    const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50);
    if (r.left < -0.5 || r.right > vw + 0.5) {
      bad.push(`${name} "${text}" spans x ${Math.round(r.left)}..${Math.round(r.right)}`);
    } else if (!el.classList.contains('scroll') && el.clientWidth > 0
               && el.scrollWidth > el.clientWidth + 1
               && getComputedStyle(el).overflowX === 'visible') {
      bad.push(`${name} "${text}" content is ${el.scrollWidth} px wide in ${el.clientWidth}`);
    }
  }
  const sw = document.documentElement.scrollWidth;
  if (sw > vw) bad.push(`document scrollWidth ${sw} > viewport ${vw}`);
  return bad;
}
"""


def overflows(page: Any) -> list[str]:
    """Each element that sticks out of the viewport horizontally, described in one line."""
    return page.evaluate(_OVERFLOWS_JS)


# A badge is visible when, scrolled into view (the table's box scrolls it sideways), it lies inside
# the viewport, has a size, is not hidden, and is the element on top at its centre (not covered by
# the sticky first column).
_HIDDEN_JS = """
(selector) => {
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  const hidden = [];
  for (const el of document.querySelectorAll(selector)) {
    el.scrollIntoView({block: 'center', inline: 'center'});
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
    const top = document.elementFromPoint(x, y);
    const ok = r.width > 0 && r.height > 0 && r.left >= -0.5 && r.right <= vw + 0.5
      && r.top >= 0 && r.bottom <= vh && s.visibility === 'visible' && s.opacity !== '0'
      && top !== null && (top === el || el.contains(top));
    if (!ok) hidden.push(`${selector} "${el.textContent.trim().slice(0, 50)}"`);
  }
  window.scrollTo(0, 0);
  for (const box of document.querySelectorAll('.scroll')) box.scrollLeft = 0;
  return hidden;
}
"""


def hidden(page: Any, selector: str) -> list[str]:
    """The elements matching `selector` that a reader cannot see even after scrolling to them."""
    return page.evaluate(_HIDDEN_JS, selector)


def screenshot(page: Any, out: Path) -> int:
    """A full-page PNG of `page`, reduced to a 256-colour palette (a report is flat colours and
    text: a quarter of the bytes, no visible loss) so that it can be committed. Returns its size."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    img.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
        out, optimize=True
    )
    return out.stat().st_size
