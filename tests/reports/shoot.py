"""The README's screenshot of the HTML report, taken in the same headless Chromium, with the same
overflow check, as tests/reports/test_browser.py:

    hotbench run ci-smoke -w /tmp/hotbench-ci-smoke --quiet
    python -m tests.reports.shoot /tmp/hotbench-ci-smoke docs/report-html.png

Refuses (exit 1) to write a picture of a page that overflows the viewport.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.reports.browser import LAPTOP, browser, overflows, page_at, screenshot, unavailable


def render_html(workspace: Path, out: Path) -> None:
    """`hotbench report --format html` of `workspace` into `out`, by the command a user runs."""
    subprocess.run(
        [sys.executable, "-m", "hotbench", "report", "-w", str(workspace), "-f", "html", "-o", out],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.reports.shoot", description=__doc__)
    ap.add_argument("workspace", type=Path, help="a hotbench workspace with results")
    ap.add_argument("out", type=Path, help="the PNG to write")
    ap.add_argument("--width", type=int, default=LAPTOP, help="viewport width in CSS px")
    args = ap.parse_args(argv)
    if reason := unavailable():
        print(f"shoot: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "report.html"
        render_html(args.workspace, page_file)
        with browser() as b, page_at(b, page_file, args.width) as page:
            if bad := overflows(page):
                print("shoot: the page overflows:\n  " + "\n  ".join(bad), file=sys.stderr)
                return 1
            size = screenshot(page, args.out)
    print(f"{args.out}: {size / 1024:.0f} KiB at {args.width} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
