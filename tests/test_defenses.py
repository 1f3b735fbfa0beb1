"""Adversarial training (--defense pgd-at | trades) and users' own architectures (--arch
MODULE:CALLABLE): configs and hashes, the training loop, provenance, and every bad input (one line,
exit 2, nothing stored)."""

from __future__ import annotations

import json
import textwrap
import uuid

import pytest
import torch
from typer.testing import CliRunner

from hotbench.checked_files import atomic_write_json
from hotbench.cli import app
from hotbench.config import TrainConfig
from hotbench.data import load_dataset
from hotbench.defenses import DEFENSES
from hotbench.errors import HotbenchError
from hotbench.models import build_model, check_model
from hotbench.store import Workspace

from .conftest import NONE1
from .test_errors import snapshot

runner = CliRunner()

NETS = """
import torch
from torch import nn

def good(input_shape, num_classes):
    c, h, w = input_shape
    layers = [nn.Flatten(), nn.Linear(c * h * w, 32), nn.ReLU(), nn.Linear(32, num_classes)]
    return nn.Sequential(*layers)

def raises(input_shape, num_classes):
    raise ValueError("width must be even")

def wrong_shape(input_shape, num_classes):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes + 1))

def not_a_module(input_shape, num_classes):
    return "a string"


def no_batch(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(0), nn.LazyLinear(num_classes))

NOT_CALLABLE = 3
"""


@pytest.fixture
def user_pkg(tmp_path, monkeypatch) -> str:
    """A user's package in the current directory (as a user runs hotbench from their project):
    returns its unique name (modules are cached per process)."""
    name = f"user_nets_{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "nets.py").write_text(textwrap.dedent(NETS))
    monkeypatch.chdir(tmp_path)
    return name


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


# ---- configs and hashes --------------------------------------------------------------------------
def test_undefended_run_ids_are_unchanged_by_the_defense_fields():
    # the ids of ci/baseline-ci-smoke.json, stored before defenses existed
    assert TrainConfig(act="none", temp=1, epochs=20).run_id == "digits-none-T1-665a18fd"
    assert TrainConfig(act="tanh", temp=50, epochs=20).run_id == "digits-tanh-T50-b77a0f12"


def test_defended_run_ids_are_unchanged_by_the_defense_specs():
    """The ids of defended runs stored before defenses were specs (computed with that code)."""
    assert TrainConfig(act="none", defense="pgd-at").run_id == "digits-none-T1-pgd-at-25792854"
    cfg = TrainConfig(act="tanh", temp=50, defense="pgd-at", train_eps=0.15, train_steps=7)
    assert cfg.run_id == "digits-tanh-T50-pgd-at-5c0c62c0"
    assert TrainConfig(act="none", defense="trades").run_id == "digits-none-T1-trades-270f356d"
    cfg = TrainConfig(act="none", defense="trades", trades_beta=1, train_eps=0.2)  # ints: floats
    assert cfg.run_id == "digits-none-T1-trades-5ffa8715"
    cfg = TrainConfig(dataset="cifar10", act="tanh", defense="trades", train_alpha=0.01)
    assert cfg.run_id == "cifar10-tanh-T1-trades-ee055c55"


def test_defense_and_its_options_are_in_the_config_and_the_hash():
    plain = TrainConfig(act="none")
    at = TrainConfig(act="none", defense="pgd-at", train_eps=0.1)
    assert at.run_id != plain.run_id and "-pgd-at-" in at.run_id
    assert TrainConfig(act="none", defense="pgd-at", train_eps=0.2).run_id != at.run_id
    assert TrainConfig(act="none", defense="trades", train_eps=0.1).run_id != at.run_id
    r = at.resolved()
    # defaults resolved before hashing: writing the default explicitly names the same run
    assert r.defense_params == {"train_eps": 0.1, "train_steps": 10, "train_alpha": 0.025}
    assert (
        TrainConfig(act="none", defense="pgd-at", train_eps=0.1, train_steps=10).run_id == at.run_id
    )
    assert TrainConfig(act="none", defense="trades").resolved().defense_params["trades_beta"] == 6
    # combinable with the temperature defense: one row, one id
    combo = TrainConfig(act="tanh", temp=50, defense="pgd-at", train_eps=0.1)
    assert combo.defense_label == "temperature+pgd-at" and plain.defense_label == "none"
    assert TrainConfig(act="tanh", temp=50).defense_label == "temperature"


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"defense": "pgd-at", "train_eps": 0.0}, "train-eps must be in (0, 1]"),
        ({"defense": "pgd-at", "train_eps": 1.5}, "train-eps must be in (0, 1]"),
        ({"defense": "trades", "train_eps": float("nan")}, "--train-eps must be a finite number"),
        ({"train_eps": 0.1}, "--train-eps is an option of --defense pgd-at or trades"),
        (
            {"defense": "pgd-at", "trades_beta": 6.0},
            "--trades-beta is an option of --defense trades",
        ),
        ({"defense": "pgd-at", "train_steps": 0}, "train-steps must be >= 1"),
        ({"defense": "madry"}, "unknown defense 'madry'"),
    ],
)
def test_bad_defense_options_are_user_errors(kw, needle):
    with pytest.raises(HotbenchError, match=None) as e:
        TrainConfig(**kw)
    assert needle in str(e.value)


