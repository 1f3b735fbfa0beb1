"""The undefended reference of a model: the same dataset and architecture trained the same way
(epochs, data, optimiser, seed) with no defense and no output activation (act none, T = 1). For a
user's `--arch MODULE:CALLABLE` the defense may live inside the module, so its reference is the
dataset's built-in architecture. The verdict compares the model's worst case with the reference's
at the same budget (checks/reference.py); `diagnose` trains and attacks the reference when it is
missing, `report` (read-only) says "no undefended reference" and names that command."""

from __future__ import annotations

from ...config import TrainConfig
from ...data import DATASETS
from ...store import RunRecord, Workspace
from ...user_arch import is_import_path
from ..worstcase import counts_at, load_stored, worst_case
from .spec import Reference

# the reference is an act-none model trained at T = 1: attacked as deployed
REFERENCE_EVAL_TEMP = 1.0


def reference_config(target: TrainConfig) -> TrainConfig:
    t = target.resolved()
    arch = DATASETS.get(t.dataset).default_arch if is_import_path(t.arch) else t.arch
    return t.model_copy(
        update={
            "arch": arch,
            "act": "none",
            "temp": 1.0,
            "defense": "none",
            "train_eps": None,
            "train_steps": None,
            "train_alpha": None,
            "trades_beta": None,
        }
    ).resolved()


def load_reference(ws: Workspace, record: RunRecord, budget: tuple[str, float]) -> Reference:
    """The reference's worst case at `budget` from what the workspace holds (nothing is run)."""
    cfg = reference_config(record.config)
    ref = Reference(cfg.run_id, cfg, same=cfg.run_id == record.run_id)
    if ref.same:
        return ref
    norm, eps = budget
    if not ws.has_run(cfg.run_id):
        ref.missing = f"{cfg.run_id} is not trained"
        return ref
    results = [
        r for r in load_stored(ws, cfg.run_id, REFERENCE_EVAL_TEMP) if counts_at(r, norm, eps)
    ]
    if not any(r.threat is not None for r in results):
        ref.missing = f"{cfg.run_id} has no result at {norm} ε={eps:g}"
        return ref
    ref.worst = worst_case(results, cfg.run_id, REFERENCE_EVAL_TEMP, norm, eps)
    return ref
