"""The Python API: what the command line does, as functions (re-exported by `hotbench`).

Every function takes the workspace first: a path (default: HOTBENCH_HOME or ./hotbench-runs; device
auto, no progress bars), a `Context` for the device, progress, data location and `force`
(`Context.create(...)`), or a function that returns a Context: it is called once the call's inputs
are checked (the command line passes one, so that a bad option answers before torch is imported).
Results are the stored documents, as `hotbench report --format json` and docs/results-schema.md
describe them. `runs` narrows a call to some stored models: run ids (a prefix is enough), or a
`Filters`. See docs/python-api.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import TrainConfig
from .context import Context
from .errors import HotbenchError
from .evaluate.diagnose import diagnose_run, report_verdicts, save, store_measurements
from .evaluate.diagnose import eval_temps as attacked_temps
from .evaluate.suites import AttackRequest, attack_listing
from .evaluate.worstcase import load_stored
from .files import check_outputs, input_file, output_target, write_output
from .reports.baseline import DEFAULT_TOLERANCE
from .reports.compare import Row, compare_files
from .reports.expected import Outcome, outcomes
from .reports.expected import render as render_expected
from .reports.formats import Layout, output_format, render
from .reports.gate import GateOutcome, evaluate, prepare, save_if_passed
from .reports.gate_text import markdown as gate_markdown
from .reports.gate_text import messages
from .reports.plots import plot_format, write_report_plots
from .reports.records import Filters, results_document, select_runs
from .store import RunRecord, Workspace
from .sweep.plan import UnitStatus
from .sweep.preset_files import listing
from .sweep.presets import Part, execute, load, summary
from .validate import check_positive

if TYPE_CHECKING:
    from .doctor import Report

Where = Context | Callable[[], Context] | Workspace | Path | str | None
Runs = Filters | Sequence[str] | None

__all__ = [
    "Context",
    "Filters",
    "Gate",
    "Layout",
    "ReportFiles",
    "ReportOutcome",
    "attack",
    "attacks",
    "compare",
    "diagnose",
    "doctor",
    "import_weights",
    "list_runs",
    "load_results",
    "presets",
    "report",
    "run",
    "train",
]


def _context(workspace: Where) -> Context:
    """The Context a call computes in (torch is imported here): call this only once the call's
    inputs are checked."""
    if isinstance(workspace, Context):
        return workspace
    return workspace() if callable(workspace) else Context.create(workspace)


def _reading(workspace: Where) -> Context:
    """The Context of a call that only reads the workspace (report, list_runs): a given one, or a
    read-only one that imports no torch."""
    if isinstance(workspace, Context):
        return workspace
    return workspace() if callable(workspace) else Context.for_reading(workspace)


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
    seed = config.pop("seed", None)
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [0 if seed is None else seed]
    configs = [TrainConfig(**config, temp=t, seed=sd) for t in temps for sd in seeds or [0]]
    ctx = _context(workspace)  # torch: once every config is valid
    from .units import ensure_trained

    ctx.ws.ensure_writable()
    records = []
    with ctx.reporter.session():
        bar = ctx.reporter.overall(f"train: {len(configs)} models", len(configs))
        for cfg in configs:
            record, trained = ensure_trained(ctx, cfg)
            bar.advance()
            # the command's result, one line per model (in a `run` sweep a detail: the report
            # that follows says it again)
            if trained:
                ctx.reporter.log(f"trained {record.run_id}: test acc {record.test_acc:.3f}")
            else:
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
    if complete and fast:
        raise HotbenchError("--complete does not combine with --fast", "drop one of them")
    configs = AttackRequest(**request).configs()  # every value checked before any work
    ctx = _context(workspace)  # torch: once the request is valid
    from .evaluate.fasteval import attack_runs, complete_runs

    records = select_runs(ctx.ws, _filters(runs))
    if complete and not request.get("methods") and request.get("suite") is None:
        with ctx.reporter.session():
            docs = complete_runs(
                ctx, records, request.get("eval_temps") or [None], request.get("n_samples")
            )
            store_measurements(ctx, records)  # measured on the completed sample set
        return docs
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
    if complete and part == "train":
        raise HotbenchError("--complete needs attacks", "use it with `run` or `attack --preset`")
    path, spec = load(preset)
    ctx = _context(workspace)  # torch: once the preset is valid
    from .evaluate.fasteval import complete_runs
    from .sweep.executors import unit_table

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
    """Gradient-masking checks and a two-axis verdict (robustness, masking) per model and eval
    temperature (`eval_temps`; default: every one the model was attacked at), with the evidence;
    stored in the run directory and returned. `eps` is the Linf budget the verdict speaks about
    (default: the documented rule's); `probe` runs the attacks the checks need when missing (PGD
    at eps 1.0 and with a second seed, on the logits, Square, transfer, the undefended
    reference)."""
    check_positive(eps, "--eps", "0.3")
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


@dataclass(frozen=True)
class Gate:
    """The CI gate of a report (docs/ci.md): the results compared with a `baseline` results
    document, matched by config hash (run_id, attack_id), each accuracy allowed to move by
    `tolerance` (absolute, or "auto": what the two sample sizes explain), in `direction` ("down",
    "up" or "both": adv_acc and robust_acc fail on a move either way, clean_acc on a drop only);
    `fail_under` thresholds "[SCOPE:]METRIC=VALUE" (e.g. "pgd:adv_acc=0.5"); `save_baseline`
    writes the current results as a baseline if every check passed; `expect`: a preset whose
    train sections declare the verdict their models must get (the zoo, the controls), checked on
    both axes (`report --preset` and `run` set it)."""

    baseline: Path | str | None = None
    tolerance: float | str = DEFAULT_TOLERANCE
    direction: str = "both"
    fail_under: Sequence[str] = ()
    save_baseline: Path | str | None = None
    expect: str | Path | None = None


@dataclass(frozen=True)
class ReportFiles:
    """What a report writes besides returning its text: the report itself (`output`, "-" for
    stdout) and its figures: accuracy vs training temperature (`plot`), vs eps (`plot_eps`), and
    every model's worst case side by side (`plot_defenses`), each .png, .svg or .pdf."""

    output: Path | str | None = None
    plot: Path | str | None = None
    plot_eps: Path | str | None = None
    plot_defenses: Path | str | None = None

    @property
    def plots(self) -> list[Path | str]:
        return [p for p in (self.plot, self.plot_eps, self.plot_defenses) if p is not None]


