"""Presets: every shipped preset validates; bad presets are one line naming file and key (exit 2); a
preset expands to the plan it describes; `hotbench run` resumes an interrupted sweep without redoing
stored work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hotbench.sweep.local
import hotbench.units
from hotbench.cli import app
from hotbench.errors import HotbenchError
from hotbench.store import Workspace
from hotbench.sweep.preset_files import PRESET_DIR, available, parse_param
from hotbench.sweep.presets import load

runner = CliRunner()
SHIPPED = sorted(PRESET_DIR.glob("*.yaml"))

# A preset small enough to train and attack in a few seconds: two digits models, two attacks.
TINY = """\
description: test preset
train:
  datasets: [digits]
  acts: [tanh, none]
  temps: [5]
  temps_by_act: {none: [1]}
  epochs: 2
  n_train: 300
attack:
  n_samples: 30
  eval_temps: [train, 1]
  attacks:
    - method: fgsm
      eps: 0.3
    - method: pgd
      eps: [0.1, 0.3]
      steps: 3
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_presets_are_shipped():
    assert {"quick", "paper-mnist", "paper-cifar10", "ci-smoke"} <= set(available())


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_preset_loads_and_expands(path):
    loaded_path, preset = load(path.stem)
    assert loaded_path == path
    plan = preset.plan()
    assert plan.train and plan.attack
    assert len({c.run_id for c in plan.train}) == len(plan.train)
    # the same file named by path gives the same plan
    assert load(str(path))[1].plan().train == plan.train


def test_quick_matches_the_issue():
    plan = load("quick")[1].plan()
    assert {(c.dataset, c.act) for c in plan.train} == {("digits", "tanh"), ("digits", "none")}
    assert sorted({c.temp for c in plan.train}) == [1, 10, 50, 100]
    # the paper's attacks (issue 3), and those that expose the masking in the report's worst case
    # (issue 4)
    assert {a.method for a in plan.attack} == {
        "fgsm",
        "pgd",
        "cw",
        "deepfool",
        "transfer",
        "square",
    }
    assert {a.on for a in plan.attack if a.method == "pgd"} == {"output", "logits"}
    assert {a.eval_temp for a in plan.attack} == {None, 1.0}  # None = the training temperature
    # one sample set for every attack: the demo's worst case is on the samples of every cell
    assert {a.n_samples for a in plan.attack} == {100}


def test_paper_presets_cover_the_paper():
    for name, dataset in (("paper-mnist", "mnist"), ("paper-cifar10", "cifar10")):
        plan = load(name)[1].plan()
        assert {c.dataset for c in plan.train} == {dataset}
        assert {"tanh", "sigmoid", "none"} <= {c.act for c in plan.train}
        assert max(c.temp for c in plan.train) >= 100 and min(c.temp for c in plan.train) == 1
        assert {"fgsm", "bim", "pgd", "mim", "cw", "deepfool"} <= {a.method for a in plan.attack}
        assert {"random", "least-likely", None} <= {a.targeted for a in plan.attack}
        assert len({a.eps for a in plan.attack if a.method == "pgd"}) >= 3
        text = (PRESET_DIR / f"{name}.yaml").read_text()
        assert "# choice" in text


def test_tiny_preset_expands_to_the_cross_product(tmp_path):
    preset = load(str(write(tmp_path, TINY)))[1]
    plan = preset.plan()
    assert [(c.act, c.temp, c.epochs, c.n_train) for c in plan.train] == [
        ("tanh", 5, 2, 300),
        ("none", 1, 2, 300),
    ]
    # fgsm x 1 eps + pgd x 2 eps, each at eval T in {train, 1}
    assert len(plan.attack) == 6
    assert [(a.method, a.eps, a.eval_temp) for a in plan.attack][:2] == [
        ("fgsm", 0.3, None),
        ("fgsm", 0.3, 1.0),
    ]
    assert all(a.n_samples == 30 and a.steps in (3, 40) for a in plan.attack)
    assert preset.plan(attacks=False).attack == []


