"""Adaptive attacks (issue 4): each kind on the tiny trained digits models, their seeds, the logit
view, the suites and the CLI's --suite / --on both. Few samples and steps: these check wiring and
semantics, not strength.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hotbench.attacks.composite import independent, surrogate_config
from hotbench.attacks.engine import run_attack
from hotbench.attacks.tracking import Tracked
from hotbench.cli import app
from hotbench.config import AttackConfig
from hotbench.context import Context
from hotbench.data import load_dataset
from hotbench.errors import HotbenchError
from hotbench.evaluate.suites import SUITES, suite_configs
from hotbench.models import LogitView
from hotbench.units import ensure_attacked, ensure_trained
from tests.conftest import CPU, NONE1, SURROGATE, TANH50

N = 24  # samples per attack


@pytest.fixture
def tanh_net(trained_ws):
    rec = trained_ws.load_record(TANH50.run_id)
    return trained_ws.load_model(rec, CPU)


@pytest.fixture(scope="module")
def test_split():
    return load_dataset("digits").test


def _run(net, split, n=N, **kw):
    cfg = AttackConfig(eval_temp=1, n_samples=n, batch_size=max(n // 2, 1), **kw).resolved(
        net.train_temp, len(split)
    )
    return run_attack(net, split, cfg, CPU)


def _valid(out, eps):
    broken = out.clean_correct & ~out.robust
    assert np.all(out.linf[broken] <= eps + 1e-5), "a counted success lies outside the threat model"


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_on_logits_breaks_what_the_output_hides(tanh_net, test_split, loss):
    on_z = _run(
        tanh_net, test_split, n=16, method="apgd", steps=5, on="logits", params={"loss": loss}
    )
    on_out = _run(
        tanh_net, test_split, n=16, method="apgd", steps=5, on="output", params={"loss": loss}
    )
    _valid(on_z, 0.3)
    assert on_z.metrics()["adv_acc"] <= 0.2  # the logits are not masked
    assert on_out.metrics()["adv_acc"] > on_z.metrics()["adv_acc"] + 0.3  # the saturated output is


def test_apgdt_runs_targeted_dlr_with_the_dataset_classes(tanh_net, test_split):
    out = _run(tanh_net, test_split, method="apgdt", steps=5, on="logits")
    _valid(out, 0.3)
    assert out.metrics()["adv_acc"] < out.metrics()["clean_acc"]


def test_square_is_black_box_and_reproducible(tanh_net, test_split):
    a = _run(tanh_net, test_split, n=12, method="square", params={"n_queries": 40})
    b = _run(tanh_net, test_split, n=12, method="square", params={"n_queries": 40})
    _valid(a, 0.3)
    assert np.array_equal(a.adv_pred, b.adv_pred)  # same seeds per batch -> same result
    assert (
        a.metrics()["adv_acc"] < a.metrics()["clean_acc"]
    )  # no gradient needed to break a masked model


def test_autoattack_uses_original_parameters_and_stays_in_budget(tanh_net, test_split):
    cfg = AttackConfig(method="autoattack").resolved(50, 397)
    assert cfg.params == {"apgd_steps": 100, "fab_steps": 100, "n_queries": 5000}  # the original's
    out = _run(
        tanh_net,
        test_split,
        n=12,
        method="autoattack",
        params={"apgd_steps": 2, "fab_steps": 2, "n_queries": 30},
    )
    _valid(out, 0.3)
    assert out.n_invalid == 0
    assert out.metrics()["adv_acc"] < out.metrics()["clean_acc"]


def test_transfer_reuses_the_surrogate_and_breaks_the_masked_model(surrogate_ws):
    trained_ws = surrogate_ws
    rec = trained_ws.load_record(TANH50.run_id)
    cfg = AttackConfig(method="transfer", steps=10, n_samples=N, eval_temp=1)
    # the surrogate of tanh T=50 is independent of it: the built-in arch with no activation at
    # T=1, on the same data and epochs, with another seed (SURROGATE, trained for the session)
    sur = surrogate_config(rec.config, cfg)
    assert sur.run_id == SURROGATE.run_id != NONE1.run_id and sur.seed == TANH50.seed + 1
    runs_before = sorted(p.name for p in trained_ws.runs.iterdir())
    doc, fresh = ensure_attacked(Context(trained_ws, CPU), rec, cfg)
    assert (
        fresh and sorted(p.name for p in trained_ws.runs.iterdir()) == runs_before
    )  # reused, not retrained
    assert doc["metrics"]["adv_acc"] <= 0.2
    # the result says which surrogate it was crafted on, and that it is independent
    stored = trained_ws.load_record(SURROGATE.run_id)
    assert doc["surrogate"] == {
        "run_id": SURROGATE.run_id,
        "weights_sha256": stored.weights_sha256,
        "arch": "digits-cnn",
        "seed": 1,
        "independent": True,
    }


def test_the_surrogate_is_never_the_target_nor_a_users_module():
    """Issue 24: the surrogate was trained with the target's own config (arch, seed, act none at
    T=1): for an undefended target that is the target itself, a white-box self-attack that
    inherits its masking, and a user's network ran inside the attack."""
    cfg = AttackConfig(method="transfer", eval_temp=1)
    own = surrogate_config(NONE1, cfg)
    assert own.run_id != NONE1.run_id and own.seed == NONE1.seed + 1
    assert independent(NONE1, own)
    user = NONE1.model_copy(update={"arch": "examples.zoo.nets:cnn"})
    assert surrogate_config(user, cfg).arch == "digits-cnn"
    # on request, the target's own architecture (another seed): not independent of a user's code
    same_arch = cfg.model_copy(update={"params": {"surrogate_arch": "target"}})
    mine = surrogate_config(user, same_arch)
    assert mine.arch == "examples.zoo.nets:cnn" and not independent(user, mine)