@dataclass
class ReportOutcome:
    """What `report` produced: its `text` (also what `str()` gives), and the gate's verdict. `gate`
    is None when no gate was asked; otherwise it holds each check's comparisons (`gate.results`:
    title, reference column, GateResult) and `gate.note` (whether the baseline was written);
    `gate_messages()` is what the command line prints of it.
    `exit_code` is the command line's: 0 every check passed (or no gate), 1 a regression."""

    text: str
    gate: GateOutcome | None = None
    files: ReportFiles = field(default_factory=ReportFiles)
    # the preset's expected verdicts against the verdicts got (Gate.expect; None: not asked)
    expected: list[Outcome] | None = None

    @property
    def exit_code(self) -> int:
        failed = any(not o.match for o in self.expected or [])
        return max(0 if self.gate is None else self.gate.exit_code, int(failed))

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def gate_messages(self, width: int = 100) -> list[str]:
        """What the gate says, for stderr: a diff table per check, `width` columns wide, then
        whether the baseline was written (none without a gate)."""
        return [] if self.gate is None else messages(self.gate, width)

    def messages(self, width: int = 100) -> list[str]:
        """Everything the command line prints beside the report, on stderr (stdout may carry
        JSON): the gate's messages, then the preset's expected verdicts against those got."""
        expected = [render_expected(self.expected, width=width)] if self.expected else []
        return self.gate_messages(width) + expected

    def __str__(self) -> str:
        return self.text


