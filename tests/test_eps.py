"""Perturbation budgets: fractions (8/255) are read in configs and presets and shown as written,
a Linf budget above 1 is refused with the fraction it most likely meant, L2 keeps its own range,
-0.0 is 0, and budgets beyond float32 are one line (hotbench.eps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotbench.config import AttackConfig, TrainConfig
from hotbench.eps import check_eps, fmt_eps, parse_eps
from hotbench.errors import HotbenchError
from hotbench.sweep.presets import load

PRESET = """\
description: eps test
train:
  datasets: [digits]
  acts: [tanh]
  temps: [1]
  epochs: 1
attack:
  n_samples: 10
  attacks:
    - method: pgd
      eps: {eps}
      steps: 2
"""


def test_a_fraction_is_read_and_stored_as_its_float():
    assert parse_eps("8/255") == 8 / 255
    assert parse_eps(" 0.3 ") == 0.3
    cfg = AttackConfig(method="pgd", eps="8/255")
    assert cfg.eps == 8 / 255
    assert cfg.attack_id("r") == AttackConfig(method="pgd", eps=8 / 255).attack_id("r")


def test_a_fraction_is_shown_as_the_fraction():
    assert AttackConfig(method="pgd", eps="8/255").label == "pgd ε=8/255"
    assert fmt_eps(8 / 255) == "8/255"
    assert fmt_eps(0.3) == "0.3" and fmt_eps(0.1 + 0.2) == "0.3"  # a decimal stays one
    assert fmt_eps(2 / 255) == "2/255" and fmt_eps(1.0) == "1"


@pytest.mark.parametrize("value", ["8", 8, 8.0])
def test_linf_above_one_is_refused_with_the_fraction_it_meant(value):
    with pytest.raises(HotbenchError) as exc:
        AttackConfig(method="pgd", eps=value)
    text = str(exc.value)
    assert "above 1" in text and "did you mean 8/255 = 0.0314?" in text
    assert "\n" not in text


def test_l2_keeps_its_own_range():
    assert AttackConfig(method="pgdl2", eps=8).eps == 8.0
    with pytest.raises(HotbenchError, match="float32"):
        AttackConfig(method="pgdl2", eps=1e39)


@pytest.mark.parametrize(
    "value", ["1e308", "1e39", 1e39, "inf", "nan", "-0.1", "1/0", "abc", "8/x"]
)
def test_impossible_budgets_are_one_line(value):
    with pytest.raises(HotbenchError) as exc:
        AttackConfig(method="pgd", eps=value)
    assert "\n" not in str(exc.value) and "eps" in str(exc.value)


def test_minus_zero_is_zero():
    cfg = AttackConfig(method="pgd", eps=-0.0)
    assert cfg.label == "pgd ε=0" and str(cfg.eps) == "0.0"
    assert cfg.attack_id("r") == AttackConfig(method="pgd", eps=0.0).attack_id("r")
    assert fmt_eps(-0.0) == "0"


def test_train_eps_takes_fractions_and_refuses_pixels():
    cfg = TrainConfig(act="none", defense="pgd-at", train_eps="8/255")
    assert cfg.train_eps == 8 / 255
    with pytest.raises(HotbenchError, match=r"did you mean 8/255 = 0\.0314\?"):
        TrainConfig(act="none", defense="pgd-at", train_eps=8)
    with pytest.raises(HotbenchError, match="train-eps"):
        TrainConfig(act="none", defense="pgd-at", train_eps=0)


def test_check_eps_without_a_budget():
    assert check_eps(5.0, None) == 5.0  # a minimum-norm attack's eps is no budget


def test_a_preset_takes_fractions(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(PRESET.format(eps="[8/255, 0.1]"))
    _, preset = load(path)
    configs = preset.plan().attack
    assert sorted(c.eps for c in configs) == [8 / 255, 0.1]
    assert "pgd ε=8/255" in {c.label for c in configs}


def test_a_preset_with_pixels_names_file_key_and_fraction(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(PRESET.format(eps="[8]"))
    with pytest.raises(HotbenchError) as exc:
        load(path)
    text = str(exc.value)
    assert str(path) in text and "eps" in text and "8/255 = 0.0314" in text
    assert "\n" not in text


def test_a_preset_train_eps_fraction(tmp_path: Path):
    text = PRESET.format(eps="0.1").replace("  epochs: 1\n", "  epochs: 1\n  defenses: [pgd-at]\n")
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("  epochs: 1\n", "  epochs: 1\n  train_eps: 8/255\n"))
    _, preset = load(path)
    assert preset.plan().train[0].train_eps == 8 / 255
    path.write_text(text.replace("  epochs: 1\n", "  epochs: 1\n  train_eps: 8\n"))
    with pytest.raises(HotbenchError, match="8/255 = 0.0314"):
        load(path)


# ---- the command line (issue 26: `--eps 8/255` got "Input should be a valid number") ----------
def test_the_cli_takes_a_fraction_and_stores_the_float(trained_ws):
    from typer.testing import CliRunner

    from hotbench.cli import app

    w = str(trained_ws.root)
    args = ["attack", "-w", w, "--method", "fgsm", "--n-samples", "5", "-q", "--eps", "8/255"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    eps = {
        doc["config"]["eps"]
        for rec in trained_ws.records()
        for doc in trained_ws.load_results(rec.run_id)
    }
    assert 8 / 255 in eps


@pytest.mark.parametrize(
    "value, words",
    [
        ("8", "did you mean 8/255 = 0.0314?"),
        ("1e308", "above 1"),
        ("1e39", "above 1"),
        ("abc", "not a number or a fraction"),
        ("1/0", "divides by zero"),
    ],
)
def test_the_cli_refuses_impossible_budgets_in_one_line(trained_ws, value, words):
    from typer.testing import CliRunner

    from hotbench.cli import app

    w = str(trained_ws.root)
    r = CliRunner().invoke(app, ["attack", "-w", w, "--method", "fgsm", "--eps", value, "-q"])
    assert r.exit_code == 2, r.output
    assert words in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert "Traceback" not in r.output


def test_the_cli_train_eps_takes_a_fraction(tmp_path):
    from typer.testing import CliRunner

    from hotbench.cli import app

    args = ["train", "-w", str(tmp_path), "--defense", "pgd-at", "--act", "none", "--epochs", "0"]
    r = CliRunner().invoke(app, [*args, "--train-eps", "8"])
    assert r.exit_code == 2 and "8/255 = 0.0314" in r.stderr, r.output


@pytest.mark.parametrize(
    "method, value",
    [("pgd", "8"), ("pgd", "1.5"), ("pgd", "-0.1"), ("pgd", "1/0"), ("pgd", "abc")]
    + [("pgdl2", "1e39"), ("pgdl2", "-1"), ("pgdl2", "nan")],
)
def test_a_preset_refuses_the_budgets_a_config_refuses_in_the_same_words(tmp_path, method, value):
    """One rule (config.attack_budget) reads --eps and a preset's eps: a preset must not load a
    budget its attacks would be refused with, nor word the refusal otherwise (but for the key)."""
    with pytest.raises(HotbenchError) as direct:
        AttackConfig(method=method, eps=value)
    path = tmp_path / "p.yaml"
    path.write_text(PRESET.format(eps=f"['{value}']").replace("method: pgd", f"method: {method}"))
    with pytest.raises(HotbenchError) as preset:
        load(path)
    assert direct.value.problem.replace("--eps", "eps") in str(preset.value)
