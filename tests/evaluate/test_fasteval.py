"""The fast evaluation paths must not change a single per-sample outcome (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hotbench.attacks.engine import Batch, attack_batch, run_attack
from hotbench.config import AttackConfig
from hotbench.context import Context
from hotbench.data import load_dataset
from hotbench.errors import HotbenchError
from hotbench.evaluate.fasteval import ensure_suite, naive_robust, robust_mask
from hotbench.runtime import configure_threads
from tests.conftest import CPU, NONE1, TANH50

N = 120
# Few steps and a small batch so that several batches (and several batch compositions) are
# exercised.
SUITE = [
    AttackConfig(method=m, eps=0.15, steps=8, n_samples=N, batch_size=32)
    for m in ("fgsm", "bim", "pgd", "mim")
]


def _suite_and_naive(ws, cfg_train, eval_temp=None):
    record = ws.load_record(cfg_train.resolved().run_id)
    configs = [c.model_copy(update={"eval_temp": eval_temp}) for c in SUITE]
    net = ws.load_model(record, CPU)
    test = load_dataset("digits").test
    naive = [naive_robust(net, test, c.resolved(cfg_train.temp, len(test)), CPU) for c in configs]
    return record, configs, naive


def test_exact_mode_matches_naive_loop_per_attack(trained_ws):
    record, configs, naive = _suite_and_naive(trained_ws, NONE1)
    [chain] = ensure_suite(Context(trained_ws, CPU), record, configs, skip=False)
    for doc, ref in zip(chain.docs, naive, strict=False):
        assert not doc["config"]["skip_after"]
        np.testing.assert_array_equal(robust_mask(doc), ref, err_msg=doc["config"]["method"])
        assert doc["metrics"]["adv_acc"] == pytest.approx(ref.mean())
    # the suite must actually break something for the comparison to mean anything
    assert 0 < chain.worst_case.mean() < chain.docs[0]["metrics"]["clean_acc"]


@pytest.mark.parametrize("cfg_train,eval_temp", [(NONE1, None), (TANH50, 1.0)])
def test_skip_mode_keeps_the_worst_case_exact(trained_ws, cfg_train, eval_temp):
    record, configs, naive = _suite_and_naive(trained_ws, cfg_train, eval_temp)
    [chain] = ensure_suite(Context(trained_ws, CPU), record, configs, skip=True)
    np.testing.assert_array_equal(chain.worst_case, np.logical_and.reduce(naive))
    # the first attack is the exact run; later ones are partial, stored apart, attacked only
    # survivors
    assert not chain.docs[0]["config"]["skip_after"]
    still = robust_mask(chain.docs[0])
    for doc in chain.docs[1:]:
        assert doc["config"]["skip_after"] and "(partial)" in AttackConfig(**doc["config"]).label
        attacked = np.asarray(doc["per_sample"]["attacked"])
        np.testing.assert_array_equal(attacked, still)
        still &= robust_mask(doc)


def test_skip_mode_reuses_stored_results_and_differs_in_hash(trained_ws):
    record, configs, _ = _suite_and_naive(trained_ws, NONE1)
    first = ensure_suite(Context(trained_ws, CPU), record, configs, skip=True)[0]
    again = ensure_suite(Context(trained_ws, CPU), record, configs, skip=True)[0]
    assert not any(again.fresh) and [d["attack_id"] for d in again.docs] == [
        d["attack_id"] for d in first.docs
    ]
    exact = ensure_suite(Context(trained_ws, CPU), record, configs, skip=False)[0]
    assert (
        exact.docs[0]["attack_id"] == first.docs[0]["attack_id"]
    )  # fgsm ran on everything both times
    assert {d["attack_id"] for d in exact.docs[1:]}.isdisjoint(
        d["attack_id"] for d in first.docs[1:]
    )


def test_early_stop_and_per_sample_seeds_do_not_change_a_batch(trained_ws):
    """Stopping once a batch is all broken, and pgd's per-sample start, give the same points as the
    full run on any batch composition."""
    record = trained_ws.load_record(NONE1.resolved().run_id)
    net = trained_ws.load_model(record, CPU)
    test = load_dataset("digits").test
    cfg = AttackConfig(method="pgd", eps=0.3, steps=20, n_samples=64).resolved(1.0, len(test))
    idx = torch.arange(64)
    x, y = test.x[:64], test.y[:64]
    full, _ = attack_batch(net, cfg, Batch(x, y, idx), seed=0, stop_early=False)
    fast, _ = attack_batch(net, cfg, Batch(x, y, idx), seed=0, stop_early=True)
    torch.testing.assert_close(fast, full, rtol=0, atol=0)
    sub = torch.arange(10, 40)
    part, _ = attack_batch(net, cfg, Batch(x[sub], y[sub], sub), seed=7, stop_early=True)
    torch.testing.assert_close(part, full[sub], rtol=0, atol=0)


def test_run_attack_only_mask(trained_ws):
    record = trained_ws.load_record(NONE1.resolved().run_id)
    net = trained_ws.load_model(record, CPU)
    test = load_dataset("digits").test
    cfg = AttackConfig(method="fgsm", eps=0.1, n_samples=40).resolved(1.0, len(test))
    only = torch.zeros(40, dtype=torch.bool)
    only[:5] = True
    out = run_attack(net, test, cfg, CPU, only=only)
    assert out.attacked[5:].sum() == 0 and out.attacked[:5].sum() == out.clean_correct[:5].sum()
    np.testing.assert_array_equal(out.adv_pred[5:], out.clean_pred[5:])


def test_thread_count_env(monkeypatch):
    monkeypatch.setenv("HOTBENCH_THREADS", "1")
    assert configure_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("HOTBENCH_THREADS", "many")
    with pytest.raises(HotbenchError, match="HOTBENCH_THREADS"):
        configure_threads()


def test_sync_free_tracking_keeps_the_same_points(trained_ws, monkeypatch):
    """The accelerator path of attacks.tracking.Tracked (no host sync per step) keeps exactly the
    CPU path's points."""
    import hotbench.attacks.engine as A
    from hotbench.attacks.tracking import Tracked
    from hotbench.config import AttackConfig
    from hotbench.data import load_dataset
    from tests.conftest import TANH50

    net = trained_ws.load_model(trained_ws.load_record(TANH50.run_id))
    test = load_dataset("digits").test
    x, y = test.x[:96], test.y[:96]
    cfg = AttackConfig(method="pgd", eps=0.3, steps=10).resolved(50.0, 397)
    plain, _ = A.attack_batch(net, cfg, A.Batch(x, y), seed=3)
    init = Tracked.__init__

    def sync_free_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.sync_free = True

    monkeypatch.setattr(Tracked, "__init__", sync_free_init)
    free, _ = A.attack_batch(net, cfg, A.Batch(x, y), seed=3)
    assert torch.equal(plain, free)
    assert (
        net.deployed(50.0)(free).argmax(1) != y
    ).float().mean() > 0.5  # the attack did break samples


def test_skip_mode_keeps_the_targets_of_a_targeted_attack(trained_ws):
    """A targeted attack in skip mode stores the target it aimed at for every sample it attacked
    (and -1 for the samples it skipped), so its `target hit` column means what it says in both
    modes."""
    record = trained_ws.load_record(NONE1.resolved().run_id)
    configs = [
        AttackConfig(method="fgsm", eps=0.15, n_samples=N, batch_size=32),
        AttackConfig(
            method="pgd", eps=0.15, steps=8, n_samples=N, batch_size=32, targeted="least-likely"
        ),
    ]
    [chain] = ensure_suite(Context(trained_ws, CPU), record, configs, skip=True)
    doc = chain.docs[1]
    assert doc["config"]["skip_after"]
    attacked = np.asarray(doc["per_sample"]["attacked"])
    target = np.asarray(doc["per_sample"]["target"])
    label = np.asarray(doc["per_sample"]["label"])
    assert 0 < attacked.sum() < N
    assert (target[attacked] >= 0).all() and (target[attacked] != label[attacked]).all()
    assert (target[~attacked] == -1).all()
    assert "targeted_success" in doc["metrics"]
