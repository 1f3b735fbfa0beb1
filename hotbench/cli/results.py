"""Commands that read what is stored: report (with the CI gate), compare, diagnose and ls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import HotbenchError
from ..files import check_outputs
from ..progress import new_console, stderr
from ..reports.formats import FORMATS
from ..validate import LISTING_FORMATS, check_format
from .base import Session, cli_command, terminal
from .options import (
    ActF,
    DataDir,
    DatasetF,
    Device,
    Download,
    PresetF,
    Quiet,
    RunF,
    TempF,
    Verbose,
    Workspace_,
    filters,
    refuse_beside_preset,
    typed_options,
)


@cli_command()
def report(
    ctx: typer.Context,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"One of: {', '.join(FORMATS)}.",
            show_default="from --output's extension (.json, .csv, .md, .html, .tex), else table",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file instead of stdout; its extension sets the format.",
            show_default="stdout",
        ),
    ] = None,
    dataset: DatasetF = None,
    act: ActF = None,
    temp: TempF = None,
    run: RunF = None,
    workspace: Workspace_ = None,
    preset: PresetF = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also write accuracy vs training temperature to FILE (.png, .svg or .pdf).",
            show_default="no plot",
        ),
    ] = None,
    plot_eps: Annotated[
        Path | None,
        typer.Option(
            "--plot-eps",
            help=(
                "Also write accuracy vs eps (attacks run at several eps) to FILE (.png, .svg or"
                " .pdf)."
            ),
            show_default="no plot",
        ),
    ] = None,
    plot_defenses: Annotated[
        Path | None,
        typer.Option(
            "--plot-defenses",
            help=(
                "Also write every model's worst case side by side at each eps (defenses compared)"
                " to FILE (.png, .svg or .pdf)."
            ),
            show_default="no plot",
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help=(
                "Regression gate: compare with this results JSON (matched by run_id/attack_id);"
                " diff table on stderr."
            ),
            show_default="no gate",
        ),
    ] = None,
    tolerance: Annotated[
        str,
        typer.Option(
            "--tolerance",
            help=(
                "Largest allowed move of an accuracy from the baseline (absolute), or 'auto': what"
                " the two sample sizes explain (95%)."
            ),
        ),
    ] = "0.02",
    direction: Annotated[
        str,
        typer.Option(
            "--direction",
            help=(
                "Which moves of adv_acc and robust_acc fail: down, up or both (an attack that stops"
                " working is a regression too; clean_acc fails on a drop only). See docs/ci.md."
            ),
        ),
    ] = "both",
    data_dir: DataDir = None,
    save_baseline: Annotated[
        Path | None,
        typer.Option(
            "--save-baseline",
            help="Write the current results as a baseline JSON (not if a gate failed).",
            show_default="not written",
        ),
    ] = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Table: every column in one table at its natural width, whatever the terminal.",
        ),
    ] = False,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            help=(
                "[SCOPE:]METRIC=VALUE, repeatable: fail if METRIC (clean_acc, adv_acc, robust_acc)"
                " < VALUE for any result in SCOPE (an attack method like pgd, or a column label"
                " like 'pgd ε=0.3'; default all)."
            ),
            show_default="no threshold",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Print clean vs adversarial accuracy per (dataset, act, train T, eval T).

    Exit codes (for CI):
    0 = report written, every gate passed.
    1 = regression: an accuracy fell more than --tolerance below --baseline, a baseline record is
    missing, a baseline verdict moved, a --fail-under threshold is not met, or a model of --preset
    got another verdict than the preset declares (`expect`: the zoo, the controls).
    2 = bad input: a wrong option value, an unreadable baseline, an empty workspace.
    """
    from .. import api
    from ..context import Context

    refuse_beside_preset(ctx, preset, [p.name for p in ctx.command.params if p.name != "run"])
    if baseline is None and (given := typed_options(ctx, ["tolerance", "direction"])):
        raise HotbenchError(
            f"{given[0]} applies to the regression gate, and no --baseline was given",
            f"add --baseline FILE, or drop {given[0]}",
        )
    runs = filters(dataset, act, temp, run, preset)
    if preset is not None:  # the preset's file is read too: no output may replace it
        from ..sweep.preset_files import resolve as resolve_preset

        outputs = {"--output": output, "--plot": plot, "--plot-eps": plot_eps}
        outputs |= {"--plot-defenses": plot_defenses, "--save-baseline": save_baseline}
        check_outputs(outputs, {"--preset": resolve_preset(preset)})
    gate = api.Gate(baseline, tolerance, direction, tuple(fail_under or ()), save_baseline, preset)
    files = api.ReportFiles(output, plot, plot_eps, plot_defenses)
    width, color = terminal(output)
    layout = api.Layout(width, wide, color, verbose)
    outcome = api.report(
        Context.for_reading(workspace, data_dir), format, runs, gate, files, layout
    )
    if output is None:
        sys.stdout.write(outcome.text)
    for text in outcome.messages(width or 100):  # the gate, expected against got
        stderr.out(text, highlight=False)  # stdout may carry JSON
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@cli_command("compare")
def compare_cmd(
    a: Annotated[
        Path,
        typer.Argument(
            help="Results document A (`report --format json` or `--save-baseline`).",
            show_default=False,
        ),
    ],
    b: Annotated[
        Path,
        typer.Argument(help="Results document B, compared with A (B - A).", show_default=False),
    ],
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="table (for a terminal), json, csv or markdown."),
    ] = "table",
) -> None:
    """Compare two results documents, for people: per record matched by (run_id, attack_id) and
    per worst case (run_id, robust_id), A and B with their 95% intervals and n, B - A, Fisher's
    exact p and a flag where the intervals do not overlap; records only in A or only in B listed.
    No exit code rides on the differences: the CI gate is `report --baseline`."""
    from .. import api
    from ..reports.compare import COMPARE_FORMATS, notes, render, table

    check_format(format, COMPARE_FORMATS)
    rows = api.compare(a, b)
    names = (str(a), str(b))
    if format == "table":
        width, color = terminal(None)
        console = new_console(highlight=False, width=width, no_color=not color)
        console.print(table(rows, names))
        console.print(notes(rows), markup=False)
        return
    sys.stdout.write(render(rows, format, names))