def test_transfer_trains_a_missing_surrogate(ws):
    tiny = TANH50.model_copy(
        update={"epochs": 1, "n_train": 64}
    )  # seconds to train, target and surrogate
    rec, _ = ensure_trained(Context(ws, CPU), tiny)
    cfg = AttackConfig(method="transfer", steps=2, n_samples=8, eval_temp=1)
    sur = surrogate_config(rec.config, cfg)
    assert (sur.act, sur.temp, sur.epochs, sur.n_train) == ("none", 1.0, 1, 64)
    assert (sur.seed, sur.arch) == (tiny.seed + 1, "digits-cnn")
    assert not ws.has_run(sur.run_id)
    doc, _ = ensure_attacked(Context(ws, CPU), rec, cfg)
    assert ws.has_run(sur.run_id) and doc["metrics"]["n_samples"] == 8


def test_transfer_without_surrogate_is_a_user_error(tanh_net, test_split):
    with pytest.raises(HotbenchError, match="surrogate"):
        _run(tanh_net, test_split, method="transfer", steps=2)


@pytest.mark.parametrize(
    "method,params",
    [
        ("apgd", {}),
        ("apgdt", {}),
        ("square", {"n_queries": 5}),
        ("autoattack", {"apgd_steps": 1, "fab_steps": 1, "n_queries": 5}),
    ],
)
def test_seeding_attacks_get_a_distinct_seed_per_batch_and_keep_the_global_rng(
    tanh_net, test_split, monkeypatch, method, params
):
    seeds: list[int] = []
    real = torch.random.manual_seed

    def spy(seed):
        seeds.append(int(seed))
        return real(seed)

    monkeypatch.setattr(torch.random, "manual_seed", spy)
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    _run(tanh_net, test_split, n=6, method=method, steps=1, params=params)
    assert torch.equal(torch.get_rng_state(), before)  # forked: the caller's RNG is untouched
    assert len(set(seeds)) >= 2, f"{method}: every batch reseeded with the same value {seeds}"


