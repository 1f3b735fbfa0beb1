"""Fixtures of the report tests: the session's trained models with cheap attack results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotbench.config import AttackConfig
from hotbench.context import Context
from hotbench.store import Workspace
from hotbench.units import ensure_attacked
from tests.conftest import CPU, private_copy

CHEAP = [
    AttackConfig(method="fgsm", n_samples=50),
    AttackConfig(method="pgd", steps=3, n_samples=50),
]


def populate(ws, configs=CHEAP, eval_temps=(None, 1.0)):
    for rec in ws.records():
        for cfg in configs:
            for t in eval_temps:
                ensure_attacked(Context(ws, CPU), rec, cfg.model_copy(update={"eval_temp": t}))
    return ws


@pytest.fixture(scope="session")
def results_root(_trained_root, tmp_path_factory) -> Path:
    """The session's trained models with CHEAP results, attacked once per session. Tests get a
    private copy (`results_ws`) or only read it (a report writes nothing into the workspace), so
    one copy serves every module; attacking it once per module cost each report test file a few
    seconds, more under load."""
    root = tmp_path_factory.mktemp("results")
    shutil.copytree(_trained_root, root, dirs_exist_ok=True)
    populate(Workspace(root))
    return root


@pytest.fixture
def results_ws(results_root, tmp_path) -> Workspace:
    return private_copy(results_root, tmp_path)
