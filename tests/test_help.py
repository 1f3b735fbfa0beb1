"""Help a new user can read: every option's default shown (rich markup used to delete them), -h,
--version, completion, `python -m hotbench`, no <bool> metavar on flags, examples, and the
`presets` and `attacks` listings."""

from __future__ import annotations

import json
import subprocess
import sys

import typer
from typer.testing import CliRunner

from hotbench.attacks.spec import ATTACKS
from hotbench.cli import app
from hotbench.version import __version__

runner = CliRunner()


def test_every_option_shows_its_default():
    group = typer.main.get_command(app)
    missing, checked = [], 0
    for name, command in group.commands.items():
        ctx = command.context_class(command, info_name=name)  # typer vendors its own click
        for param in command.params:
            if param.param_type_name != "option" or param.is_flag or param.name == "help":
                continue
            checked += 1
            record = param.get_help_record(ctx)
            if (
                record is None or "default: " not in record[1]
            ):  # [default: x] or [env var: ...; default: x]
                missing.append(f"{name} {'/'.join(param.opts)}")
    assert checked > 60 and missing == []


def test_help_keeps_bracketed_defaults_and_has_no_bool_metavar():
    out = runner.invoke(app, ["train", "-h"]).output
    words = " ".join(out.split()).replace("- ", "-")  # read from the dataset specs, wrapped
    assert "[default: the dataset's (digits 40, mnist 5, fashion-mnist 10, cifar10 30)]" in words
    assert "[default: ./hotbench-runs]" in out
    assert "<bool>" not in out and "--force " in out
    out = runner.invoke(app, ["attack", "--help"]).output
    assert "Iterations of iterative attacks [default: 40" in out


def test_top_level_help_has_examples_version_and_completion():
    out = runner.invoke(app, ["-h"]).output
    assert "Examples:" in out and "hotbench run quick" in out
    assert "--install-completion" in out and "--version" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"hotbench {__version__}"


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "hotbench", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == f"hotbench {__version__}"


def test_attacks_lists_every_attack_with_norm_origin_and_cost():
    rows = json.loads(runner.invoke(app, ["attacks", "--format", "json"]).stdout)
    assert [r["name"] for r in rows] == ATTACKS.names()
    by = {r["name"]: r for r in rows}
    assert {n for n, r in by.items() if r["kind"] == "paper"} == {
        "fgsm",
        "bim",
        "pgd",
        "mim",
        "cw",
        "deepfool",
    }
    assert by["pgdl2"]["kind"] == "neither suite" and by["apgd"]["kind"] == "adaptive"
    assert by["square"]["follows"].startswith("scores only")
    assert by["transfer"]["follows"] == "a surrogate's gradient"
    assert by["cw"]["norm"] == "L2 min" and by["pgdl2"]["norm"] == "L2"
    assert all(r["cost"] for r in rows)
    table = runner.invoke(app, ["attacks"], env={"COLUMNS": "80"}).stdout
    assert "autoattack" in table and "black-box" in table


def test_attacks_lists_each_attacks_parameters_with_their_defaults():
    """`--param KEY=VALUE` is discoverable: every key an attack takes, with the default, in the
    table and the JSON (they were only named by the error for an unknown key)."""
    rows = json.loads(runner.invoke(app, ["attacks", "--format", "json"]).stdout)
    by = {r["name"]: r["params"] for r in rows}
    assert by == {name: spec.defaults for name, spec in ATTACKS.items()}
    assert by["deepfool"] == {"overshoot": 0.02, "push": 1e-4} and by["fgsm"] == {}
    table = runner.invoke(app, ["attacks"], env={"COLUMNS": "200"}).stdout
    assert "push=0.0001" in table and "n_queries=" in table