# ---- training ------------------------------------------------------------------------------------
def _tiny(defense: str, **kw) -> TrainConfig:
    return TrainConfig(
        act="none",
        defense=defense,
        train_eps=0.1,
        train_steps=2,
        epochs=1,
        n_train=64,
        batch_size=32,
        **kw,
    ).resolved()


def _loss(cfg: TrainConfig):
    return DEFENSES.get(cfg.defense).build_loss(cfg.resolved())


@pytest.mark.parametrize("defense", ["pgd-at", "trades"])
def test_adversarial_training_is_reproducible_and_differs_from_plain(defense):
    from hotbench.training import train_model

    data = load_dataset("digits")
    cpu = torch.device("cpu")
    a = train_model(_tiny(defense), data, cpu, loss_fn=_loss(_tiny(defense)))
    b = train_model(_tiny(defense), data, cpu, loss_fn=_loss(_tiny(defense)))
    plain = TrainConfig(act="none", epochs=1, n_train=64, batch_size=32).resolved()
    c = train_model(plain, data, cpu)
    for (k, va), vb in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(va, vb), k  # same seed, same weights, bit for bit
    assert not all(
        torch.equal(va, vc)
        for va, vc in zip(a.model.state_dict().values(), c.model.state_dict().values(), strict=True)
    )


def test_pgd_at_trains_on_points_inside_its_budget_that_raise_the_loss(monkeypatch):
    """The inner attack is hotbench's seeded PGD: its points stay in the Linf ball and the box and
    have a higher loss than the clean batch (what the outer step then minimises)."""
    cfg = _tiny("pgd-at")
    net = build_model(load_dataset("digits").spec, cfg.arch, cfg.act, cfg.temp)
    data = load_dataset("digits").train.head(32)
    orig = torch.nn.functional.cross_entropy
    from hotbench.attacks import patched

    cls = patched.seeded_pgd_class()
    calls = []
    real_forward = cls.forward

    def forward(self, x, y):
        adv = real_forward(self, x, y)
        calls.append((x, adv))
        return adv

    monkeypatch.setattr(cls, "forward", forward)
    loss = _loss(cfg)(net, data.x, data.y, torch.Generator().manual_seed(0))
    (x, adv) = calls[0]
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert (adv != x).any()
    with torch.no_grad():
        clean = orig(net(x), data.y)
    assert float(loss.detach()) > float(clean)


