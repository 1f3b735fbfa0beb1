"""The speed-ups of issue 28 change no result: a larger attack batch, the kept random starts, the
leaner validity check and the batch-1 judge (CUDA-graph replay on a GPU) each give what the path
they replace gives, per sample.

The GPU-only cases run where CUDA is available (the device check of issue 28 runs this file there);
on a CPU they skip and the CPU cases still cover the same code paths.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hotbench.attacks.batch1 import one_at_a_time
from hotbench.attacks.engine import Batch, attack_batch, run_attack
from hotbench.attacks.loops import STARTS, StartBank, random_starts
from hotbench.attacks.tracking import inside
from hotbench.config import AttackConfig
from hotbench.data import DATASETS, load_dataset
from hotbench.models import build_model
from tests.conftest import CPU, NONE1, TANH50

DEVICES = [CPU] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def _old_starts(seeds: torch.Tensor, shape: tuple[int, ...], eps: float) -> torch.Tensor:
    """The random starts as SeededPGD drew them before the bank (a generator and a tensor per
    sample): the reference the bank must reproduce bit for bit."""
    return torch.stack(
        [
            torch.empty(shape).uniform_(-eps, eps, generator=torch.Generator().manual_seed(int(s)))
            for s in seeds
        ]
    )


def test_kept_starts_are_the_starts_drawn_anew():
    bank = StartBank()
    seeds = torch.arange(300) + 1_000_003
    first = random_starts(seeds, (1, 8, 8), 0.3, bank)
    again = random_starts(seeds[50:250].flip(0), (1, 8, 8), 0.3, bank)  # reordered subset: kept
    other_eps = random_starts(seeds[:10], (1, 8, 8), 0.1, bank)
    assert torch.equal(first, _old_starts(seeds, (1, 8, 8), 0.3))
    assert torch.equal(again, _old_starts(seeds[50:250].flip(0), (1, 8, 8), 0.3))
    assert torch.equal(other_eps, _old_starts(seeds[:10], (1, 8, 8), 0.1))
    assert torch.equal(random_starts(seeds, (1, 8, 8), 0.3), first)  # no bank: drawn anew


def test_the_bank_starts_over_past_its_limit():
    bank = StartBank(limit_bytes=200 * 64 * 4)  # room for 200 rows of 8x8
    a = random_starts(torch.arange(150), (1, 8, 8), 0.3, bank)
    b = random_starts(torch.arange(150, 300), (1, 8, 8), 0.3, bank)  # 300 rows: over, start over
    assert bank.nbytes <= bank.limit_bytes
    assert torch.equal(a, _old_starts(torch.arange(150), (1, 8, 8), 0.3))
    assert torch.equal(b, _old_starts(torch.arange(150, 300), (1, 8, 8), 0.3))


def _inside_before(x, x0, eps, norm):
    """tracking.inside as it was before issue 28 (three reductions where one pass does)."""
    d = (x - x0).flatten(1)
    in_box = (x.flatten(1).amin(1) >= -1e-6) & (x.flatten(1).amax(1) <= 1 + 1e-6)
    if norm is None:
        return in_box
    size = d.abs().amax(1) if norm == "Linf" else d.norm(dim=1)
    return in_box & (size <= eps * (1 + 1e-5) + 1e-6)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    eps=st.floats(1e-4, 2.0),
    norm=st.sampled_from(["Linf", "L2", None]),
    spread=st.floats(0.0, 1.5),
)
def test_leaner_validity_check_decides_as_before(seed, eps, norm, spread):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.rand(16, 1, 4, 4, generator=gen)
    x = x0 + spread * eps * (2 * torch.rand(16, 1, 4, 4, generator=gen) - 1)
    x[::3] = x[::3].clamp(0, 1)  # some inside the box, some outside
    assert torch.equal(inside(x, x0, eps, norm), _inside_before(x, x0, eps, norm))


@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_batch1_judge_gives_the_eager_classes(device):
    torch.manual_seed(0)
    net = build_model(DATASETS.get("mnist"), "mnist-cnn", "tanh", 10.0).to(device).eval()
    deployed = net.deployed(1.0)
    x = torch.rand(40, 1, 28, 28, device=device)
    judge = one_at_a_time(deployed)
    got = judge.argmax(x)
    with torch.inference_mode():
        eager = torch.cat([deployed(x[i : i + 1]).argmax(1) for i in range(40)])
    assert torch.equal(got, eager)
    assert got.device.type == device.type
    assert judge.argmax(x[:0]).shape == (0,)
    if device.type == "cuda":
        assert judge._graph is not None  # the replayed graph, checked bitwise, is what ran


@pytest.mark.parametrize("method", ["pgd", "bim", "mim", "fgsm"])
def test_one_large_batch_gives_the_outcomes_of_small_batches(trained_ws, method):
    """The GPU preset attacks the whole test set as one batch: a bounded attack's per-sample
    outcome (and kept point's size) does not depend on the batch it ran in."""
    record = trained_ws.load_record(TANH50.resolved().run_id)
    net = trained_ws.load_model(record, CPU)
    test = load_dataset("digits").test
    n = 120

    def outcome(batch_size):
        STARTS.clear()
        cfg = AttackConfig(
            method=method, eps=0.3, steps=10, eval_temp=1, n_samples=n, batch_size=batch_size
        )
        return run_attack(net, test, cfg.resolved(50.0, len(test)), CPU)

    small, large = outcome(16), outcome(n)
    assert np.array_equal(small.adv_pred, large.adv_pred)
    assert np.array_equal(small.linf, large.linf)


def test_kept_starts_change_no_pgd_outcome(trained_ws):
    record = trained_ws.load_record(NONE1.resolved().run_id)
    net = trained_ws.load_model(record, CPU)
    test = load_dataset("digits").test
    cfg = AttackConfig(method="pgd", eps=0.1, steps=5, n_samples=80, batch_size=32)
    cfg = cfg.resolved(1.0, len(test))
    STARTS.clear()
    fresh = run_attack(net, test, cfg, CPU)
    assert STARTS.nbytes > 0  # evaluation keeps its starts
    kept = run_attack(net, test, cfg, CPU)  # every start now comes from the bank
    assert np.array_equal(fresh.adv_pred, kept.adv_pred)
    assert np.array_equal(fresh.linf, kept.linf)


def _clean_correct_batch(ws, cfg, eval_temp, n=64):
    record = ws.load_record(cfg.resolved().run_id)
    net = ws.load_model(record, CPU)
    test = load_dataset("digits").test.head(n)
    with torch.inference_mode():
        ok = net.deployed(eval_temp)(test.x).argmax(1) == test.y
    idx = ok.nonzero().flatten()
    return net, Batch(test.x[idx], test.y[idx], idx)


@pytest.mark.parametrize("method", ["pgd", "bim", "mim"])
@pytest.mark.parametrize("targeted", [None, "least-likely"])
@pytest.mark.parametrize(
    "model,eval_temp,on",
    [(NONE1, 1.0, "output"), (TANH50, 1.0, "output"), (TANH50, 1.0, "logits")],
    ids=["softmax", "tanh50@T1", "tanh50@T1-logits"],
)
def test_dropping_found_samples_keeps_every_point(
    trained_ws, method, targeted, model, eval_temp, on
):
    """The loop that drops found samples (loops.sign_loop) returns, per sample, the point the
    full-length loop returns: the first success where there is one, else the last iterate."""
    net, batch = _clean_correct_batch(trained_ws, model, eval_temp)
    cfg = AttackConfig(
        method=method, eps=0.2, steps=12, eval_temp=eval_temp, on=on, targeted=targeted
    ).resolved(model.temp, 397)
    STARTS.clear()
    narrowed, bad = attack_batch(net, cfg, batch, seed=3)
    full, bad_full = attack_batch(net, cfg, batch, seed=3, stop_early=False)
    assert torch.equal(narrowed, full) and bad == bad_full


def test_the_loop_drops_found_samples(trained_ws):
    """On the softmax model most samples break within a few steps: later queries hold only the
    others (the speed-up itself, not only its correctness)."""
    net, batch = _clean_correct_batch(trained_ws, NONE1, 1.0)
    sizes = []
    hook = net.body.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]))
    cfg = AttackConfig(method="bim", eps=0.3, steps=20, eval_temp=1.0).resolved(1.0, 397)
    try:
        attack_batch(net, cfg, batch, seed=0)
    finally:
        hook.remove()
    assert sizes[0] == len(batch.x) and min(sizes) < len(batch.x) // 4
    assert len(sizes) < 20  # it stopped once every sample was found


@pytest.mark.parametrize("method", ["bim", "mim"])
def test_hotbench_bim_and_mim_step_as_torchattacks(trained_ws, method):
    """On a plain model (no tracking: every sample takes every step) hotbench's copies give
    torchattacks' own points bit for bit: the same steps, and a summed loss over the batch's size
    whose gradient is the mean's."""
    import torchattacks

    from hotbench.attacks.patched import bim_class, mim_class

    net, batch = _clean_correct_batch(trained_ws, TANH50, 50.0)
    model = net.deployed(50.0)
    ours = {"bim": bim_class, "mim": mim_class}[method]()
    theirs = {"bim": torchattacks.BIM, "mim": torchattacks.MIFGSM}[method]
    for targeted in (False, True):
        a, b = (
            ours(model, eps=0.2, alpha=0.02, steps=8),
            theirs(model, eps=0.2, alpha=0.02, steps=8),
        )
        if targeted:
            a.set_mode_targeted_least_likely(quiet=True)
            b.set_mode_targeted_least_likely(quiet=True)
        assert torch.equal(a(batch.x, batch.y), b(batch.x, batch.y))
