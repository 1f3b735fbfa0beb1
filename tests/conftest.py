"""Shared fixtures: tiny, real models on the embedded digits set (seconds to train on 2 CPU
cores)."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
import torch

from hotbench.config import TrainConfig
from hotbench.context import Context
from hotbench.store import Workspace
from hotbench.units import ensure_trained

CPU = torch.device("cpu")

# Fields that legitimately differ between two runs of the same work: wall times, creation time, and
# the checksum over them. Tests that compare stored documents across runs ignore exactly these.
VOLATILE = {"time_s", "train_time_s", "created", "checksum"}


def strip_volatile(doc):
    if isinstance(doc, dict):
        return {k: strip_volatile(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [strip_volatile(v) for v in doc]
    return doc


# 20 epochs: enough for tanh at T=50 to saturate at eval T=1 on most test inputs (measured: ~86%).
FAST_EPOCHS = 20

TANH50 = TrainConfig(dataset="digits", act="tanh", temp=50, epochs=FAST_EPOCHS)
NONE1 = TrainConfig(dataset="digits", act="none", temp=1, epochs=FAST_EPOCHS)
# the transfer attack's independent surrogate of both (attacks.composite.surrogate_config: the
# built-in arch, another seed), trained once per session so that tests of transfer and diagnose
# do not each train it
SURROGATE = NONE1.model_copy(update={"seed": 1})


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    """No test reads or writes the developer's ./hotbench-runs or data folder."""
    monkeypatch.setenv("HOTBENCH_HOME", str(tmp_path / "default-ws"))
    monkeypatch.setenv("HOTBENCH_DATA", str(tmp_path / "no-data"))
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def _trained_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trained")
    ws = Workspace(root)
    for cfg in (TANH50, NONE1):
        ensure_trained(Context(ws, CPU), cfg)
    return root


def private_copy(root: Path, tmp_path: Path) -> Workspace:
    """A test's own copy of a shared workspace: it may add results or plant files without affecting
    others."""
    dst = tmp_path / "ws"
    shutil.copytree(root, dst)
    return Workspace(dst)


@pytest.fixture
def trained_ws(_trained_root, tmp_path) -> Workspace:
    """A private copy of a workspace holding digits tanh T=50 and none T=1 (trained once per
    session)."""
    return private_copy(_trained_root, tmp_path)


@pytest.fixture(scope="session")
def _surrogate_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("surrogate")
    ensure_trained(Context(Workspace(root), CPU), SURROGATE)
    return root


@pytest.fixture
def surrogate_ws(trained_ws, _surrogate_root) -> Workspace:
    """`trained_ws` with the transfer surrogate of its models already trained (SURROGATE), as a
    workspace holds it after its first transfer attack: tests of transfer and `diagnose` (whose
    probes include a transfer attack) reuse it instead of each training it."""
    src = Workspace(_surrogate_root).run_dir(SURROGATE.run_id)
    shutil.copytree(src, trained_ws.run_dir(SURROGATE.run_id))
    return trained_ws


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


def sigint_default() -> None:
    """`preexec_fn` of a child process a test interrupts with SIGINT. A job that a non-interactive
    shell starts in the background (`(bash .ci/run &)`, as some CI runners do) inherits SIGINT
    ignored, an ignored signal stays ignored across exec, and Python then installs no
    KeyboardInterrupt handler: the child would never see the test's Ctrl-C (measured: both SIGINT
    tests hung until their 60 s timeout in such a run)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def report_text(ws: Workspace, fmt: str, wide: bool = False) -> str:
    """The report as `hotbench.report` renders it (the path the command line takes)."""
    from hotbench.api import report
    from hotbench.reports.formats import Layout

    return report(ws, fmt, layout=Layout(wide=wide)).text
