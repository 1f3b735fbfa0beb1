"""Fast answers: `hotbench --help`, every command's help and every bad-input error come without
importing torch or scipy (their imports alone take seconds on a loaded machine); `report` on a
workspace whose diagnostic measurements are stored reads JSON only. Timings are in `make bench`
(section startup), not here: these tests check the cause (what is imported), which does not depend
on the machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hotbench import registry
from hotbench.attacks.spec import ATTACKS

PROBE = """
import json, sys
sys.argv = ["hotbench"] + json.loads(sys.argv[1])
from hotbench.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = [m for m in ("torch", "torchattacks", "matplotlib", "sklearn", "scipy") if m in sys.modules]
print("\\nPROBE", json.dumps({"code": code, "heavy": heavy}))
"""


def probe(*args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line[6:]) | {"stderr": done.stderr}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["attack", "--help"],
        ["train", "--help"],
        ["report", "--help"],
        ["run", "--help"],
    ],
)
def test_help_does_not_import_torch(args):
    out = probe(*args)
    assert out["code"] == 0 and out["heavy"] == [], out


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--act", "nope"],
        ["train", "--temp", "0"],
        ["train", "--preset", "nope"],
        ["attack", "--method", "nope"],
        ["attack", "--eps", "-1"],
        ["attack", "--suite", "nope"],
        ["attack", "--targeted", "sideways"],
        ["attack", "--param", "novalue"],
        ["attack", "--preset", "nope"],
        ["run", "nope"],
        ["report", "--format", "xml"],
        ["report", "--plot", "x.gif"],
        ["report", "--workspace", "/nonexistent-hotbench"],
        ["diagnose", "--eps", "-1"],
        ["doctor", "--format", "xml"],
        ["import-weights", "missing.safetensors"],
    ],
)
def test_bad_input_answers_without_torch(args, tmp_path):
    out = probe(*args)
    assert out["code"] == 2 and out["heavy"] == [], out
    assert out["stderr"].startswith("error:") and out["stderr"].count("\n") == 1, out["stderr"]


def test_declared_names_are_the_registered_ones():
    """The names --help shows without importing torch are exactly what the modules register (a
    lookup imports them and compares)."""
    for reg in (registry.ACTIVATIONS, registry.ARCHS, registry.EXECUTORS):
        declared = reg.names()
        reg.get(declared[0])  # imports the module; raises if the names differ
        assert list(reg._items) == declared
    assert "pgd" in ATTACKS.names() and ATTACKS.get("pgd").norm == "Linf"


def test_the_hotbench_process_sets_its_threads_once_in_process_calls_do_not(monkeypatch, tmp_path):
    """main() marks the process as the `hotbench` command: the first command that computes sets
    torch's threads (HOTBENCH_THREADS) before any work, as main did before torch loaded lazily; a
    command invoked in-process (CliRunner, a notebook) keeps the caller's thread count."""
    import torch

    from hotbench.cli import base

    before = torch.get_num_threads()
    monkeypatch.setenv("HOTBENCH_THREADS", "3")
    try:
        torch.set_num_threads(2)
        base.Session(tmp_path, "cpu", True)()
        assert torch.get_num_threads() == 2  # in-process: untouched
        monkeypatch.setitem(base.PROCESS, "set_threads", True)
        session = base.Session(tmp_path, "cpu", True)
        ctx = session()
        assert torch.get_num_threads() == 3 and not base.PROCESS["set_threads"]
        assert session() is ctx  # one Context per command: the API calls it when it needs it
        torch.set_num_threads(2)
        base.Session(tmp_path, "cpu", True)()
        assert torch.get_num_threads() == 2  # once
    finally:
        torch.set_num_threads(before)
