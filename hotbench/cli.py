"""The command line: Typer commands only. Each parses its options, calls the Python API
(hotbench.api) or the library function behind it, and prints; user errors are one line on stderr and
exit code 2."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape  # messages hold [brackets] (e.g. hotbench[ray]) that are not markup
from rich.table import Table

# Only what parsing and `--help` need is imported here: names of datasets, attacks, activations,
# architectures, executors and formats, none of which imports torch. Each command imports the
# library code it calls, so `hotbench --help` and a bad option answer in a fraction of a second
# (measured by `make bench`, section startup).
from .attacks.spec import ATTACKS
from .data import DATASETS
from .defenses import DEFENSES
from .errors import HotbenchError, reset_warnings
from .files import output_target, write_output
from .names import ACTIVATIONS, ARCHS, EXECUTORS
from .progress import new_console, stderr
from .reports.formats import FORMATS, check_format
from .runtime import env_threads
from .version import __version__

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .context import Context
    from .sweep.presets import Part

HELP = """hotbench: does a high-temperature output activation make a classifier robust, or only hide
its gradients? (Tuna, Catak, Eskil, arXiv 2202.07342)

\b
Examples:
  hotbench run quick                 the demo: train, attack, report
  hotbench presets                   the shipped sweeps (hotbench run NAME)
  hotbench attacks                   every attack: norm, what it follows, cost
  hotbench train --act tanh --temp 1 --temp 50
  hotbench attack --method pgd --eval-temp 1   the paper's attack, at T = 1
  hotbench attack --suite adaptive --eval-temp 1
  hotbench report                    worst case and verdict per model
  hotbench report -f html -o r.html  also json, csv, markdown, latex
  hotbench diagnose --eval-temp 1    the gradient-masking evidence
  hotbench compare a.json b.json     what moved between two result files

`hotbench COMMAND -h` shows a command's options and their defaults.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    # plain click help: rich markup would eat every "[default: ...]" and print <bool> on flags
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hotbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The command group; options here apply before any command."""


def _names(reg) -> str:
    return ", ".join(reg.names())


def validation_error(exc: ValidationError, source: str = "option") -> HotbenchError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "value"
    return HotbenchError(f"invalid {source} '{key}': {err['msg']}", "fix the value (see --help)")


def cli_command(*args, **kwargs):
    """Register a command whose user errors become one line on stderr and exit code 2, Ctrl-C exit
    130."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            reset_warnings()
            try:
                return fn(*a, **kw)
            except HotbenchError as exc:
                stderr.print(
                    f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
                )
                raise typer.Exit(exc.exit_code) from None
            except Exception as exc:
                pydantic = sys.modules.get("pydantic")  # imported by the command, if at all
                if pydantic is None or not isinstance(exc, pydantic.ValidationError):
                    raise
                stderr.print(
                    f"[bold red]error:[/] {escape(str(validation_error(exc)))}",
                    highlight=False,
                    soft_wrap=True,
                )
                raise typer.Exit(2) from None
            except KeyboardInterrupt:
                stderr.print(
                    "interrupted: finished results are kept; run the same command again to resume"
                )
                if _PROCESS["standalone"] and "ray" in sys.modules:  # the ray executor ran
                    from .sweep.ray import exit_now

                    exit_now(130)
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return deco


# ---- shared options ------------------------------------------------------------------------------
Workspace_ = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar="HOTBENCH_HOME",
        help="Workspace directory [default: ./hotbench-runs].",
    ),
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or log lines.")]
DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder holding torchvision datasets (e.g. ../shared/data).",
        envvar="HOTBENCH_DATA",
        show_default="./data; a stored run's: the folder its run.json names",
    ),
]
Download = Annotated[
    bool, typer.Option("--download", help="Download torchvision datasets if missing.")
]
DatasetF = Annotated[
    list[str] | None,
    typer.Option("--dataset", help=f"Only these datasets: {_names(DATASETS)}.", show_default="all"),
]
ActF = Annotated[
    list[str] | None,
    typer.Option(
        "--act", help=f"Only these activations: {_names(ACTIVATIONS)}.", show_default="all"
    ),
]
TempF = Annotated[
    list[float] | None,
    typer.Option("--temp", help="Only these training temperatures.", show_default="all"),
]
RunF = Annotated[
    list[str] | None,
    typer.Option("--run", help="Only these run ids (a prefix is enough).", show_default="all"),
]
PresetF = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help=(
            "A preset name (see `hotbench presets`) or YAML path: "
            "run its part of the sweep; replaces the other sweep options."
        ),
        show_default="none: the options above",
    ),
]


