"""Options shared by several commands, declared once. Only names are imported here (datasets,
activations, architectures, executors), none of which imports torch, so `--help` answers at once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..data import DATASETS
from ..defenses import DEFENSES
from ..errors import HotbenchError
from ..registry import ACTIVATIONS, ARCHS, EXECUTORS

if TYPE_CHECKING:
    from ..reports.records import Filters


def choices(reg) -> str:
    """A registry's names as help text lists them."""
    return ", ".join(reg.names())


def typed_options(ctx: typer.Context, names: Iterable[str]) -> list[str]:
    """Those of the parameters `names` that the user typed on the command line, by the flag they
    are known by (--temp): a default and a typed value look the same to the command otherwise."""
    wanted = set(names)
    out = []
    for p in ctx.command.params:
        source = ctx.get_parameter_source(p.name) if p.name in wanted else None
        if source is not None and source.name == "COMMANDLINE":
            out.append(max(p.opts, key=len))
    return out


def refuse_beside_preset(ctx: typer.Context, preset: str | None, keep: Iterable[str]) -> None:
    """--preset sets the whole sweep: a sweep option typed beside it would be silently ignored
    (`train --preset quick --temp 7` trained the preset's temperatures)."""
    if preset is None:
        return
    keep = {*keep, "preset"}
    given = typed_options(ctx, [p.name for p in ctx.command.params if p.name not in keep])
    if given:
        raise HotbenchError(
            f"{given[0]} does not combine with --preset, which sets the sweep ({given[0]} would be"
            " ignored)",
            f"drop {given[0]}, or set it in the preset's file",
        )


# what a preset leaves to the command line: where and how its units run
PRESET_KEEPS = ("workspace", "device", "data_dir", "download", "quiet", "force", "executor")
PRESET_KEEPS += ("workers", "address")


def per_dataset(field: str) -> str:
    """One fact of every registered dataset, for help text: `digits 40, mnist 5, ...`."""
    return ", ".join(f"{name} {getattr(spec, field):.4g}" for name, spec in DATASETS.items())


def dataset_help() -> str:
    """Every registered dataset with its help line (DatasetSpec.help)."""
    return "; ".join(f"{name}: {spec.help}" for name, spec in DATASETS.items())


def defense_help() -> str:
    """Every registered defense with its description and the parameters it takes."""
    out = []
    for name, spec in DEFENSES.items():
        params = f" (parameters: {', '.join(spec.params)})" if spec.params else ""
        out.append(f"{name}: {spec.description}{params}")
    return "; ".join(out)


def filters(
    dataset: list[str] | None,
    act: list[str] | None,
    temp: list[float] | None,
    run: list[str] | None,
    preset: str | None = None,
) -> Filters:
    """The stored models the filter options select; `--preset` selects its models instead of the
    --run ids (a bad preset fails here, before torch is imported)."""
    from ..reports.records import Filters
    from ..sweep.presets import load

    if preset is not None:  # its models; a gate's baseline is not filtered by them (issue 26)
        return Filters(preset=load(preset)[1].run_ids())
    return Filters(dataset or [], act or [], temp or [], run or [])


class BadValue(typer.BadParameter):
    """A value Click's parsing refuses, with hotbench's fix (cli.base.usage_error prints both)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _workspace(value: str) -> Path:
    """`-w ''` would be Path('') = the current folder, where runs/ would be written."""
    if not value:
        raise BadValue(
            "the workspace path is empty",
            "pass --workspace DIR, or leave it out for ./hotbench-runs (or HOTBENCH_HOME)",
        )
    return Path(value)


Workspace_ = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar="HOTBENCH_HOME",
        parser=_workspace,
        metavar="<path>",  # as the other paths (a parser would show <Path>)
        help="Workspace directory [default: ./hotbench-runs].",
    ),
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or log lines.")]
Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help=(
            "Every evidence line under the verdicts, not only those that decided them; `run`:"
            " also the full report (every attack at every budget) and a line per unit."
        ),
    ),
]
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
    typer.Option(
        "--dataset", help=f"Only these datasets: {choices(DATASETS)}.", show_default="all"
    ),
]
ActF = Annotated[
    list[str] | None,
    typer.Option(
        "--act", help=f"Only these activations: {choices(ACTIVATIONS)}.", show_default="all"
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
            f"One of: {choices(ARCHS)}, or MODULE:CALLABLE, your own network:"
            " CALLABLE(input_shape=(C, H, W), num_classes=K) returns an nn.Module mapping inputs"
            " in [0, 1] to logits; importable from the current directory."
        ),
        show_default="the dataset's",
    ),
]
ExecutorO = Annotated[str, typer.Option(help=f"Where units run; one of: {choices(EXECUTORS)}.")]
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
