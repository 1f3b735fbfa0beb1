"""Commands about what is shipped and installed: presets, attacks and doctor."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from ..attacks.spec import ATTACKS
from ..errors import HotbenchError
from ..progress import new_console
from .base import cli_command
from .options import DataDir, Workspace_


@cli_command("presets")
def presets_cmd(
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List the shipped presets (for `hotbench run NAME`): name, what it sweeps, and its file (copy
    it to start a preset of your own, then `hotbench run my.yaml`)."""
    from ..sweep.presets import PRESET_DIR
    from ..sweep.presets import listing as preset_listing

    if format not in ("table", "json"):
        raise HotbenchError(f"unknown format '{format}'", "pass --format table or --format json")
    entries = preset_listing()
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
    from ..evaluate.suites import SUITES  # the suites say which attacks are whose: no second list

    if format not in ("table", "json"):
        raise HotbenchError(f"unknown format '{format}'", "pass --format table or --format json")
    used = {suite: {item[0] for item in SUITES.get(suite)()} for suite in ("paper", "adaptive")}
    rows = [
        {
            "name": name,
            "norm": spec.norm or "L2 min",  # minimum-norm: no budget, the smallest perturbation
            "follows": spec.follows,
            # paper first: cw and pgd are in both suites (the adaptive one runs them on the logits)
            "kind": next((k for k in ("paper", "adaptive") if name in used[k]), "neither suite"),
            "cost": spec.cost,
            "params": dict(spec.defaults),  # --param KEY=VALUE, with the default
            "description": spec.description,
        }
        for name, spec in ATTACKS.items()
    ]
    if format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("name", "norm", "follows", "kind", "cost", "params (--param, default)"):
        table.add_column(
            col, no_wrap=col in ("name", "norm"), style="bold" if col == "name" else ""
        )
    for r in rows:
        params = " ".join(f"{k}={v}" for k, v in r["params"].items()) or "-"
        table.add_row(r["name"], r["norm"], r["follows"], r["kind"], r["cost"], params)
    new_console(highlight=False).print(table)


@cli_command()
def doctor(
    format: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    workspace: Workspace_ = None,
    data_dir: DataDir = None,
) -> None:
    """Print versions, devices, threads, workspace and data paths, and what is missing (for bug
    reports). Exit code 1 when something a command needs is missing."""
    if format not in ("text", "json"):
        raise HotbenchError(f"unknown format '{format}'", "valid formats: text, json")
    from ..doctor import examine, render_doctor

    report = examine(workspace, data_dir)
    sys.stdout.write(render_doctor(report, format))
    if not report.ok:
        raise typer.Exit(1)