ArchO = Annotated[
    str | None,
    typer.Option(
        help=(
            f"One of: {_names(ARCHS)}, or MODULE:CALLABLE, your own network:"
            " CALLABLE(input_shape=(C, H, W), num_classes=K) returns an nn.Module mapping inputs"
            " in [0, 1] to logits; importable from the current directory."
        ),
        show_default="the dataset's",
    ),
]
ExecutorO = Annotated[str, typer.Option(help=f"Where units run; one of: {_names(EXECUTORS)}.")]
WorkersO = Annotated[
    int | None,
    typer.Option(
        help=("Worker processes for --executor process."),
        show_default="one per GPU, else one per CPU core, up to 4",
    ),
]
AddressO = Annotated[
    str | None,
    typer.Option(
        help=("Ray cluster for --executor ray: auto (on a cluster node) or ray://HEAD:10001."),
        show_default="a local Ray instance",
    ),
]


def _context(
    workspace: Path | None,
    device: str,
    quiet: bool,
    data_dir: Path | None,
    download: bool,
    force: bool,
) -> Context:
    """The Context of a command that computes: torch is imported here. In the `hotbench` process
    (main) its threads are set here, once, before any work; a command invoked in-process (tests,
    a notebook) leaves the caller's thread count alone, as before torch was imported lazily."""
    from .context import Context
    from .runtime import configure_threads

    if _PROCESS["set_threads"]:
        configure_threads()  # HOTBENCH_THREADS overrides (docs/performance.md)
        _PROCESS["set_threads"] = False
    return Context.create(workspace, device, quiet, data_dir, download, force)


# Set by main(): this process is the `hotbench` command, whose threads _context sets, and which may
# end itself (os._exit) where a command invoked in-process (tests, a notebook) must return.
_PROCESS = {"set_threads": False, "standalone": False}


def _only_with_preset(
    preset: str | None, executor: str, workers: int | None, address: str | None
) -> None:
    if preset is None and (executor != "local" or workers is not None or address is not None):
        raise HotbenchError(
            "--executor, --workers and --address apply to preset sweeps",
            "add --preset NAME, or use `hotbench run PRESET --executor ...`",
        )


def _run_preset(name: str, part: Part, ctx: Context, executor: str, complete: bool = False) -> None:
    """Shared by `train/attack --preset` and `run`: load, validate, execute through the sweep
    executor; exit 2 if units failed (the others are stored: a re-run computes only these)."""
    from . import api

    statuses = api.run(name, ctx, executor, part, complete)
    failed = [s for s in statuses if s.status.startswith("failed")]
    if failed:
        raise HotbenchError(
            f"{len(failed)} of {len(statuses)} units failed (first: {failed[0].name}, "
            f"{failed[0].status})",
            "run the same command again to retry only what is missing",
        )


