"""Rules of the code base that no linter checks (README, "Architecture"); the layers themselves are
import-linter contracts in pyproject.toml (`make lint`)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hotbench"
MAX_PARAMS = 6
MAX_MODULE_LINES = 500


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def _is_cli_command(fn: ast.FunctionDef) -> bool:
    """A Typer command: its parameters are the command's options, so they are exempt."""
    for d in fn.decorator_list:
        call = d.func if isinstance(d, ast.Call) else d
        if isinstance(call, ast.Name) and call.id == "cli_command":
            return True
    return False


def test_no_function_takes_more_than_six_parameters():
    """Seven or more loose parameters are a Context (hotbench.context) or a dataclass waiting to
    happen; only the CLI commands, whose parameters are their options, may have more."""
    too_many = []
    for path, tree in _modules():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or _is_cli_command(fn):
                continue
            a = fn.args
            names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
            if names[:1] in (["self"], ["cls"]):
                names = names[1:]
            n = len(names) + (a.vararg is not None) + (a.kwarg is not None)
            if n > MAX_PARAMS:
                too_many.append(f"{path.relative_to(PACKAGE.parent)}:{fn.lineno} {fn.name} ({n})")
    assert not too_many, "functions with more than 6 parameters:\n" + "\n".join(too_many)


def test_no_private_name_is_imported_across_modules():
    """A name another module needs is public: no `from .x import _name` inside the package."""
    private = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (
                node.level or "hotbench" in (node.module or "")
            ):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        private.append(
                            f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {alias.name}"
                        )
    assert not private, "private names imported from other modules:\n" + "\n".join(private)


def test_imports_are_at_module_top_unless_optional_or_heavy():
    """Imports inside functions only for optional or slow-to-import packages (never for a cycle: the
    layers have none). torch (seconds to import) and what pulls it in (numpy with the data,
    safetensors' torch half) are slow, and so is scipy.stats (a second; only the intervals and
    tests need it); hotbench's own modules may be imported inside functions only
    by the modules on the path of `--help`, a bad option and `report` (issue 15), which import the
    torch-importing library code where a command computes (tests/test_startup.py checks that they
    do not import torch)."""
    lazy_ok = {"matplotlib", "ray", "torchattacks", "sklearn", "torchvision"}
    lazy_ok |= {"torch", "numpy", "safetensors", "scipy"}
    light_path = {
        "hotbench/cli/base.py",
        "hotbench/cli/compute.py",
        "hotbench/cli/info.py",
        "hotbench/cli/options.py",
        "hotbench/cli/results.py",
        "hotbench/api.py",
        "hotbench/attacks/catalog.py",
        "hotbench/reports/formats.py",
        "hotbench/evaluate/diagnose/run.py",
        "hotbench/evaluate/diagnose/measurements.py",
        "hotbench/store.py",
        "hotbench/sweep/presets.py",
        "hotbench/sweep/lifeline.py",  # a pool worker is tied to its driver before torch loads
    }
    inside = []
    for path, tree in _modules():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    mods = ["." * node.level + (node.module or "")]
                else:
                    continue
                where = str(path.relative_to(PACKAGE.parent))
                for m in mods:
                    if m.startswith(".") and where in light_path:
                        continue
                    if m.split(".")[0] not in lazy_ok:
                        inside.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {m}")
    assert not inside, "imports inside functions:\n" + "\n".join(inside)


MAX_COMMAND_LINES = 30


def test_cli_commands_are_thin():
    """A command parses (its signature), calls the API and prints: its body, docstring aside, is at
    most 30 lines; what it would do beyond that belongs in hotbench.api, where Python callers and
    tests reach it too."""
    long = []
    for path, tree in _modules():
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and _is_cli_command(fn):
                body = fn.body[1:] if ast.get_docstring(fn) else fn.body
                n = body[-1].end_lineno - body[0].lineno + 1
                if n > MAX_COMMAND_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{fn.lineno} {fn.name} ({n})")
    assert not long, "CLI commands longer than 30 lines:\n" + "\n".join(long)


def test_where_data_is_resolved_in_one_place():
    """Where a dataset is looked for is data.data_folders' rule (--data-dir, then the folder a run's
    run.json recorded, else the default): no other module reads the default folder or the recorded
    one itself (they were resolved in six places, one without the run.json fallback)."""
    readers = {"default_data_dir(": "hotbench/data.py", '.get("data")': "hotbench/store.py"}
    elsewhere = [
        f"{path.relative_to(PACKAGE.parent)}: {text}"
        for path, _ in _modules()
        for text, home in readers.items()
        if text in path.read_text() and str(path.relative_to(PACKAGE.parent)) != home
    ]
    assert not elsewhere, "data folders resolved outside data.data_folders:\n" + "\n".join(
        elsewhere
    )


def test_a_context_is_made_by_its_constructors_only():
    """Context.create (a computing command) or Context.for_reading (report, ls): a Context built by
    hand (the report built one with a device it never resolved, under a `type: ignore`) escapes what
    they guarantee."""
    by_hand = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path, tree in _modules()
        if path.name != "context.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Context"
    ]
    assert not by_hand, "Contexts built by hand:\n" + "\n".join(by_hand)


def test_no_module_is_over_500_lines():
    """A module over 500 lines holds more than one job (issue 27: the attack engine, the gate and
    the presets each held three or four; reports/tables.py held the table's rows, the file formats
    and the terminal's panels in 740): split it into modules named for each job, rather than raise
    the limit."""
    long = [
        f"{path.relative_to(PACKAGE.parent)} ({n} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "modules over 500 lines:\n" + "\n".join(long)


def test_a_budget_is_held_to_its_threat_model_in_one_place():
    """hotbench.eps.eps_value is the rule that reads a budget and holds it to its threat model;
    config's attack_budget and training_budget apply it, and AttackConfig, TrainConfig and presets
    call those. Nothing else calls check_eps: AttackConfig and presets each held a copy of the
    rule (issue 27), free to drift apart."""
    callers = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path, tree in _modules()
        if path.name != "eps.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "check_eps"
    ]
    assert not callers, "check_eps called outside hotbench.eps:\n" + "\n".join(callers)
