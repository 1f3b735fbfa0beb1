"""`hotbench report --format html`: one self-contained page (inline CSS, plots as base64 PNG).

Self-contained so that it can be attached to a CI run or mailed as one file and still render
offline: no scripts, fonts, stylesheets or images are fetched from anywhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from typing import Any

from ..stats import fmt_acc
from ..store import Workspace
from ..version import __version__
from .plots import eps_sweeps, min_norm_curves, plot_vs_eps, plot_vs_temperature
from .records import Filters, flat_records, robust_records
from .tables import (
    CAPTION,
    MIN_NORM,
    MODEL,
    Row,
    budget_titles,
    cells,
    model_cell,
    n_cell,
    pivot,
    robust_title,
    varying,
)
from .verdicts import BROKEN_BY, MASKING, ROBUSTNESS, VERDICT_COLUMNS, headline, slug

# Responsive without a script: every table scrolls inside its own box (`.scroll`) instead of pushing
# the page wider than the screen (at 1280 px the robust, broken-by and verdict columns fell off),
# its first column stays in view while it scrolls (sticky), and the viewport meta stops a phone
# from drawing the page at desktop width and zooming out to 27%. Measured in headless Chromium
# (tests/reports/test_browser.py): at 1280 px the ci-smoke results table was 1432 px wide in a
# 1200 px box, so broken-by and verdict needed scrolling. Now the page may take the laptop's whole
# width, headers wrap between words (never inside a number: data cells do not wrap), cells are
# padded less, and the "broken most by" cell wraps at its spaces ("fgsm = pgd = pgd@z"): the table
# fits its 1248 px box. Wider sweeps still scroll, inside the box.
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1600px; color: #1b1b1b; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
h3 { font-size: 1rem; overflow-wrap: anywhere; }
.meta, .note { color: #555; font-size: .9rem; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; margin-top: .5rem; }
table { border-collapse: separate; border-spacing: 0; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; white-space: nowrap; }
th { background: #f3f3f3; text-align: center; white-space: normal; }
td.wrap { white-space: normal; min-width: 5rem; }
th:first-child, td:first-child { position: sticky; left: 0; z-index: 1; background: #fff; }
th:first-child { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #fafafa; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: .8rem; font-weight: 600;
         font-size: .85rem; background: #eee; color: #333; }
.v-robustness-robust, .v-masking-not-detected { background: #dcf5e3; color: #0b5d1e; }
.v-robustness-incomplete, .v-masking-not-measured { background: #fff1c2; color: #6b4e00; }
.v-robustness-not-robust, .v-masking-detected { background: #fde2e1; color: #8a1c17; }
img { max-width: 100%; height: auto; border: 1px solid #eee; margin-top: .5rem;
      box-sizing: border-box; }
caption.hint { display: none; caption-side: top; text-align: left; color: #555; font-size: .85rem;
                padding-bottom: .3rem; }
caption.hint span { position: sticky; left: 0; }
.scroll { container-type: scroll-state; }
@container scroll-state(scrollable: x) { caption.hint { display: table-caption; } }
@supports not (container-type: scroll-state) {
  @media (max-width: 600px) { caption.hint { display: table-caption; } }
}
figure.zoom { margin: .5rem 0 0; }
figure.zoom figcaption { color: #555; font-size: .85rem; }
figure.zoom .close { display: none; }
figure.zoom:target { position: fixed; inset: 0; z-index: 10; margin: 0; padding: 0 .5rem .5rem;
                     overflow: auto; background: #fff; }
figure.zoom:target img { max-width: none; }
figure.zoom:target figcaption { display: none; }
figure.zoom:target .close { display: inline-block; position: sticky; top: 0; left: 0;
                            background: #fff; padding: .5rem .25rem; font-weight: 600; }
@media (max-width: 600px) {
  body { margin: 1rem auto; padding: 0 .5rem; }
  th, td { padding: .25rem .45rem; }
}
"""


def _figure(data: bytes, alt: str, fid: str, back: str) -> str:
    """A figure that opens full size on a tap, without a script (the page must work offline, as
    one file): the image links to its own figure's id, and the CSS rule `figure.zoom:target` then
    shows that figure over the whole window with the image at its own size, scrolling inside it.
    At 390 px a 2,608 px figure is drawn at 14% in the page: illegible until opened. The close link
    goes back to the figure's heading (`back`). The image data is in the file once."""
    src = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    return (
        f'<figure class="zoom" id="{fid}">'
        f'<a class="close" href="#{back}">✕ close</a>'
        f'<a href="#{fid}" title="open full size"><img alt="{html.escape(alt)}" src="{src}"></a>'
        "<figcaption>Tap or click the figure to open it full size.</figcaption></figure>"
    )