@cli_command()
def train(
    dataset: Annotated[str, typer.Option(help=f"One of: {_names(DATASETS)}.")] = "digits",
    act: Annotated[
        str, typer.Option(help=f"Output activation, one of: {_names(ACTIVATIONS)}.")
    ] = "tanh",
    temp: Annotated[
        list[float] | None,
        typer.Option(
            help="Training temperature T in act(z / T); repeat for a sweep.", show_default="1"
        ),
    ] = None,
    arch: ArchO = None,
    epochs: Annotated[
        int | None, typer.Option(help="[default: the dataset's (digits 40, mnist 5)].")
    ] = None,
    defense: Annotated[
        str,
        typer.Option(
            help=(
                f"Training-time defense, one of: {_names(DEFENSES)}; combines with --act/--temp"
                " (docs/controls.md)."
            )
        ),
    ] = "none",
    train_eps: Annotated[
        float | None,
        typer.Option(
            help=("Linf budget of the defense's inner attack, in (0, 1]."),
            show_default="0.1 on digits, mnist and fashion-mnist; 8/255 on cifar10",
        ),
    ] = None,
    train_steps: Annotated[
        int | None,
        typer.Option(help="Inner PGD iterations of the defense.", show_default="10"),
    ] = None,
    train_alpha: Annotated[
        float | None,
        typer.Option(help="Inner PGD step.", show_default="2.5 * train-eps / train-steps"),
    ] = None,
    trades_beta: Annotated[
        float | None,
        typer.Option(help="TRADES' weight of the KL term (--defense trades).", show_default="6"),
    ] = None,
    batch_size: Annotated[int, typer.Option()] = 128,
    lr: Annotated[float, typer.Option()] = 1e-3,
    seed: Annotated[
        list[int] | None,
        typer.Option(
            help=(
                "Training seed; repeat for several (--seed 0 --seed 1 --seed 2): the report then"
                " adds each column's mean and spread across seeds [default: 0]."
            )
        ),
    ] = None,
    n_train: Annotated[
        int | None,
        typer.Option(help="Train on the first N training images only.", show_default="all"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain even if this config is stored.")
    ] = False,
    workspace: Workspace_ = None,
    device: Device = "auto",
    data_dir: DataDir = None,
    download: Download = False,
    quiet: Quiet = False,
    preset: PresetF = None,
    executor: ExecutorO = "local",
    workers: WorkersO = None,
    address: AddressO = None,
) -> None:
    """Train models with act(z / T) on the output layer and store them in the workspace."""
    from .config import TrainConfig
    from .sweep.presets import load

    _only_with_preset(preset, executor, workers, address)
    config = dict(dataset=dataset, act=act, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr)
    config |= dict(n_train=n_train, defense=defense, train_eps=train_eps, train_steps=train_steps)
    config |= dict(train_alpha=train_alpha, trades_beta=trades_beta)
    if preset is None:
        for t in temp or [1.0]:
            for sd in seed or [0]:
                TrainConfig(**config, temp=t, seed=sd)  # a bad value fails before torch is imported
    else:
        load(preset)
    ctx = _context(workspace, device, quiet, data_dir, download, force)
    if preset is not None:
        ctx = replace(ctx, workers=workers, address=address)
        return _run_preset(preset, "train", ctx, executor)
    from . import api  # torch: only once the input is valid

    api.train(ctx, temp or [1.0], seed=seed, **config)


@cli_command()
def attack(
    method: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Attack, repeatable; one of: {_names(ATTACKS)} [default: pgd unless --suite]."
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            help=(
                "A named attack suite instead of --method: paper (the paper's attacks) or adaptive"
                " (logit, margin, black-box, transfer, AutoAttack)."
            ),
            show_default="none: --method",
        ),
    ] = None,
    eps: Annotated[
        list[float] | None,
        typer.Option(
            help="Perturbation budget (Linf or L2 by attack); repeatable.", show_default="0.3"
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Iterations of iterative attacks [default: 40; with --suite, the suite's own]."
        ),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="Step size [default: 2.5 * eps / steps].")
    ] = None,
    n_samples: Annotated[
        int | None, typer.Option(help="Evaluate on the first N test images [default: all].")
    ] = None,
    batch_size: Annotated[int, typer.Option()] = 256,
    seed: Annotated[int, typer.Option()] = 0,
    eval_temp: Annotated[
        list[float] | None,
        typer.Option(
            help=(
                "Evaluation temperature(s) [default: the training T]; 1 = the deployed model of the"
                " paper."
            )
        ),
    ] = None,
    targeted: Annotated[
        str | None,
        typer.Option(
            help=(
                "Targeted mode: random or least-likely (torchattacks' target modes) [default:"
                " untargeted]."
            )
        ),
    ] = None,
    on: Annotated[
        str | None,
        typer.Option(
            help=(
                "output: follow act(z / T_eval) as the paper; logits: follow z / T_train, judged on"
                " the deployed model; both: one config each [default: output]."
            )
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="Method parameter KEY=VALUE, repeatable (e.g. --param c=1.0 for cw).",
            show_default="the attack's own (hotbench attacks)",
        ),
    ] = None,
    dataset: DatasetF = None,
    act: ActF = None,
    temp: TempF = None,
    run: RunF = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if stored.")] = False,
    workspace: Workspace_ = None,
    device: Device = "auto",
    data_dir: DataDir = None,
    download: Download = False,
    quiet: Quiet = False,
    preset: PresetF = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help=(
                "Worst-case mode: run the attacks in order, each only on the samples the earlier"
                " ones left robust (AutoAttack's practice). The worst case is exact; per-attack"
                " numbers after the first are partial and stored apart."
            ),
        ),
    ] = False,
    complete: Annotated[
        bool,
        typer.Option(
            "--complete",
            help=(
                "Where the same config is stored on fewer samples, attack only the missing ones"
                " (up to --n-samples). Without --method/--suite: every stored attack of the"
                " selected runs, to --n-samples or its row's largest n, so a row's attacks share"
                " one sample set."
            ),
        ),
    ] = False,
    executor: ExecutorO = "local",
    workers: WorkersO = None,
    address: AddressO = None,
) -> None:
    """Attack every trained model in the workspace that matches the filters; store one result per
    config."""
    for name in method or []:
        ATTACKS.check(name)  # the commonest typo answers before pydantic, numpy and yaml load
    from .evaluate.suites import AttackRequest
    from .reports.records import Filters
    from .sweep.presets import load, parse_param

    _only_with_preset(preset, executor, workers, address)
    if preset is not None:
        load(preset)  # a bad preset fails before torch is imported
        ctx = _context(workspace, device, quiet, data_dir, download, force)
        return _run_preset(
            preset, "attack", replace(ctx, workers=workers, address=address), executor, complete
        )
    request = AttackRequest(
        methods=method or [],
        suite=suite,
        eps=eps or [0.3],
        eval_temps=list(eval_temp or [None]),
        steps=steps,
        alpha=alpha,
        n_samples=n_samples,
        batch_size=batch_size,
        seed=seed,
        targeted=targeted,
        on=on,
    ).check()  # before --param is parsed, so that `--suite ... --param` says they do not combine
    if param:
        request.params = dict(parse_param(p) for p in param)
    filters = Filters(dataset or [], act or [], temp or [], run or [])
    request.configs()  # every value checked before torch is imported
    ctx = _context(workspace, device, quiet, data_dir, download, force)
    from . import api  # torch: only once the input is valid

    api.attack(ctx, filters, fast, complete, **asdict(request))