def test_cli_trains_pgd_at_with_progress_timing_and_config(tmp_path):
    w = tmp_path / "ws"
    r = invoke(
        "train",
        "-w",
        w,
        "--act",
        "tanh",
        "--temp",
        "50",
        "--defense",
        "pgd-at",
        "--train-eps",
        "0.1",
        "--train-steps",
        "2",
        "--epochs",
        "1",
        "--n-train",
        "64",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    assert "trained digits-tanh-T50-pgd-at-" in r.output
    (run,) = Workspace(w).runs.glob("[!.]*")
    doc = json.loads((run / "run.json").read_text())
    params = doc["config"]["defense_params"]
    assert doc["config"]["defense"] == "pgd-at" and params["train_eps"] == 0.1
    assert params["train_steps"] == 2 and doc["metrics"]["train_time_s"] > 0
    ls = invoke("ls", "-w", w)
    assert "temperature+pgd-at" in ls.stdout


# ---- users' own architectures --------------------------------------------------------------------
def test_user_arch_is_wrapped_trained_recorded_and_importable(user_pkg, tmp_path):
    arch = f"{user_pkg}.nets:good"
    spec = load_dataset("digits").spec
    net = check_model(spec, arch, "tanh", 10.0)
    x = torch.rand(3, 1, 8, 8)
    # hotbench's head on the user's logits; inputs reach the user's module unnormalised
    assert torch.allclose(net.deployed(1.0)(x), torch.tanh(net.body(x)))
    w = tmp_path / "ws"
    r = invoke(
        "train", "-w", w, "--arch", arch, "--act", "tanh", "--temp", "10", "--epochs", "2", "-q"
    )
    assert r.exit_code == 0, r.output
    (run,) = Workspace(w).runs.glob("[!.]*")
    doc = json.loads((run / "run.json").read_text())
    assert doc["config"]["arch"] == arch
    src = doc["provenance"]["arch_source"]
    assert (
        src["import_path"] == arch and src["file"].endswith("nets.py") and len(src["sha256"]) == 64
    )
    # the import path is part of the hash: another callable of the same shape is another run
    assert TrainConfig(arch=arch).run_id != TrainConfig(arch=f"{user_pkg}.nets:wrong_shape").run_id
    # weights trained elsewhere (a bare state_dict of the user's module) import and attack
    from safetensors.torch import save_file

    body = net.body
    save_file({k: v.contiguous() for k, v in body.state_dict().items()}, tmp_path / "w.safetensors")
    r = invoke(
        "import-weights", tmp_path / "w.safetensors", "-w", w, "--arch", arch, "--act", "none", "-q"
    )
    assert r.exit_code == 0, r.output
    rid = r.stdout.strip().splitlines()[-1]
    r = invoke(
        "attack",
        "-w",
        w,
        "--run",
        rid,
        "--method",
        "pgd",
        "--steps",
        "2",
        "--n-samples",
        "20",
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert rid in invoke("report", "-w", w).stdout


def test_a_run_whose_user_arch_does_not_import_here_is_listed_and_reported(trained_ws):
    """Reading a workspace from another folder than the one the user's network lives in (the
    worked example's own test did): `ls` and `report` read stored numbers and never build the
    network, so they work (one such run used to stop them for the whole workspace); what loads the
    weights says where to run from and never tells the user to delete an intact run."""
    r = invoke(
        "attack",
        "-w",
        trained_ws.root,
        "--run",
        NONE1.run_id,
        "--method",
        "fgsm",
        "--n-samples",
        "20",
        "-q",
    )
    assert r.exit_code == 0, r.output
    arch = "no_such_user_pkg_xyz.nets:build"
    run_id = _as_if_trained_with(trained_ws, NONE1.run_id, arch, "/home/u/proj/nets.py")
    rec = trained_ws.load_record(run_id)
    assert rec.config.arch == arch
    r = invoke("ls", "-w", trained_ws.root)
    assert r.exit_code == 0, r.output
    assert run_id in r.stdout and arch in r.stdout
    for extra in ([], ["--format", "json"]):  # the stored result is reported (json: its run id)
        r = invoke("report", "-w", trained_ws.root, *extra)
        assert r.exit_code == 0, r.output
        assert "Traceback" not in r.output and "skipped" not in r.output
    assert run_id in r.stdout and '"fgsm"' in r.stdout
    with pytest.raises(HotbenchError) as err:
        trained_ws.load_model(trained_ws.load_record(run_id))
    msg = str(err.value)
    assert "does not import from here" in msg and "/home/u/proj/nets.py" in msg
    assert "PYTHONPATH" in msg and "intact" in msg and "delete" not in msg
    r = invoke("attack", "-w", trained_ws.root, "--run", run_id, "--method", "fgsm", "-q")
    assert r.exit_code == 2 and "does not import from here" in r.output
    assert "delete" not in r.output and "Traceback" not in r.output
    # a transfer attack trains its surrogate before attacking: the target's module is checked
    # first, with the same message
    r = invoke("attack", "-w", trained_ws.root, "--run", run_id, "--method", "transfer", "-q")
    assert r.exit_code == 2 and "does not import from here" in r.output, r.output
    assert "pass --arch" not in r.output
    # the form is still checked on read: a run.json whose arch is not MODULE:CALLABLE is damaged
    doc = {k: v for k, v in rec.doc.items() if k != "checksum"}
    for bad in ("pkg.nets:", "a:b:c", " pkg:f", "1pkg:f", "pkg..nets:f"):
        doc["config"] = {**doc["config"], "arch": bad}
        atomic_write_json(rec.path / "run.json", doc)
        with pytest.raises(HotbenchError, match="not MODULE:CALLABLE"):
            trained_ws.load_record(run_id)


def _as_if_trained_with(ws: Workspace, run_id: str, arch: str, file: str) -> str:
    """Turn a stored run into the run a training with the user's network `arch` (from `file`)
    would have stored: its config, id, folder and results all say so (a run.json edited alone no
    longer hashes to its id, and is skipped). Returns the new run id."""
    import shutil

    from hotbench.config import STORED, AttackConfig

    old = ws.run_dir(run_id)
    doc = {k: v for k, v in ws.load_record(run_id).doc.items() if k != "checksum"}
    doc["config"] = {**doc["config"], "arch": arch}
    doc["provenance"] = {**doc["provenance"], "arch_source": {"file": file}}
    new_id = TrainConfig.model_validate(doc["config"], context={STORED: True}).run_id
    new = ws.run_dir(new_id)
    shutil.copytree(old, new)
    shutil.rmtree(old)
    atomic_write_json(new / "run.json", {**doc, "run_id": new_id})
    for path in (new / "attacks").glob("*.json"):
        result = {k: v for k, v in json.loads(path.read_text()).items() if k != "checksum"}
        result["run_id"] = new_id
        result["attack_id"] = AttackConfig(**result["config"]).attack_id(new_id)
        path.unlink()
        atomic_write_json(path.with_name(f"{result['attack_id']}.json"), result)
    return new_id


@pytest.mark.parametrize(
    "callable_, needle",
    [
        ("no_such_module_xyz.nets:build", "cannot import module 'no_such_module_xyz.nets'"),
        ("{pkg}.nets:missing", "has no attribute 'missing'"),
        ("{pkg}.nets:NOT_CALLABLE", "not a callable"),
        ("{pkg}.nets", "unknown arch"),
        ("{pkg}.nets:raises", "raised ValueError: width must be even"),
        ("{pkg}.nets:wrong_shape", "outputs [2, 11] for a batch of 2, expected [2, 10]"),
        ("{pkg}.nets:not_a_module", "returned a str, not a torch.nn.Module"),
        ("{pkg}.nets:no_batch", "expected [2, 10]"),
    ],
)
@pytest.mark.parametrize("command", ["train", "import-weights"])
def test_bad_user_arch_is_one_line_exit_2_nothing_stored(
    user_pkg, tmp_path, callable_, needle, command
):
    w = tmp_path / "ws"
    Workspace(w).runs.mkdir(parents=True)
    before = snapshot(w)
    arch = callable_.format(pkg=user_pkg)
    if command == "train":
        args = ["train", "-w", w, "--arch", arch, "--epochs", "1", "-q"]
    else:
        f = tmp_path / "w.safetensors"
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(1)}, f)
        args = ["import-weights", f, "-w", w, "--arch", arch, "-q"]
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.output
    assert "Traceback" not in r.output
    assert snapshot(w) == before


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--defense", "pgd-at", "--train-eps", "0"], "train-eps must be in (0, 1]"),
        (["--defense", "pgd-at", "--train-eps", "1.01"], "train-eps must be in (0, 1]"),
        (["--train-eps", "0.1"], "--train-eps is an option of --defense pgd-at or trades"),
        (
            ["--defense", "pgd-at", "--trades-beta", "6"],
            "--trades-beta is an option of --defense trades",
        ),
        (["--defense", "madry"], "unknown defense 'madry'"),
    ],
)
def test_bad_defense_cli_is_one_line_exit_2_nothing_stored(tmp_path, extra, needle):
    w = tmp_path / "ws"
    r = invoke("train", "-w", w, "--epochs", "1", "-q", *extra)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.output
    assert not w.exists()