@cli_command("diagnose")
def diagnose_cmd(
    eval_temp: Annotated[
        list[float] | None,
        typer.Option(
            help="Evaluation temperature(s) [default: every one the model was attacked at]."
        ),
    ] = None,
    eps: Annotated[
        float | None,
        typer.Option(
            help=(
                "Linf budget the verdict speaks about [default: the one with the most stored"
                " results asked for; a PGD-AT model's training eps]."
            )
        ),
    ] = None,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe/--no-probe",
            help=(
                "Run the attacks the checks need if missing (PGD at eps 1.0 and with a second"
                " seed, PGD on the logits, Square, transfer, and the undefended reference, trained"
                " if absent)."
            ),
        ),
    ] = True,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    dataset: DatasetF = None,
    act: ActF = None,
    temp: TempF = None,
    run: RunF = None,
    workspace: Workspace_ = None,
    device: Device = "auto",
    data_dir: DataDir = None,
    download: Download = False,
    quiet: Quiet = False,
) -> None:
    """A verdict per model and eval temperature on two axes, robustness (robust / not robust /
    incomplete) and masking (detected / not detected / not measured), with the evidence. Stored in
    the run directory (diagnosis/T<eval>.json)."""
    from .. import api
    from ..reports.verdicts import render_diagnoses

    check_format(format, LISTING_FORMATS)
    session = Session(workspace, device, quiet, data_dir, download)
    docs = api.diagnose(session, filters(dataset, act, temp, run), eval_temp, eps, probe)
    sys.stdout.write(render_diagnoses(docs, format))


@cli_command("ls")
def list_runs(
    workspace: Workspace_ = None,
    dataset: DatasetF = None,
    act: ActF = None,
    temp: TempF = None,
    run: RunF = None,
) -> None:
    """List the trained models in the workspace, with their attack results."""
    from .. import api

    # results: the current, valid ones (stale or damaged: a warning)
    for rec, n in api.list_runs(workspace, filters(dataset, act, temp, run)):
        c = rec.config
        typer.echo(
            f"{rec.run_id}\t{c.dataset}\t{c.arch}\t{c.defense_label}\t{c.act}\tT={c.temp:g}\tepochs={c.epochs}\tseed={c.seed}"
            f"\ttest_acc={rec.test_acc:.3f}\tresults={n}"
        )