def badge(column: str, value: str, text: str | None = None) -> str:
    """One axis of a verdict as a coloured badge (class v-robustness-not-robust,
    v-masking-detected, ...: verdicts.slug)."""
    return (
        f'<span class="badge {html.escape(slug(column, value))}">'
        f"{html.escape(text or value)}</span>"
    )


def _table(
    head: list[str],
    rows: list[list[str]],
    numeric_from: int,
    badge_cols: dict[int, str] | None = None,
    wrap_col: int | None = None,
) -> str:
    """A table in its own scroll box; the cells of the columns in `badge_cols` (index -> verdict
    axis) as badges, those of `wrap_col` (the attacks that broke most, a list of names) free to
    wrap between names. A VERDICT cell holds both axes, "robustness\nmasking": two badges, one
    above the other (two columns pushed the table past a laptop's width)."""
    badge_cols = badge_cols or {}
    out = [
        f'<div class="scroll"><table>{HINT}',
        "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        cells = "".join(
            (
                f"<td>{_badge_cell(badge_cols[i], c)}</td>"
                if i in badge_cols and c != "-"  # a seeds' mean row has no verdict
                else f'<td class="wrap">{html.escape(c)}</td>'
                if i == wrap_col
                else f'<td class="num">{html.escape(c)}</td>'
                if i >= numeric_from
                else f"<td>{html.escape(c)}</td>"
            )
            for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


# Shown above a table exactly when its box scrolls (a CSS scroll-state container query; where a
# browser has none, on every table of a narrow screen): at 390 px nothing said that the results
# table scrolls sideways. It stays in view while the table scrolls (sticky).
HINT = '<caption class="hint"><span>Scroll the table sideways for more columns →</span></caption>'

VERDICT = "verdict"  # the results table's one column for both axes
DETAIL_NOTE = (
    "Minimum-norm attacks (no ε) search for the smallest perturbation that breaks each sample:"
    " accuracy after the attack, success = broken / clean-correct, L2 = mean L2 size of the"
    " successful perturbations. Target hit = clean-correct samples sent to the attack's target"
    " class / clean-correct."
)


def _badge_cell(column: str, cell: str) -> str:
    if column != VERDICT:
        return badge(column, cell)
    robustness, masking = cell.split("\n")
    return f"{badge(ROBUSTNESS, robustness)}<br>{badge(MASKING, masking, 'masking ' + masking)}"


def _results_table(rows: list[Row], columns: list[str]) -> str:
    """The results table, read left to right as a reviewer asks: which model (the sticky first
    column, so that every row still says so while the table scrolls sideways: act, train T @ eval
    T, and dataset, defense or seed where rows differ), its clean accuracy, its worst case, the
    verdict (both axes in one VERDICT column), then the attacks one by one."""
    robust = [c for c in columns if robust_title(c) is not None]
    notes = [c for c in (*VERDICT_COLUMNS, BROKEN_BY) if c in columns]
    ordered = robust + notes + [c for c in columns if c not in robust and c not in notes]
    merged = all(c in ordered for c in VERDICT_COLUMNS)
    shown = (
        [VERDICT if c == ROBUSTNESS else c for c in ordered if c != MASKING] if merged else ordered
    )
    vary = varying(rows)
    body = []
    for r in rows:
        full = {c: r.cell(c) for c in ordered}
        if merged:
            pair = (full[ROBUSTNESS], full[MASKING])
            full[VERDICT] = "-" if "-" in pair else "\n".join(pair)
        body.append([model_cell(r, vary), n_cell(r), cells(r, [])[-1]] + [full[c] for c in shown])
    fixed = 3
    return _table(
        [MODEL, "n", "clean", *shown],
        body,
        numeric_from=1,
        badge_cols={fixed + shown.index(c): c for c in (VERDICT, *VERDICT_COLUMNS) if c in shown},
        wrap_col=fixed + shown.index(BROKEN_BY) if BROKEN_BY in shown else None,
    )


def detail_columns(columns: list[str], records: list[dict[str, Any]]) -> list[str]:
    """The columns of the detail table, in `columns`' order: the minimum-norm attacks' (accuracy,
    success rate, mean L2 size: no eps, so no part of a worst case at a budget) and the targeted
    attacks' target-hit rates (the attack's accuracy stays with the others at its budget)."""
    titles = budget_titles(records)
    hits = {f"{r['label']} target hit" for r in records if r.get("targeted_success") is not None}
    return [c for c in columns if titles.get(c) == MIN_NORM or c in hits]


def _detail_table(rows: list[Row], detail: list[str]) -> str:
    """The detail columns, moved out of the results table (at 1280 px they pushed the quick
    preset's table to 2,005 px), one row per model that has any, which the sticky first column
    names as the results table does."""
    vary = varying(rows)
    body = [
        [model_cell(r, vary), n_cell(r), cells(r, [])[-1], *(r.cell(c) for c in detail)]
        for r in rows
        if any(r.cell(c) != "-" for c in detail)
    ]
    return _table([MODEL, "n", "clean", *detail], body, numeric_from=1)


def render_html(
    ws: Workspace,
    filters: Filters | None = None,
    verdicts: dict[tuple[str, float], dict[str, Any]] | None = None,
    notes: list[str] | None = None,
) -> str:
    rows, columns = pivot(ws, filters, verdicts)
    records = flat_records(ws, filters)
    detail = detail_columns(columns, records)
    robust = robust_records(ws, filters)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>hotbench report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>hotbench: clean vs adversarial accuracy</h1>",
        (
            f'<p class="meta">hotbench {html.escape(__version__)} · workspace'
            f" {html.escape(str(ws.root))} · {len(records)} attack results · generated"
            f" {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
        ),
        "<h2>Results</h2>",
        _results_table(rows, [c for c in columns if c not in detail]),
        f'<p class="note">Cells after "clean" are {html.escape(CAPTION)}.</p>',
    ]
    if detail:
        parts += [
            "<h2>Minimum-norm and targeted attacks</h2>",
            _detail_table(rows, detail),
            f'<p class="note">{html.escape(DETAIL_NOTE)}</p>',
        ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes or []]
    if verdicts:
        parts.append("<h2>Verdicts and evidence</h2>")
        for d in verdicts.values():
            parts.append(
                f"<h3>{html.escape(d['run_id'])} at eval T={d['eval_temp']:g}:"
                f" {badge(ROBUSTNESS, d['robustness'])}"
                f" {badge(MASKING, d['masking'], 'masking ' + d['masking'])}</h3>"
            )
            items = d["evidence"] + [f"masking: {e}" for e in d.get("masking_evidence", [])]
            parts.append(
                f'<ul aria-label="{html.escape(headline(d))}">'
                + "".join(f"<li>{html.escape(e)}</li>" for e in items)
                + "</ul>"
            )
    if robust:
        parts += [
            "<h2>Worst case per model (robust accuracy)</h2>",
            _table(
                [
                    "dataset",
                    "defense",
                    "act",
                    "train T",
                    "eval T",
                    "threat model",
                    "ε",
                    "robust acc",
                    "n",
                ],
                [
                    [
                        r["dataset"],
                        r.get("defense", "none"),
                        r["act"],
                        f"{r['train_temp']:g}",
                        f"{r['eval_temp']:g}",
                        str(r.get("threat_model") or "-"),
                        "-" if r.get("eps") is None else f"{r['eps']:g}",
                        fmt_acc(r["robust_acc"], (r.get("ci_low"), r.get("ci_high"))),
                        str(r.get("n_samples", "-")),
                    ]
                    for r in robust
                ],
                numeric_from=3,
            ),
        ]
    if records:
        parts += [
            '<h2 id="plot-temperature">Accuracy against training temperature</h2>',
            _figure(
                plot_vs_temperature(
                    records, fmt="png", robust=robust, curves=min_norm_curves(ws, records, filters)
                ),
                "accuracy vs training temperature",
                "plot-temperature-full",
                "plot-temperature",
            ),
        ]
        if eps_sweeps(records):
            parts += [
                '<h2 id="plot-eps">Accuracy against ε</h2>',
                _figure(
                    plot_vs_eps(records, fmt="png", robust=robust),
                    "accuracy vs epsilon",
                    "plot-eps-full",
                    "plot-eps",
                ),
            ]
    parts.append(_details(records))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _details(records: list[dict[str, Any]]) -> str:
    """Per-result provenance: the config hashes that a regression gate matches on, seeds, sizes,
    timings."""
    if not records:
        return ""
    head = [
        "run_id",
        "attack_id",
        "attack",
        "eval T",
        "seed (train/attack)",
        "n",
        "clean-correct",
        "time (s)",
    ]
    rows = [
        [
            r["run_id"],
            r["attack_id"],
            r["label"],
            f"{r['eval_temp']:g}",
            f"{r['train_seed']}/{r.get('attack_seed', '-')}",
            str(r["n_samples"]),
            str(r["n_clean_correct"]),
            f"{r['time_s']:.2f}",
        ]
        for r in records
    ]
    return "<h2>Results in detail</h2>\n" + _table(head, rows, numeric_from=3)