# ---- presets and the report --------------------------------------------------------------------
def test_preset_crosses_defenses_and_narrows_them_per_activation(tmp_path):
    from hotbench.sweep.presets import load

    _, preset = load("controls")
    labels = sorted(c.defense_label for c in preset.plan(attacks=False).train)
    assert labels == ["none", "pgd-at", "temperature"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  acts: [none]\n  temps: [1]\n  trades_beta: 6\n")
    r = invoke("run", bad, "-w", tmp_path / "ws", "-q")
    assert r.exit_code == 2 and "trades_beta is set but no model" in r.output
    bad.write_text("train:\n  acts: [none]\n  temps: [1]\n  defenses: [madry]\n")
    r = invoke("run", bad, "-w", tmp_path / "ws", "-q")
    assert r.exit_code == 2 and "unknown defense 'madry'" in r.output
    assert not (tmp_path / "ws").exists()


def test_report_has_a_defense_column_in_every_format_and_a_defenses_plot(trained_ws, tmp_path):
    w = str(trained_ws.root)
    r = invoke("attack", "-w", w, "--method", "pgd", "--steps", "2", "--n-samples", "30", "-q")
    assert r.exit_code == 0, r.output
    table = invoke("report", "-w", w).stdout
    assert "defense" in table and "temperature" in table
    csv_head = invoke("report", "-w", w, "--format", "csv").stdout.splitlines()[0].split(",")
    assert csv_head[:3] == ["run_id", "dataset", "defense"]
    md = invoke("report", "-w", w, "--format", "markdown").stdout
    assert "| dataset | defense | act |" in md
    html = invoke("report", "-w", w, "--format", "html").stdout
    assert "<th>defense</th>" in html
    doc = json.loads(invoke("report", "-w", w, "--format", "json").stdout)
    assert {x["defense"] for x in doc["records"]} == {"none", "temperature"}
    assert {x["defense"] for x in doc["robust"]} == {"none", "temperature"}
    png = tmp_path / "defenses.png"
    r = invoke("report", "-w", w, "--plot-defenses", png)
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = invoke("report", "-w", w, "--plot-defenses", tmp_path / "d.gif")
    assert r.exit_code == 2 and "unsupported extension" in r.output