def _terminal(output: Path | None) -> tuple[int, bool]:
    """Width and colour of the table: the terminal's width (COLUMNS wins; 100 when stdout is not a
    terminal), colour only on a terminal and not under NO_COLOR (https://no-color.org)."""
    width = shutil.get_terminal_size((100, 24)).columns
    color = output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return max(width, 40), color


@cli_command()
def report(
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of stdout.", show_default="stdout"
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
) -> None:
    """Print clean vs adversarial accuracy per (dataset, act, train T, eval T).

    Exit codes (for CI):
    0 = report written, every gate passed.
    1 = regression: an accuracy fell more than --tolerance below --baseline, a baseline record is
    missing, or a --fail-under threshold is not met. 2 = bad input: a wrong option value, an
    unreadable baseline, an empty workspace.
    """
    check_format(format)  # before the imports: a bad option answers at once
    from .evaluate.diagnose import report_verdicts
    from .reports.formats import Layout, render
    from .reports.gate import evaluate, finish, prepare
    from .reports.plots import plot_format, write_report_plots
    from .reports.records import Filters, results_document, select_runs
    from .store import Workspace
    from .sweep.presets import load

    filters = Filters(dataset or [], act or [], temp or [], run or [])
    if preset is not None:
        filters.preset = load(preset)[1].run_ids()  # the baseline is not filtered by them
    for path in (plot, plot_eps, plot_defenses):
        if path is not None:
            plot_format(path)  # a bad extension fails before anything is written
    for path in (output, plot, plot_eps, save_baseline):
        if path is not None:
            output_target(path)  # so does a folder, a device, or a FIFO
    if save_baseline is not None and str(save_baseline) == "-" and str(output or "-") == "-":
        raise HotbenchError(
            "the report and the baseline would both go to stdout",
            "pass -o FILE for the report, or a file for --save-baseline",
        )
    gates = prepare(baseline, tolerance, fail_under, save_baseline, direction)
    ws = Workspace(workspace)
    verdicts = report_verdicts(ws, select_runs(ws, filters), data_dir)
    outcome = (
        evaluate(gates, results_document(ws, filters, verdicts), filters) if gates.active else None
    )
    width, color = _terminal(output)
    text = render(ws, format, filters, verdicts, Layout(width, wide, color))
    if output is not None:
        write_output(output, text.encode())  # `-o -` is stdout
    else:
        sys.stdout.write(text)
    if plot is not None or plot_eps is not None or plot_defenses is not None:
        write_report_plots(ws, filters, plot, plot_eps, plot_defenses)
    if outcome is not None and (code := finish(outcome)):
        raise typer.Exit(code)


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
    from .reports.compare import COMPARE_FORMATS, compare_files, notes, render, table

    check_format(format, COMPARE_FORMATS)
    rows = compare_files(a, b)
    names = (str(a), str(b))
    if format == "table":
        width, color = _terminal(None)
        console = new_console(highlight=False, width=width, no_color=not color)
        console.print(table(rows, names))
        console.print(notes(rows), markup=False)
        return
    sys.stdout.write(render(rows, format, names))