def _check_report_files(files: ReportFiles, gate: Gate) -> None:
    """Every file the report will write, checked before any work (a typo fails at once)."""
    for path in files.plots:
        plot_format(Path(path))
    for path in (files.output, *files.plots, gate.save_baseline):
        if path is not None:
            output_target(path)  # a folder, a device, a FIFO: refused
    if gate.save_baseline is not None and str(gate.save_baseline) == "-":
        if str(files.output or "-") == "-":
            raise HotbenchError(
                "the report and the baseline would both go to stdout",
                "pass -o FILE for the report, or a file for --save-baseline",
            )
    # two outputs to one file: the second would silently replace the first (the report, when no
    # -o is given, is on stdout, so a figure or baseline on `-` shares it)
    outputs = {"--output": files.output or "-", "--plot": files.plot}
    outputs |= {"--plot-eps": files.plot_eps, "--plot-defenses": files.plot_defenses}
    outputs |= {"--save-baseline": gate.save_baseline}
    seen: dict[str, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        where = "stdout" if str(path) == "-" else os.path.realpath(path)  # a link: its target
        if where in seen:
            shown = "stdout" if where == "stdout" else f"'{path}'"
            implied = seen[where] == "--output" and files.output is None
            report = " (the report, as no -o FILE is given)" if implied else ""
            to_stdout = where == "stdout" and seen[where] == "--output"  # `--plot -` beside it
            also = " (or pass -o FILE for the report)" if to_stdout else ""
            raise HotbenchError(
                f"{seen[where]}{report} and {flag} would both write {shown}: one would replace"
                " the other",
                f"give {flag} a file of its own{also}",
            )
        seen[where] = flag


def report(
    workspace: Where = None,
    fmt: str | None = None,
    runs: Runs = None,
    gate: Gate | None = None,
    files: ReportFiles | None = None,
    layout: Layout | None = None,
) -> ReportOutcome:
    """The report of the stored results in `fmt` (table, json, csv, markdown, html or latex), its
    figures written to `files`, and the CI `gate` evaluated on the same numbers (the results
    document of `load_results`). Read-only but for `files` and a passing gate's `save_baseline`.
    The models' datasets (for the diagnosis' gradient checks) are where each run.json says, or the
    context's data_dir. Bad input raises HotbenchError before anything is written; a regression
    does not raise: it is the outcome's `gate` and `exit_code`. `fmt` None: the one the output
    file's extension names (`r.json`: json; reports.formats.EXTENSIONS), else a table."""
    gate, files = gate or Gate(), files or ReportFiles()
    fmt = output_format(fmt, files.output)
    _check_report_files(files, gate)
    save_path = None if gate.save_baseline is None else Path(gate.save_baseline)
    request = prepare(
        None if gate.baseline is None else Path(gate.baseline),
        gate.tolerance,
        list(gate.fail_under),
        save_path,
        gate.direction,
    )
    declared = load(gate.expect)[1].expectations() if gate.expect is not None else None
    ctx, filters = _reading(workspace), _filters(runs)
    outputs = {"--output": files.output, "--save-baseline": gate.save_baseline}
    outputs |= {"--plot": files.plot, "--plot-eps": files.plot_eps}
    outputs |= {"--plot-defenses": files.plot_defenses}
    check_outputs(outputs, {"--baseline": gate.baseline}, ctx.ws.root)
    verdicts = report_verdicts(ctx.ws, select_runs(ctx.ws, filters), ctx.data_dir)
    outcome = None
    if request.active:  # before the report is written: a bad threshold leaves no half output
        outcome = evaluate(request, results_document(ctx.ws, filters, verdicts), filters)
    text = render(ctx.ws, fmt, filters, verdicts, layout or Layout())
    if fmt == "markdown" and outcome is not None:  # a CI job summary says first why it is red
        text = gate_markdown(outcome) + "\n" + text
    if files.output is not None:
        write_output(files.output, text.encode())  # "-" is stdout
    if files.plots:
        plots = (files.plot, files.plot_eps, files.plot_defenses)
        write_report_plots(ctx.ws, filters, *(None if p is None else Path(p) for p in plots))
    if outcome is not None:
        save_if_passed(outcome)
    expected = None if declared is None else outcomes(declared, verdicts)
    return ReportOutcome(text, outcome, files, expected)


def compare(a: Path | str, b: Path | str) -> list[Row]:
    """Two results documents (`report --format json` or `--save-baseline`) compared, for people: a
    row per record matched by (run_id, attack_id) and per worst case (run_id, robust_id), with A
    and B, their 95% intervals and n, B - A, Fisher's exact p and whether the intervals overlap;
    records only in A or only in B have one side None. No verdict: the CI gate is `report`'s."""
    return compare_files(Path(a), Path(b))


def list_runs(workspace: Where = None, runs: Runs = None) -> list[tuple[RunRecord, int]]:
    """The stored models (or those of `runs`), each with its number of current attack results."""
    ws = _reading(workspace).ws
    return [(rec, len(ws.load_results(rec.run_id))) for rec in select_runs(ws, _filters(runs))]


def import_weights(workspace: Where, file: Path | str, **config: Any) -> tuple[RunRecord, bool]:
    """Store weights trained elsewhere (a .safetensors file, or a .pt/.pth state_dict read with
    weights_only=True) as a run with TrainConfig fields `config` (dataset, act, temp, arch). The
    bool says whether it was stored now (False: this file was imported before; the context's `force`
    stores it again)."""
    cfg = TrainConfig(**config)
    input_file(file, "weights file")  # not a FIFO or a device; before torch is imported
    ctx = _context(workspace)  # torch: once the input is valid
    from .checkpoints import import_weights as store_weights

    return store_weights(ctx, Path(file), cfg)


def presets() -> list[dict[str, str]]:
    """The shipped presets: name, description and the file to copy for a preset of one's own."""
    return listing()


def doctor(workspace: Path | str | None = None, data_dir: Path | str | None = None) -> Report:
    """What `hotbench doctor` reports: versions, platform, devices, threads, the workspace, which
    datasets are found, and the problems (`report.ok` is False when a command would fail)."""
    from .doctor import examine  # torch: its versions and devices

    return examine(None if workspace is None else Path(workspace), data_dir and Path(data_dir))


def attacks() -> list[dict[str, Any]]:
    """Every registered attack: name, norm, what it follows, which suite uses it, its cost, its
    parameters with their defaults, and its description."""
    return attack_listing()


def load_results(workspace: Where = None, runs: Runs = None) -> dict[str, Any]:
    """The versioned results document (docs/results-schema.md): `records`, one per stored model and
    attack config, and `robust`, the per-sample worst case per model, eval T and budget."""
    return results_document(_context(workspace).ws, _filters(runs))