def test_attack_entry_keys_reach_the_configs(tmp_path):
    text = TINY.replace(
        "      steps: 3\n",
        "      steps: 3\n      alpha: 0.05\n      targeted: [null, random]\n"
        "      on: [output, logits]\n      params: {random_start: false}\n      n_samples: 7\n",
    )
    pgd = [a for a in load(str(write(tmp_path, text)))[1].plan().attack if a.method == "pgd"]
    assert len(pgd) == 2 * 2 * 2 * 2  # eps x targeted x on x eval T
    assert {a.targeted for a in pgd} == {None, "random"} and {a.on for a in pgd} == {
        "output",
        "logits",
    }
    assert all(
        a.alpha == 0.05 and a.params == {"random_start": False} and a.n_samples == 7 for a in pgd
    )


BAD = [
    # (what to change in TINY, key the message must name, words it must contain)
    (
        ("  epochs: 2\n", "  epochs: 2\n  epoch: 3\n"),
        "train.epoch",
        "allowed keys: datasets, acts, temps",
    ),
    (
        ("description: test preset\n", "description: test preset\nsweep: 1\n"),
        "sweep",
        "allowed keys: description",
    ),
    (
        ("      steps: 3\n", "      steps: 3\n      stpes: 5\n"),
        "attack.attacks[1].stpes",
        "allowed keys: method, eps",
    ),
    (("  epochs: 2\n", "  epochs: two\n"), "train.epochs", "valid integer"),
    (("  n_samples: 30\n", "  n_samples: -1\n"), "attack.n_samples", "greater than 0"),
    (
        ("- method: pgd\n", "- method: pgdd\n"),
        "attack.attacks[1].method",
        "unknown attack 'pgdd'; allowed: fgsm, bim, pgd",
    ),
    (
        ("acts: [tanh, none]", "acts: [tanh, relu]"),
        "train.acts",
        "unknown activation 'relu'; allowed: none, tanh",
    ),
    (("datasets: [digits]", "datasets: [mnst]"), "train.datasets", "unknown dataset 'mnst'"),
    (("eval_temps: [train, 1]", "eval_temps: [train, 0]"), "attack.eval_temps", "> 0"),
    (
        ("eval_temps: [train, 1]", "eval_temps: [trian]"),
        "attack.eval_temps",
        "'train' (the model's T) or numbers",
    ),
    (
        ("      steps: 3\n", "      steps: 3\n      targeted: sideways\n"),
        "attack.attacks[1].targeted[0]",
        "'random' or 'least-likely'",
    ),
    (
        ("      eps: 0.3\n", "      eps: 0.3\n      params: {c: 1}\n"),
        "attack.attacks[0]",
        "has no parameter 'c'; allowed: none",
    ),
    (
        ("- method: fgsm\n      eps: 0.3\n", "- method: deepfool\n      targeted: random\n"),
        "attack.attacks[0]",
        "no targeted mode",
    ),
    (("- method: fgsm\n", "- method: cw\n"), "attack.attacks[0]", "minimum-norm and takes no eps"),
    # an option the attack does not use was ignored without a word (fgsm steps eps once)
    (
        ("      eps: 0.3\n", "      eps: 0.3\n      alpha: 0.1\n"),
        "attack.attacks[0]",
        "fgsm takes no step size (alpha): it steps eps once; remove alpha",
    ),
    (
        ("      eps: 0.3\n", "      eps: 0.3\n      steps: 40\n"),
        "attack.attacks[0]",
        "fgsm takes no iteration count (steps): it steps eps once; remove steps",
    ),
    (("temps_by_act: {none: [1]}", "temps_by_act: {sigmoid: [1]}"), "train", "not in acts"),
    (("  temps: [5]\n", ""), "train.temps", "missing required key"),
]


