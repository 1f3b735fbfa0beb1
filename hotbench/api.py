"""The Python API: what the command line does, as functions (re-exported by `hotbench`).

Every function takes the workspace first: a path (default: HOTBENCH_HOME or ./hotbench-runs; device
auto, no progress bars), or a `Context` for the device, progress, data location and `force`
(`Context.create(...)`). Results are the stored documents, as `hotbench report --format json` and
docs/results-schema.md describe them. `runs` narrows a call to some stored models: run ids (a prefix
is enough), or a `Filters`. See docs/python-api.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .context import Context
from .errors import HotbenchError
from .evaluate.diagnose import diagnose_run, report_verdicts, save, store_measurements
from .evaluate.diagnose import eval_temps as attacked_temps
from .evaluate.suites import AttackRequest
from .evaluate.worstcase import load_stored
from .reports.formats import Layout, render
from .reports.records import Filters, results_document, select_runs
from .store import RunRecord, Workspace
from .sweep.plan import UnitStatus
from .sweep.presets import Part, execute, load, summary

Where = Context | Workspace | Path | str | None
Runs = Filters | Sequence[str] | None

__all__ = [
    "Context",
    "Filters",
    "attack",
    "diagnose",
    "load_results",
    "report",
    "run",
    "train",
]


def _context(workspace: Where) -> Context:
    return workspace if isinstance(workspace, Context) else Context.create(workspace)


def _filters(runs: Runs) -> Filters:
    if runs is None:
        return Filters()
    return runs if isinstance(runs, Filters) else Filters(run=list(runs))


def train(
    workspace: Where = None, temps: Sequence[float] = (1.0,), **config: Any
) -> list[RunRecord]:
    """Train one model per temperature in `temps` (other TrainConfig fields by name: dataset, act,
    arch, epochs, batch_size, lr, seed, n_train) and return their stored runs. `seed` may be a list:
    one model per (temperature, seed), and the report adds the mean and spread across seeds. A
    config already stored is reused, not retrained (unless the context has `force`)."""
    from .runner import ensure_trained

    seed = config.pop("seed", None)
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [0 if seed is None else seed]
    configs = [TrainConfig(**config, temp=t, seed=sd) for t in temps for sd in seeds or [0]]
    ctx = _context(workspace)
    ctx.ws.ensure_writable()
    records = []
    with ctx.reporter.session():
        bar = ctx.reporter.overall(f"train: {len(configs)} models", len(configs))
        for cfg in configs:
            record, trained = ensure_trained(ctx, cfg)
            bar.advance()
            if not trained:
                ctx.reporter.log(
                    f"reused {record.run_id}: test acc {record.test_acc:.3f}"
                    " (pass --force to retrain)"
                )
            records.append(record)
    return records


def attack(
    workspace: Where = None,
    runs: Runs = None,
    fast: bool = False,
    complete: bool = False,
    **request: Any,
) -> list[dict[str, Any]]:
    """Attack every stored model (or those of `runs`) and return the result documents.

    `request` holds AttackRequest's fields: `methods` (default ["pgd"]) or a `suite` ("paper",
    "adaptive"), `eps` (list), `eval_temps` (list; None is the training T, 1.0 the deployed model of
    the paper), `steps`, `alpha`, `n_samples`, `batch_size`, `seed`, `targeted`, `on` ("output",
    "logits", "both") and `params` (dict). Stored results are reused. `fast`: each attack only on
    the samples the earlier ones left robust (the worst case is exact, per-attack numbers are
    partial). `complete`: where the same config is stored on fewer samples, attack only the missing
    ones; with no `methods` and no `suite`, every stored attack of the runs is extended to
    `n_samples` (default: the largest n of its model and eval T), so they share one sample set.
    """
    from .evaluate.fasteval import attack_runs, complete_runs

    if complete and fast:
        raise HotbenchError("--complete does not combine with --fast", "drop one of them")
    ctx = _context(workspace)
    records = select_runs(ctx.ws, _filters(runs))
    if complete and not request.get("methods") and request.get("suite") is None:
        with ctx.reporter.session():
            docs = complete_runs(
                ctx, records, request.get("eval_temps") or [None], request.get("n_samples")
            )
            store_measurements(ctx, records)  # measured on the completed sample set
        return docs
    configs = AttackRequest(**request).configs()
    with ctx.reporter.session():
        docs = attack_runs(ctx, records, configs, fast, complete)
        # the diagnostics the report needs, measured once now and stored with the runs
        store_measurements(ctx, records)
    return docs


def run(
    preset: str | Path,
    workspace: Where = None,
    executor: str = "local",
    part: Part = "all",
    complete: bool = False,
) -> list[UnitStatus]:
    """Run a preset (a name from presets/ or a YAML path): train its models and attack them with the
    executor ("local", "process", "ray"; workers and address are the context's). Units already
    stored are skipped, so a second call resumes. Returns every unit's status; units that failed
    are listed, not raised. `complete`: afterwards, every stored attack of the preset's models is
    extended to the largest sample count stored for its model and eval T (only the missing samples
    are attacked), so that each row's worst case is on the samples of all its cells instead of
    shrinking to the smallest attack (a preset that gives Square or CW fewer samples, say)."""
    from .evaluate.fasteval import complete_runs
    from .sweep.executors import unit_table

    if complete and part == "train":
        raise HotbenchError("--complete needs attacks", "use it with `run` or `attack --preset`")
    path, spec = load(preset)
    ctx = _context(workspace)
    ctx.ws.ensure_writable()
    with ctx.reporter.session():
        statuses = execute(spec, part, ctx, executor)
        if part != "train":  # the report's diagnostics, measured once and stored with the runs
            ids = set(spec.run_ids())
            records = [r for r in ctx.ws.records() if r.run_id in ids]
            if complete:
                complete_runs(ctx, records, [None])
            store_measurements(ctx, records)
    failed = [s for s in statuses if s.status.startswith("failed")]
    if failed:  # what failed and why; the rest is the summary line (every unit: --verbose)
        ctx.reporter.log(unit_table(failed))
    ctx.reporter.log(f"preset {path.stem} ({part}): {summary(statuses)}")
    return statuses


def diagnose(
    workspace: Where = None,
    runs: Runs = None,
    eval_temps: Sequence[float] | None = None,
    eps: float | None = None,
    probe: bool = True,
) -> list[dict[str, Any]]:
    """Gradient-masking checks and a verdict per model and eval temperature (`eval_temps`; default:
    every one the model was attacked at), with the evidence; stored in the run directory and
    returned. `eps` is the Linf budget the verdict speaks about (default: the one with the most
    results); `probe` runs the cheap probe attacks the checks need when missing."""
    if eps is not None and not (eps > 0 and eps < float("inf")):
        raise HotbenchError(f"eps must be a finite number > 0, got {eps}", "pass e.g. --eps 0.3")
    ctx = _context(workspace)
    records = select_runs(ctx.ws, _filters(runs))
    docs = []
    with ctx.reporter.session():
        for rec in records:
            for t in eval_temps or attacked_temps(ctx.ws, rec):
                if eps is None and not load_stored(ctx.ws, rec.run_id, t):
                    ctx.reporter.log(
                        f"skipped {rec.run_id} at eval T={t:g}: no attack result (attack it, or"
                        " pass --eps)"
                    )
                    continue
                docs.append(save(ctx.ws, diagnose_run(ctx, rec, t, probe, eps)))
    if not docs:
        raise HotbenchError(
            "no attack result to diagnose on the selected models",
            "run `hotbench attack --suite adaptive` first, or pass --eps to probe with PGD",
        )
    return docs


def report(workspace: Where = None, fmt: str = "table", runs: Runs = None) -> str:
    """The report of the stored results as text: table, json, csv, markdown, html or latex. The
    models' datasets (for the diagnosis' gradient checks) are where each run.json says, or the
    context's data_dir."""
    ctx = _context(workspace)
    filters = _filters(runs)
    verdicts = report_verdicts(ctx.ws, select_runs(ctx.ws, filters), ctx.data_dir)
    return render(ctx.ws, fmt, filters, verdicts, Layout())


def load_results(workspace: Where = None, runs: Runs = None) -> dict[str, Any]:
    """The versioned results document (docs/results-schema.md): `records`, one per stored model and
    attack config, and `robust`, the per-sample worst case per model, eval T and budget."""
    return results_document(_context(workspace).ws, _filters(runs))