@cli_command("run")
def run_cmd(
    preset: Annotated[
        str,
        typer.Argument(help="Preset name (see `hotbench presets`) or path to a preset YAML file."),
    ],
    executor: ExecutorO = "local",
    workers: WorkersO = None,
    address: AddressO = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"Report format, one of: {', '.join(FORMATS)}.")
    ] = "table",
    force: Annotated[
        bool, typer.Option("--force", help="Recompute every unit even if stored.")
    ] = False,
    complete: Annotated[
        bool,
        typer.Option(
            "--complete",
            help=(
                "Then extend every stored attack of the preset's models to the largest sample"
                " count stored for its model and eval T (only missing samples are attacked), so"
                " each row's worst case covers all its cells."
            ),
        ),
    ] = False,
    workspace: Workspace_ = None,
    device: Device = "auto",
    data_dir: DataDir = None,
    download: Download = False,
    quiet: Quiet = False,
) -> None:
    """Run a whole preset: train its models, attack them, print the report. Stored units are
    skipped, so re-running an interrupted preset resumes it."""
    from .evaluate.diagnose import report_verdicts
    from .reports.formats import Layout, render
    from .reports.records import Filters, select_runs
    from .sweep.presets import load

    check_format(format)
    runs = Filters(preset=load(preset)[1].run_ids())  # a bad preset fails before torch is imported
    ctx = _context(workspace, device, quiet, data_dir, download, force)
    _run_preset(preset, "all", replace(ctx, workers=workers, address=address), executor, complete)
    verdicts = report_verdicts(ctx.ws, select_runs(ctx.ws, runs), ctx.data_dir)  # its --data-dir
    width, color = _terminal(None)
    sys.stdout.write(render(ctx.ws, format, runs, verdicts, Layout(width, color=color)))


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
                " results]."
            )
        ),
    ] = None,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe/--no-probe",
            help=(
                "Run the cheap probe attacks the checks need if missing (PGD at eps 1.0 and with a"
                " second seed)."
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
    """Gradient-masking diagnostics and a verdict (robust / masking suspected / not robust) per
    model and eval temperature, with the evidence. Stored in the run directory
    (diagnosis/T<eval>.json)."""
    from .evaluate.diagnose import render_diagnoses
    from .reports.records import Filters

    if format not in ("table", "json"):
        raise HotbenchError(f"unknown format '{format}'", "pass --format table or --format json")
    filters = Filters(dataset or [], act or [], temp or [], run or [])
    if eps is not None and not (eps > 0 and eps < float("inf")):  # before torch is imported
        raise HotbenchError(f"eps must be a finite number > 0, got {eps}", "pass e.g. --eps 0.3")
    ctx = _context(workspace, device, quiet, data_dir, download, False)
    from . import api  # torch: only once the input is valid

    docs = api.diagnose(ctx, filters, eval_temp, eps, probe)
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
    from .reports.records import Filters, select_runs
    from .store import Workspace

    ws = Workspace(workspace)
    for rec in select_runs(ws, Filters(dataset or [], act or [], temp or [], run or [])):
        c = rec.config
        n = len(ws.load_results(rec.run_id))  # current, valid ones (stale or damaged: a warning)
        typer.echo(
            f"{rec.run_id}\t{c.dataset}\t{c.arch}\t{c.defense_label}\t{c.act}\tT={c.temp:g}\tepochs={c.epochs}\tseed={c.seed}"
            f"\ttest_acc={rec.test_acc:.3f}\tresults={n}"
        )


@cli_command("import-weights")
def import_weights_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .safetensors file, or a .pt/.pth state_dict (read with weights_only=True)."
        ),
    ],
    dataset: Annotated[
        str, typer.Option(help=f"Dataset the weights were trained on: {_names(DATASETS)}.")
    ] = "digits",
    act: Annotated[str, typer.Option(help=f"Output activation: {_names(ACTIVATIONS)}.")] = "tanh",
    temp: Annotated[float, typer.Option(help="Training temperature T of act(z / T).")] = 1.0,
    arch: ArchO = None,
    force: Annotated[
        bool, typer.Option("--force", help="Store again even if this file was imported.")
    ] = False,
    workspace: Workspace_ = None,
    device: Device = "auto",
    data_dir: DataDir = None,
    download: Download = False,
    quiet: Quiet = False,
) -> None:
    """Store weights trained elsewhere as a run (its id goes to stdout). Pickles that hold more than
    tensors are refused: loading them could run code."""
    from .config import TrainConfig

    cfg = TrainConfig(dataset=dataset, act=act, temp=temp, arch=arch)
    if not file.is_file():  # checked again by import_weights; here before torch is imported
        raise HotbenchError(f"weights file '{file}' not found", "check the path")
    from .checkpoints import import_weights

    ctx = _context(workspace, device, quiet, data_dir, download, force)
    record, stored = import_weights(ctx, file, cfg)
    if not stored:
        ctx.reporter.log(f"already imported as {record.run_id} (pass --force to store again)")
    typer.echo(record.run_id)


@cli_command("presets")
def presets_cmd(
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List the shipped presets (for `hotbench run NAME`): name, what it sweeps, and its file (copy
    it to start a preset of your own, then `hotbench run my.yaml`)."""
    from .sweep.presets import PRESET_DIR
    from .sweep.presets import listing as preset_listing

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
    from .evaluate.suites import SUITES  # the suites say which attacks are whose: no second list

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
    from .doctor import examine, render_doctor

    report = examine(workspace, data_dir)
    sys.stdout.write(render_doctor(report, format))
    if not report.ok:
        raise typer.Exit(1)


def main() -> None:
    try:
        env_threads()  # a bad HOTBENCH_THREADS fails first; commands that compute apply it
    except HotbenchError as exc:
        stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    _PROCESS["set_threads"] = True
    _PROCESS["standalone"] = True
    app()


if __name__ == "__main__":
    main()
