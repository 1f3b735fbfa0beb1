"""Commands about what is shipped and installed: presets, attacks and doctor."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from ..progress import new_console
from ..validate import LISTING_FORMATS, check_format
from .base import cli_command, terminal
from .options import DataDir, Workspace_


@cli_command("presets")
def presets_cmd(
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List the shipped presets (for `hotbench run NAME`): name, what it sweeps, and its file (copy
    it to start a preset of your own, then `hotbench run my.yaml`)."""
    from .. import api
    from ..sweep.preset_files import PRESET_DIR

    check_format(format, LISTING_FORMATS)
    entries = api.presets()
    if format == "json":
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("preset", style="bold", no_wrap=True)
    table.add_column("description")
    for e in entries:
        table.add_row(e["name"], e["description"])
    new_console(highlight=False).print(table)
    typer.echo(f"files: {PRESET_DIR}")


@cli_command("attacks")
def attacks_cmd(
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List every attack: its threat model (norm), what it follows (the attacked view's gradient, a
    surrogate's, or only scores), whether the paper uses it or the adaptive suite does (`attack
    --suite paper|adaptive`), and its cost per sample."""
    from .. import api

    check_format(format, LISTING_FORMATS)
    rows = api.attacks()
    if format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    # one KEY=DEFAULT per line, never cut: the defaults are what this listing exists to show;
    # the prose columns wrap between words to make room (80 columns cut them with "…")
    params = {r["name"]: [f"{k}={v}" for k, v in r["params"].items()] or ["-"] for r in rows}
    widest = max(len(p) for ps in params.values() for p in ps)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("name", "norm", "follows", "kind", "cost"):
        words = [w for r in rows for w in str(r[col]).split()] + [col]
        table.add_column(
            col,
            no_wrap=col in ("name", "norm"),
            style="bold" if col == "name" else "",
            min_width=max(map(len, words)),  # wraps between words, never inside one
        )
    table.add_column("--param default", no_wrap=True, min_width=widest)
    for r in rows:
        table.add_row(
            r["name"], r["norm"], r["follows"], r["kind"], r["cost"], "\n".join(params[r["name"]])
        )
    width, _ = terminal(None)
    new_console(highlight=False, width=width).print(table)


@cli_command()
def doctor(
    format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    workspace: Workspace_ = None,
    data_dir: DataDir = None,
) -> None:
    """Print versions, devices, threads, workspace and data paths, and what is missing (for bug
    reports). Exit code 1 when something a command needs is missing."""
    check_format(format, ("text", "json"))
    from .. import api
    from ..doctor import render_doctor  # torch: its versions and devices

    report = api.doctor(workspace, data_dir)
    sys.stdout.write(render_doctor(report, format))
    if not report.ok:
        raise typer.Exit(1)
