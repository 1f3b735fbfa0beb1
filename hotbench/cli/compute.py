"""Commands that compute and store: train, attack, run (a whole preset) and import-weights. Each
checks its input before torch is imported, then calls the Python API (hotbench.api)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..attacks.spec import ATTACKS
from ..data import DATASETS
from ..draws import DEFAULT_DRAWS, DEFAULT_EOT, MAX_DRAWS
from ..errors import HotbenchError
from ..registry import ACTIVATIONS
from ..reports.formats import FORMATS
from ..validate import check_executor_options, check_format
from .base import Session, cli_command, terminal
from .options import (
    PRESET_KEEPS,
    ActF,
    AddressO,
    ArchO,
    DataDir,
    DatasetF,
    Device,
    Download,
    ExecutorO,
    PresetF,
    Quiet,
    RunF,
    TempF,
    Verbose,
    WorkersO,
    Workspace_,
    choices,
    dataset_help,
    defense_help,
    filters,
    per_dataset,
    refuse_beside_preset,
)

if TYPE_CHECKING:
    from ..sweep.plan import UnitStatus
    from ..sweep.presets import Part


def _run_preset(
    name: str, part: Part, session: Session, executor: str, complete: bool = False
) -> list[UnitStatus]:
    """Shared by `train/attack --preset` and `run`: the preset through the sweep executor; exit 2 if
    units failed (the others are stored: a re-run computes only these)."""
    from .. import api

    statuses = api.run(name, session, executor, part, complete)
    failed = [s for s in statuses if s.status.startswith("failed")]
    if failed:
        raise HotbenchError(
            f"{len(failed)} of {len(statuses)} units failed (first: {failed[0].name}, "
            f"{failed[0].status})",
            "run the same command again to retry only what is missing",
        )
    return statuses


def full_report(preset: str, workspace: Path | None) -> str:
    """The line under `run`'s short report that says how to see the full one: the `report`
    command for this preset and workspace, as the user would type it (the report finds each
    model's data where its run.json says, so no --data-dir)."""
    cmd = ["hotbench", "report", "--preset", preset]
    if workspace is not None:
        cmd += ["-w", str(workspace)]
    return (
        "This is the short report. Every attack at every budget, with all the evidence:"
        f" {shlex.join(cmd)} --verbose"
    )


@cli_command()
def train(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help=f"One of: {dataset_help()}.")] = "digits",
    act: Annotated[
        str, typer.Option(help=f"Output activation, one of: {choices(ACTIVATIONS)}.")
    ] = "tanh",
    temp: Annotated[
        list[float] | None,
        typer.Option(
            help="Training temperature T in act(z / T); repeat for a sweep.", show_default="1"
        ),
    ] = None,
    arch: ArchO = None,
    epochs: Annotated[
        int | None,
        typer.Option(help=f"[default: the dataset's ({per_dataset('default_epochs')})]."),
    ] = None,
    defense: Annotated[
        str,
        typer.Option(
            help=(
                f"Training-time defense, combined with --act/--temp (docs/controls.md); one of:"
                f" {defense_help()}."
            )
        ),
    ] = "none",
    train_eps: Annotated[
        str | None,
        typer.Option(
            help=("Linf budget of the defense's inner attack, in (0, 1]; 0.3 or 8/255."),
            show_default=f"the dataset's: {per_dataset('train_eps')}",
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
    defense_param: Annotated[
        list[str] | None,
        typer.Option(
            help="A parameter of the defense that has no flag of its own, KEY=VALUE; repeatable.",
            show_default="the defense's own",
        ),
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
    refuse_beside_preset(ctx, preset, PRESET_KEEPS)
    check_executor_options(preset, executor, workers, address)
    session = Session(workspace, device, quiet, data_dir, download, force, workers, address)
    if preset is not None:
        _run_preset(preset, "train", session, executor)
        return
    config = dict(dataset=dataset, act=act, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr)
    config |= dict(n_train=n_train, defense=defense, train_eps=train_eps, train_steps=train_steps)
    config |= dict(train_alpha=train_alpha, trades_beta=trades_beta)
    from .. import api
    from ..sweep.preset_files import parse_param

    config["defense_params"] = dict(parse_param(p) for p in defense_param or [])

    api.train(session, temp or [1.0], seed=seed, **config)


@cli_command()
def attack(
    ctx: typer.Context,
    method: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Attack, repeatable; one of: {choices(ATTACKS)} [default: pgd unless --suite]."
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
        list[str] | None,
        typer.Option(
            help="Perturbation budget (Linf or L2 by attack), a number or a fraction (8/255);"
            " repeatable.",
            show_default="0.3",
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
    eot: Annotated[
        int | None,
        typer.Option(
            help=(
                "Randomized models: forward passes averaged per gradient (Expectation over"
                " Transformation); --eot 1 is the plain attack. Deterministic models ignore it"
                " (README, Randomized defenses)."
            ),
            show_default=f"{DEFAULT_EOT} on a randomized model",
        ),
    ] = None,
    draws: Annotated[
        int | None,
        typer.Option(
            help=(
                "Randomized models: draws of the model each sample's accuracy is measured over"
                f" (1 to {MAX_DRAWS})."
            ),
            show_default=f"{DEFAULT_DRAWS} on a randomized model",
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
    refuse_beside_preset(ctx, preset, (*PRESET_KEEPS, "complete"))
    check_executor_options(preset, executor, workers, address)
    session = Session(workspace, device, quiet, data_dir, download, force, workers, address)
    if preset is not None:
        _run_preset(preset, "attack", session, executor, complete)
        return
    from .. import api
    from ..sweep.preset_files import parse_param

    request = dict(methods=method or [], suite=suite, eps=eps or [0.3], steps=steps, alpha=alpha)
    request |= dict(eval_temps=list(eval_temp or [None]), n_samples=n_samples, seed=seed)
    request |= dict(batch_size=batch_size, targeted=targeted, on=on, eot=eot, draws=draws)
    request["params"] = dict(parse_param(p) for p in param or [])
    runs = filters(dataset, act, temp, run)
    api.attack(session, runs, fast, complete, **request)


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
    verbose: Verbose = False,
) -> None:
    """Run a whole preset: train its models, attack them, print a short report (the verdicts, the
    evidence that decided them and a summary; --verbose or `hotbench report`: the full one).
    Stored units are skipped, so re-running an interrupted preset resumes it. A preset that
    declares the verdict its models must get (`expect`: the zoo, the controls) prints expected
    against got and exits 1 when one differs."""
    from .. import api
    from ..progress import stderr

    check_format(format, FORMATS)
    session = Session(workspace, device, quiet, data_dir, download, force, workers, address)
    session.verbose = verbose
    statuses = _run_preset(preset, "all", session, executor, complete)
    runs = [s.name for s in statuses if s.kind == "train"]  # the preset's models
    width, color = terminal(None)
    more = None if verbose else full_report(preset, workspace)
    layout = api.Layout(width, color=color, verbose=verbose, brief=not verbose, more=more)
    # the context the preset ran in: its --data-dir, or the preset's data_dir
    outcome = api.report(session(), format, runs, api.Gate(expect=preset), layout=layout)
    sys.stdout.write(outcome.text)
    for text in outcome.messages(width or 100):  # expected against got: exit 1 if one differs
        stderr.out(text, highlight=False)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@cli_command("import-weights")
def import_weights_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .safetensors file, or a .pt/.pth state_dict (read with weights_only=True)."
        ),
    ],
    dataset: Annotated[
        str, typer.Option(help=f"Dataset the weights were trained on: {choices(DATASETS)}.")
    ] = "digits",
    act: Annotated[str, typer.Option(help=f"Output activation: {choices(ACTIVATIONS)}.")] = "tanh",
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
    from .. import api

    session = Session(workspace, device, quiet, data_dir, download, force)
    record, stored = api.import_weights(
        session, file, dataset=dataset, act=act, temp=temp, arch=arch
    )
    if not stored:
        session().reporter.log(f"already imported as {record.run_id} (pass --force to store again)")
    typer.echo(record.run_id)
