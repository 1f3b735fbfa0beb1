"""Untrusted checkpoints: weights are read from safetensors or with torch.load(weights_only=True)
only, and a pickle that would run code when loaded is refused before any of it runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from hotbench.checkpoints import import_weights, read_state_dict
from hotbench.cli import app
from hotbench.config import AttackConfig, TrainConfig
from hotbench.context import Context
from hotbench.errors import HotbenchError
from hotbench.store import Workspace
from hotbench.units import ensure_attacked

from .conftest import CPU, TANH50

runner = CliRunner()


class _WritesMarker:
    """Unpickling this calls exec(), which creates `marker`: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _hostile_torch_file(tmp_path: Path, good_state: dict[str, torch.Tensor]) -> tuple[Path, Path]:
    """A real torch checkpoint (zip format) whose state_dict also holds a code-running object."""
    marker = tmp_path / "marker-torch"
    path = tmp_path / "hostile.pt"
    torch.save({**good_state, "evil": _WritesMarker(marker)}, path)
    return path, marker


def _hostile_plain_pickle(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker-pickle"
    path = tmp_path / "hostile.pth"
    path.write_bytes(
        pickle.dumps({"body.0.weight": _WritesMarker(marker)}, protocol=2)
    )  # torch's legacy format
    return path, marker


@pytest.fixture
def state(trained_ws: Workspace) -> dict[str, torch.Tensor]:
    """The state_dict of a real trained model (TANH50) from the shared workspace."""
    return trained_ws.load_model(trained_ws.load_record(TANH50.run_id)).state_dict()


def test_the_hostile_files_really_run_code(tmp_path: Path, state) -> None:
    """Guard for the tests below: the crafted files do execute code when loaded the unsafe way."""
    path, marker = _hostile_torch_file(tmp_path, state)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"
    ppath, pmarker = _hostile_plain_pickle(tmp_path)
    pickle.loads(ppath.read_bytes())
    assert pmarker.is_file()


@pytest.mark.parametrize("kind", ["torch-zip", "plain-pickle"])
def test_code_running_pickle_is_refused_by_cli(kind: str, tmp_path: Path, state) -> None:
    path, marker = (
        _hostile_torch_file(tmp_path, state)
        if kind == "torch-zip"
        else _hostile_plain_pickle(tmp_path)
    )
    ws = tmp_path / "import-ws"
    result = runner.invoke(
        app,
        [
            "import-weights",
            str(path),
            "--dataset",
            "digits",
            "--act",
            "tanh",
            "--temp",
            "50",
            "--device",
            "cpu",
            "-w",
            str(ws),
        ],
    )
    err = result.stderr.strip()
    assert result.exit_code == 2, result.output
    assert len(err.splitlines()) == 1 and "Traceback" not in result.output
    assert f"refused to load '{path}'" in err and "could run code" in err
    assert "it asks to call exec" in err  # names what the file wanted to run
    assert "safetensors" in err  # the fix
    assert not marker.exists(), "the pickle's code ran"
    assert not ws.exists(), "a refused file must not write to the workspace"


def test_import_safetensors_stores_a_run_that_attacks_like_the_original(
    tmp_path: Path, trained_ws: Workspace, state
) -> None:
    src = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(src))
    ws = Workspace(tmp_path / "imported")
    cfg = TrainConfig(dataset="digits", act="tanh", temp=50)
    record, stored = import_weights(Context(ws, CPU), src, cfg)
    assert stored and record.run_id.startswith("digits-tanh-T50-import-")
    assert (
        record.run_id != cfg.run_id
    )  # never confused with a model hotbench trained from this config
    original = trained_ws.load_record(TANH50.run_id)
    assert record.test_acc == pytest.approx(original.test_acc)
    assert record.doc["provenance"]["imported"]["format"] == "safetensors"
    assert import_weights(Context(ws, CPU), src, cfg)[1] is False  # idempotent

    acfg = AttackConfig(method="fgsm", eps=0.1, n_samples=40, eval_temp=1)
    mine, _ = ensure_attacked(Context(ws, CPU), ws.load_record(record.run_id), acfg)
    theirs, _ = ensure_attacked(Context(trained_ws, CPU), original, acfg)
    assert mine["per_sample"]["adv_pred"] == theirs["per_sample"]["adv_pred"]


def test_import_plain_torch_state_dict_via_cli(tmp_path: Path, state) -> None:
    """A bare nn.Sequential state_dict saved with torch.save (keys without HotNet's `body.`) is
    accepted."""
    src = tmp_path / "body.pt"
    torch.save({k[len("body.") :]: v for k, v in state.items()}, src)
    ws = tmp_path / "import-ws"
    result = runner.invoke(
        app,
        [
            "import-weights",
            str(src),
            "--dataset",
            "digits",
            "--act",
            "tanh",
            "--temp",
            "50",
            "--device",
            "cpu",
            "-q",
            "-w",
            str(ws),
        ],
    )
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    assert Workspace(ws).load_record(run_id).doc["provenance"]["imported"]["format"] == "torch"
    listed = runner.invoke(app, ["ls", "-w", str(ws)])
    assert run_id in listed.stdout


@pytest.mark.parametrize(
    "case", ["wrong-arch", "not-safetensors", "nan", "unknown-suffix", "missing", "not-a-dict"]
)
def test_bad_weight_files_are_one_line_errors(case: str, tmp_path: Path, state) -> None:
    path = tmp_path / "w.safetensors"
    cfg = TrainConfig(dataset="digits", act="tanh", temp=50)
    expected = {
        "wrong-arch": "do not fit arch 'digits-cnn'",
        "not-safetensors": "is not a valid safetensors file",
        "nan": "contain NaN or infinite values",
        "unknown-suffix": "unknown weights format '.npz'",
        "missing": "not found",
        "not-a-dict": "does not hold a state_dict",
    }[case]
    if case == "wrong-arch":
        save_file({"body.0.weight": torch.zeros(3, 3)}, str(path))
    elif case == "not-safetensors":
        path.write_bytes(pickle.dumps({"a": 1}))
    elif case == "nan":
        bad = dict(state)
        bad["body.0.bias"] = torch.full_like(bad["body.0.bias"], float("nan"))
        save_file({k: v.contiguous() for k, v in bad.items()}, str(path))
    elif case == "unknown-suffix":
        path = tmp_path / "w.npz"
        path.write_bytes(b"x")
    elif case == "not-a-dict":
        path = tmp_path / "w.pt"
        torch.save([torch.zeros(2)], path)
    ws = Workspace(tmp_path / "import-ws")
    with pytest.raises(
        HotbenchError, match=expected.replace("(", r"\(").replace(".", r"\.")
    ) as info:
        import_weights(Context(ws, CPU), path, cfg)
    assert "\n" not in str(info.value) and info.value.fix
    assert not ws.root.exists()


def test_read_state_dict_unwraps_common_checkpoint_layouts(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model_state_dict": {"module.w": torch.ones(2)}}, path)
    state, fmt = read_state_dict(path)
    assert fmt == "torch" and torch.equal(state["module.w"], torch.ones(2))