@pytest.mark.parametrize("change,key,words", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_preset_is_one_line_naming_file_and_key(tmp_path, change, key, words):
    assert change[0] in TINY
    path = write(tmp_path, TINY.replace(change[0], change[1], 1), "bad.yaml")
    with pytest.raises(HotbenchError) as err:
        load(str(path))
    msg = str(err.value)
    assert str(path) in msg and f"'{key}'" in msg and words in msg, msg
    for command in (["run", str(path)], ["train", "--preset", str(path)]):
        r = runner.invoke(app, command + ["-w", str(tmp_path / "ws")])
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and key in lines[0], r.output
    assert not (tmp_path / "ws" / "runs").exists()  # nothing ran


@pytest.mark.parametrize(
    "text,words",
    [
        ("train:\n  acts: [tanh\n  temps: [1]\n", "malformed YAML at line"),
        ("train: {acts: [tanh], temps: [1]\n", "malformed YAML at line"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("", "top level must be a mapping"),
    ],
)
def test_malformed_yaml_is_one_line(tmp_path, text, words):
    path = write(tmp_path, text, "broken.yaml")
    r = runner.invoke(app, ["run", str(path), "-w", str(tmp_path / "ws")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert str(path) in r.output and words in r.output, r.output


def test_unknown_preset_name_suggests(tmp_path):
    r = runner.invoke(app, ["run", "quik", "-w", str(tmp_path / "ws")])
    assert (
        r.exit_code == 2
        and "unknown preset 'quik'" in r.output
        and "did you mean 'quick'" in r.output
    )
    r = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "not found" in r.output


def test_yes_no_on_off_are_not_booleans(tmp_path):
    """YAML 1.1 reads `on:` as True; presets use YAML 1.2 booleans so the attack key `on` works."""
    text = TINY.replace("      eps: 0.3\n", "      eps: 0.3\n      on: logits\n")
    fgsm = [a for a in load(str(write(tmp_path, text)))[1].plan().attack if a.method == "fgsm"]
    assert {a.on for a in fgsm} == {"logits"}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("c=1.0", ("c", 1.0)),
        ("steps=5", ("steps", 5)),
        ("random_start=false", ("random_start", False)),
        ("on=yes", ("on", "yes")),
        (" kappa = 0 ", ("kappa", 0)),
        # YAML 1.2 floats: an exponent without a dot is a number (deepfool's push, as its help
        # writes it), where YAML 1.1 reads a string
        ("push=1e-4", ("push", 1e-4)),
        ("c=1E3", ("c", 1000.0)),
        ("lr=-2e+1", ("lr", -20.0)),
        ("seed=12", ("seed", 12)),
    ],
)
def test_parse_param(text, expected):
    assert parse_param(text) == expected


def test_executor_option_lists_and_checks_names(tmp_path):
    path = write(tmp_path, TINY)
    r = runner.invoke(
        app, ["run", str(path), "--executor", "nope", "-w", str(tmp_path / "ws"), "-q"]
    )
    assert r.exit_code == 2 and "unknown executor 'nope'" in r.output and "local" in r.output
    assert not (tmp_path / "ws" / "runs").exists()


def _records(ws: Path) -> list[dict]:
    r = runner.invoke(app, ["report", "-w", str(ws), "--format", "json"])
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)["records"]
    keep = ("run_id", "attack_id", "clean_acc", "adv_acc", "success_rate", "mean_l2", "n_samples")
    return [{k: x[k] for k in keep} for x in recs]


@pytest.mark.slow  # ~15 s on 2 idle cores: three trainings and nine attacks through the CLI
def test_parts_and_report_of_a_preset(tmp_path):
    path, w = str(write(tmp_path, TINY)), str(tmp_path / "ws")
    r = runner.invoke(app, ["attack", "--preset", path, "-w", w, "-q"])
    assert r.exit_code == 2 and "not trained" in r.output and "hotbench train --preset" in r.output
    assert runner.invoke(app, ["train", "--preset", path, "-w", w, "-q"]).exit_code == 0
    ws = Workspace(w)
    assert len(ws.records()) == 2 and not any(ws.load_results(r.run_id) for r in ws.records())
    assert runner.invoke(app, ["attack", "--preset", path, "-w", w, "-q"]).exit_code == 0
    # eval T = train T = 1 and eval T = 1 are the same config on the none model: stored once
    assert sorted(len(ws.load_results(r.run_id)) for r in ws.records()) == [3, 6]
    # a model outside the preset is not in the preset's report
    assert (
        runner.invoke(app, ["train", "-w", w, "--act", "sigmoid", "--epochs", "1", "-q"]).exit_code
        == 0
    )
    r = runner.invoke(app, ["report", "--preset", path, "-w", w, "--format", "csv"])
    assert r.exit_code == 0 and "sigmoid" not in r.stdout and r.stdout.count("\n") == 1 + 3
    assert "sigmoid" in runner.invoke(app, ["report", "-w", w, "--format", "csv"]).stdout


def test_interrupted_preset_resumes_without_redoing_work(tmp_path, monkeypatch):
    # Ray imported by an earlier test of this process: a command invoked in-process must still
    # return its exit code, not end the caller's process (the `hotbench` process does, after Ray)
    monkeypatch.setitem(sys.modules, "ray", sys.modules.get("ray", object()))
    path = str(write(tmp_path, TINY))
    # reference: an uninterrupted run in another workspace
    ref = tmp_path / "ref"
    r = runner.invoke(app, ["run", path, "-w", str(ref), "-q", "--format", "json"])
    assert r.exit_code == 0, r.output

    # interrupted run: Ctrl-C as the sweep reaches its second model (the first is trained and
    # attacked)
    ws = tmp_path / "ws"
    real_ensure_trained = hotbench.sweep.local.ensure_trained
    calls = {"n": 0}

    def interrupting(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_ensure_trained(*a, **kw)

    monkeypatch.setattr(hotbench.sweep.local, "ensure_trained", interrupting)
    r = runner.invoke(app, ["run", path, "-w", str(ws), "-q"])
    assert r.exit_code == 130 and "run the same command again to resume" in r.output
    monkeypatch.setattr(hotbench.sweep.local, "ensure_trained", real_ensure_trained)
    (first,) = Workspace(ws).records()
    stored = {p: p.stat().st_mtime_ns for p in first.path.rglob("*") if p.is_file()}
    assert len(list((first.path / "attacks").glob("*.json"))) == 6

    # resume: count the real work done
    work = {"train": 0, "attack": 0}
    real_train, real_attack = hotbench.units.train_model, hotbench.units.run_attack

    def count(kind, fn):
        def wrapped(*a, **kw):
            work[kind] += 1
            return fn(*a, **kw)

        return wrapped

    monkeypatch.setattr(hotbench.units, "train_model", count("train", real_train))
    monkeypatch.setattr(hotbench.units, "run_attack", count("attack", real_attack))
    r = runner.invoke(app, ["run", path, "-w", str(ws)])
    assert r.exit_code == 0, r.output
    assert work == {
        "train": 1,
        "attack": 3,
    }  # only the second model (none T=1: 3 distinct attack configs)
    assert "11 units: 4 computed (1 train, 3 attack), 7 already stored" in r.output
    assert {
        p: p.stat().st_mtime_ns for p in stored
    } == stored  # the first model's files were not rewritten
    assert _records(ws) == _records(ref)

    # a third run does nothing at all
    work.update(train=0, attack=0)
    r = runner.invoke(app, ["run", path, "-w", str(ws)])
    assert r.exit_code == 0 and work == {"train": 0, "attack": 0}
    assert "all 11 units already stored, nothing computed" in r.output


def test_presets_command_lists_names_descriptions_and_files():
    result = runner.invoke(app, ["presets", "--format", "json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert {e["name"] for e in entries} == set(available())
    quick = next(e for e in entries if e["name"] == "quick")
    assert quick["description"] and Path(quick["path"]) == PRESET_DIR / "quick.yaml"
    table = runner.invoke(app, ["presets"])
    assert table.exit_code == 0 and "paper-mnist-cpu" in table.stdout
    bad = runner.invoke(app, ["presets", "--format", "xml"])
    assert bad.exit_code == 2 and "unknown format 'xml'" in bad.output


# ---- the whole preset is valid before anything is trained (issues 29 and 30) ---------------------
def _refused(tmp_path, text, *words, name="p.yaml"):
    """`run` fails in one line naming the file and `words`, and trains nothing."""
    path = write(tmp_path, text, name)
    ws = tmp_path / "ws"
    r = runner.invoke(app, ["run", str(path), "-w", str(ws), "--device", "cpu", "-q"])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and "Traceback" not in r.output, r.output
    assert lines[0].startswith("error: ") and str(path) in lines[0], r.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not (ws / "runs").exists() or not any((ws / "runs").glob("*/run.json")), "it trained"
    return lines[0]


def test_duplicate_key_is_refused_not_the_last_one_taken(tmp_path):
    text = TINY.replace("  epochs: 2\n", "  epochs: 2\n  lr: 0.01\n  epochs: 200\n")
    line = _refused(tmp_path, text, "duplicate key 'epochs' at line 9", "first at line 7")
    assert "keep one" in line
    # in a nested mapping too; a YAML merge key (<<) may still override what it merges
    _refused(
        tmp_path, TINY.replace("      steps: 3\n", "      steps: 3\n      steps: 4\n"), "steps"
    )
    merged = "base: &b {epochs: 2}\n" + TINY.replace("  epochs: 2\n", "  <<: *b\n  epochs: 3\n")
    with pytest.raises(HotbenchError, match="unknown key 'base'"):  # parsed: only the key is bad
        load(write(tmp_path, merged, "merge.yaml"))


@pytest.mark.parametrize("style", ["block", "flow", "sequence"])
def test_deeply_nested_yaml_is_one_line(tmp_path, style):
    depth = 3000
    if style == "block":
        depth = 1200  # one space a level: 3,000 levels would pass the 1 MiB bound first
        text = "".join(f"{' ' * i}k{i}:\n" for i in range(depth)) + " " * depth + "v\n"
    elif style == "flow":
        text = "train: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "train:\n  acts:\n  " + "- " * depth + "tanh\n"
    _refused(tmp_path, text, "nests deeper than", "levels")


@pytest.mark.parametrize(
    "change,key,words",
    [
        (("  n_samples: 30\n", "  n_samples: 1e30\n"), "attack.n_samples", "1e+30"),
        (("  n_samples: 30\n", "  n_samples: 398\n"), "attack.n_samples", "test set (397)"),
        (
            ("      steps: 3\n", "      steps: 3\n      n_samples: 398\n"),
            "attack.attacks[1].n_samples",
            "test set (397)",
        ),
        (
            ("  n_train: 300\n", "  n_train: 99999999999999999999\n"),
            "train.n_train",
            "training set (1400)",
        ),
    ],
)
def test_sizes_beyond_the_dataset_are_refused_before_training(tmp_path, change, key, words):
    """n_samples 1e30 was refused only after a model had been trained, without the file's name."""
    assert change[0] in TINY
    _refused(tmp_path, TINY.replace(*change), f"'{key}'", words)


@pytest.mark.parametrize("temp", ["1e-320", "1e39"])
def test_temperatures_beyond_float32_are_refused(tmp_path, temp):
    _refused(tmp_path, TINY.replace("temps: [5]", f"temps: [{temp}]"), "'train.temps'", "float32")
    _refused(tmp_path, TINY.replace("eval_temps: [train, 1]", f"eval_temps: [{temp}]"), "float32")
