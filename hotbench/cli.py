"""The command line. Thin on purpose: parse, validate, call library functions that tests call directly."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

from .attacks import ATTACKS
from .config import AttackConfig, TrainConfig
from .data import DATASETS
from .errors import HotbenchError
from .models import ACTIVATIONS, ARCHS
from .progress import Reporter, stderr
from .provenance import resolve_device
from .report import FORMATS, Filters, render, select_runs
from .runner import ensure_attacked, ensure_trained
from .store import Workspace

app = typer.Typer(
    help="hotbench: does a high-temperature output activation make a classifier robust, or only hide its gradients?",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)


def _names(reg) -> str:
    return ", ".join(reg.names())


def validation_error(exc: ValidationError, source: str = "option") -> HotbenchError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "value"
    return HotbenchError(f"invalid {source} '{key}': {err['msg']}", "fix the value (see --help)")


def cli_command(*args, **kwargs):
    """Register a command whose user errors become one line on stderr and exit code 2, Ctrl-C exit 130."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            try:
                return fn(*a, **kw)
            except HotbenchError as exc:
                stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
                raise typer.Exit(exc.exit_code) from None
            except ValidationError as exc:
                stderr.print(f"[bold red]error:[/] {validation_error(exc)}", highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None
            except KeyboardInterrupt:
                stderr.print("interrupted: finished results are kept; run the same command again to resume")
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return deco


# ---- shared options ---------------------------------------------------------------------------------------
Workspace_ = Annotated[Optional[Path], typer.Option("--workspace", "-w", envvar="HOTBENCH_HOME",
                                                    help="Workspace directory [default: ./hotbench-runs].")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or log lines.")]
DataDir = Annotated[Optional[Path], typer.Option(help="Folder holding torchvision datasets (e.g. ../shared/data).",
                                                 envvar="HOTBENCH_DATA")]
Download = Annotated[bool, typer.Option("--download", help="Download torchvision datasets if missing.")]
DatasetF = Annotated[Optional[list[str]], typer.Option("--dataset", help=f"Only these datasets: {_names(DATASETS)}.")]
ActF = Annotated[Optional[list[str]], typer.Option("--act", help=f"Only these activations: {_names(ACTIVATIONS)}.")]
TempF = Annotated[Optional[list[float]], typer.Option("--temp", help="Only these training temperatures.")]
RunF = Annotated[Optional[list[str]], typer.Option("--run", help="Only these run ids (a prefix is enough).")]


def _filters(dataset, act, temp, run) -> Filters:
    for d in dataset or []:
        DATASETS.check(d)
    for a in act or []:
        ACTIVATIONS.check(a)
    return Filters(dataset or [], act or [], temp or [], run or [])


@cli_command()
def train(
    dataset: Annotated[str, typer.Option(help=f"One of: {_names(DATASETS)}.")] = "digits",
    act: Annotated[str, typer.Option(help=f"Output activation, one of: {_names(ACTIVATIONS)}.")] = "tanh",
    temp: Annotated[Optional[list[float]], typer.Option(help="Training temperature T in act(z / T); repeat for a sweep.")] = None,
    arch: Annotated[Optional[str], typer.Option(help=f"One of: {_names(ARCHS)} [default: the dataset's].")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="[default: the dataset's (digits 40, mnist 5)].")] = None,
    batch_size: Annotated[int, typer.Option()] = 128,
    lr: Annotated[float, typer.Option()] = 1e-3,
    seed: Annotated[int, typer.Option()] = 0,
    n_train: Annotated[Optional[int], typer.Option(help="Train on the first N training images only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain even if this config is stored.")] = False,
    workspace: Workspace_ = None, device: Device = "auto", data_dir: DataDir = None, download: Download = False,
    quiet: Quiet = False,
) -> None:
    """Train models with act(z / T) on the output layer and store them in the workspace."""
    temps = temp or [1.0]
    configs = [TrainConfig(dataset=dataset, act=act, temp=t, arch=arch, epochs=epochs, batch_size=batch_size,
                           lr=lr, seed=seed, n_train=n_train) for t in temps]
    ws = Workspace(workspace)
    ws.ensure_writable()
    dev = resolve_device(device)
    reporter = Reporter(quiet)
    with reporter.session():
        for cfg in configs:
            record, trained = ensure_trained(ws, cfg, dev, reporter, data_dir, download, force)
            if not trained:
                reporter.log(f"reused {record.run_id}: test acc {record.test_acc:.3f} (pass --force to retrain)")


@cli_command()
def attack(
    method: Annotated[list[str], typer.Option(help=f"Attack, repeatable; one of: {_names(ATTACKS)}.")] = ["pgd"],
    eps: Annotated[Optional[list[float]], typer.Option(help="Perturbation budget (Linf or L2 by attack); repeatable.")] = None,
    steps: Annotated[int, typer.Option(help="Iterations of iterative attacks.")] = 40,
    alpha: Annotated[Optional[float], typer.Option(help="Step size [default: 2.5 * eps / steps].")] = None,
    n_samples: Annotated[Optional[int], typer.Option(help="Evaluate on the first N test images [default: all].")] = None,
    batch_size: Annotated[int, typer.Option()] = 256,
    seed: Annotated[int, typer.Option()] = 0,
    eval_temp: Annotated[Optional[list[float]], typer.Option(help="Evaluation temperature(s) [default: the training T]; 1 = the deployed model of the paper.")] = None,
    dataset: DatasetF = None, act: ActF = None, temp: TempF = None, run: RunF = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if stored.")] = False,
    workspace: Workspace_ = None, device: Device = "auto", data_dir: DataDir = None, download: Download = False,
    quiet: Quiet = False,
) -> None:
    """Attack every trained model in the workspace that matches the filters; store one result per config."""
    configs = [AttackConfig(method=m, eps=e, steps=steps, alpha=alpha, n_samples=n_samples, batch_size=batch_size,
                            seed=seed, eval_temp=t)
               for m in method for e in (eps or [0.3]) for t in (eval_temp or [None])]
    ws = Workspace(workspace)
    records = select_runs(ws, _filters(dataset, act, temp, run))
    dev = resolve_device(device)
    reporter = Reporter(quiet)
    with reporter.session():
        for rec in records:
            for cfg in configs:
                doc, fresh = ensure_attacked(ws, rec, cfg, dev, reporter, data_dir, download, force)
                m = doc["metrics"]
                reporter.log(f"{'attacked' if fresh else 'stored  '} {rec.run_id} {doc['config']['method']}"
                             f" eval T={doc['config']['eval_temp']:g}: clean {m['clean_acc']:.3f} adv {m['adv_acc']:.3f}")


@cli_command()
def report(
    format: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")] = "table",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    dataset: DatasetF = None, act: ActF = None, temp: TempF = None, run: RunF = None,
    workspace: Workspace_ = None,
) -> None:
    """Print clean vs adversarial accuracy per (dataset, act, train T, eval T)."""
    text = render(Workspace(workspace), format, _filters(dataset, act, temp, run))
    if output is not None:
        from .store import atomic_write_bytes

        atomic_write_bytes(output, text.encode())
    else:
        sys.stdout.write(text)


@cli_command("ls")
def list_runs(workspace: Workspace_ = None, dataset: DatasetF = None, act: ActF = None, temp: TempF = None,
              run: RunF = None) -> None:
    """List the trained models in the workspace, with their attack results."""
    ws = Workspace(workspace)
    for rec in select_runs(ws, _filters(dataset, act, temp, run)):
        c = rec.config
        n = len(list((rec.path / "attacks").glob("*.json"))) if (rec.path / "attacks").is_dir() else 0
        typer.echo(f"{rec.run_id}\t{c.dataset}\t{c.arch}\t{c.act}\tT={c.temp:g}\tepochs={c.epochs}\tseed={c.seed}"
                   f"\ttest_acc={rec.test_acc:.3f}\tresults={n}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