def test_logit_view_is_attacked_but_the_deployed_model_judges(tanh_net, test_split):
    x, _ = test_split.x, test_split.y
    z = tanh_net.logits(x).detach()
    deployed = tanh_net.head(z, 1.0).argmax(1)
    y = z.argmax(
        1
    )  # "correct" for the logits; wrong for the deployed model wherever a tie went elsewhere
    differs = deployed != y
    assert differs.any(), "expected saturated ties at eval T=1 on tanh T=50"
    cfg = AttackConfig(on="logits", eval_temp=1).resolved(50, len(test_split))
    tracked = Tracked(tanh_net, cfg, "Linf", x, y)
    out = tracked(x)
    assert torch.allclose(out, LogitView(tanh_net)(x))  # the attack follows z / T_train ...
    assert torch.equal(tracked.found, differs)  # ... and success is counted on act(z / T_eval)


def test_suites_list_the_attacks_of_the_issue():
    assert set(SUITES.names()) >= {"paper", "adaptive"}
    paper = [(c.method, c.on) for c in suite_configs("paper", [0.3])]
    assert [m for m, _ in paper] == ["fgsm", "bim", "pgd", "mim", "cw", "deepfool"]
    adaptive = suite_configs("adaptive", [0.1, 0.3], n_samples=10, eval_temp=1.0)
    labels = {c.resolved(50, 397).label.split(" ε=")[0] for c in adaptive}
    assert labels == {
        "pgd@z",
        "apgd-ce@z",
        "apgd-dlr@z",
        "apgd-ce",
        "apgd-dlr",
        "apgdt",
        "transfer",
        "cw@z",
        "square",
        "autoattack",
    }
    assert sum(c.method == "cw" for c in adaptive) == 1  # minimum-norm: once, not per eps
    assert all(c.n_samples == 10 and c.eval_temp == 1.0 for c in adaptive)
    assert {c.steps for c in suite_configs("adaptive", [0.3], steps=3)} == {3}


def test_cli_on_both_and_suite(trained_ws):
    r = CliRunner().invoke(
        app,
        [
            "attack",
            "-w",
            str(trained_ws.root),
            "--run",
            "none",
            "--method",
            "fgsm",
            "--on",
            "both",
            "--n-samples",
            "8",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    docs = trained_ws.load_results(NONE1.run_id)
    assert sorted(d["config"]["on"] for d in docs) == ["logits", "output"]
    bad = CliRunner().invoke(
        app, ["attack", "-w", str(trained_ws.root), "--suite", "adaptive", "--method", "pgd"]
    )
    assert bad.exit_code == 2 and "does not combine with --suite" in bad.output
    bad = CliRunner().invoke(app, ["attack", "-w", str(trained_ws.root), "--suite", "adaptiv"])
    assert bad.exit_code == 2 and "adaptive" in bad.output
    bad = CliRunner().invoke(app, ["attack", "-w", str(trained_ws.root), "--on", "z"])
    assert bad.exit_code == 2 and "--on" in bad.output


def test_cli_suite_runs_every_config(trained_ws, monkeypatch):
    """The suite's configs reach ensure_attacked (attacks are stubbed: their wiring is tested
    above)."""
    seen = []

    def fake(ws, rec, cfg, *a, **kw):
        seen.append(cfg)
        return {
            "config": cfg.resolved(rec.config.temp, 397).model_dump(),
            "metrics": {"clean_acc": 1.0, "adv_acc": 0.0},
        }, True

    monkeypatch.setattr("hotbench.evaluate.fasteval.ensure_attacked", fake)
    r = CliRunner().invoke(
        app,
        [
            "attack",
            "-w",
            str(trained_ws.root),
            "--run",
            "none",
            "--suite",
            "adaptive",
            "--eps",
            "0.1",
            "--eps",
            "0.3",
            "--eval-temp",
            "1",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    assert [json.dumps(c.model_dump(), sort_keys=True) for c in seen] == [
        json.dumps(c.model_dump(), sort_keys=True)
        for c in suite_configs(
            "adaptive", [0.1, 0.3], eval_temp=1.0, batch_size=256, seed=0, n_samples=None
        )
    ]
