"""The training speed-ups in models/train must not change what is computed beyond float rounding.

- Every body pools before its ReLU; against the textbook order (ReLU, then pool) the outputs and all
  gradients must be bit-for-bit equal, or the swap is not free.
- mnist-cnn and cifar-vgg train in channels_last; that run must stay deterministic, agree with an
  NCHW run up to rounding, and hand back an NCHW model whose recorded accuracy is the one a reloaded
  checkpoint gives.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from hotbench import models
from hotbench.config import TrainConfig
from hotbench.data import DATASETS, Dataset, Split
from hotbench.models import ARCHS, build_model, predict
from hotbench.training import accuracy, train_model

from .conftest import CPU


def textbook_order(body: nn.Sequential) -> nn.Sequential:
    """The same modules (weights shared) with every `MaxPool2d, ReLU` pair put back as `ReLU,
    MaxPool2d`."""
    mods = list(body)
    swapped = 0
    for i in range(len(mods) - 1):
        if isinstance(mods[i], nn.MaxPool2d) and isinstance(mods[i + 1], nn.ReLU):
            mods[i], mods[i + 1] = mods[i + 1], mods[i]
            swapped += 1
    assert swapped > 0, "no pool-before-ReLU pair found: this test no longer tests anything"
    return nn.Sequential(*mods)


@pytest.mark.parametrize("dataset", ["digits", "mnist", "cifar10"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_pool_before_relu_is_bit_identical_to_textbook_order(dataset, mode):
    spec = DATASETS.get(dataset)
    torch.manual_seed(0)
    body = ARCHS.get(spec.default_arch).build(spec)
    ref = textbook_order(copy.deepcopy(body))
    body.train(mode == "train")
    ref.train(mode == "train")
    # Inputs centred on 0, so a large share of pre-activations is negative and whole pooling windows
    # are all-negative (the case where the two orders pick different argmax elements but must agree
    # anyway).
    x = torch.randn(16, spec.channels, spec.size, spec.size)
    outs, grads = [], []
    for net in (body, ref):
        xi = x.clone().requires_grad_(True)
        out = net(xi)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append([xi.grad] + [p.grad.clone() for p in net.parameters()])
        net.zero_grad(set_to_none=True)
    assert torch.equal(outs[0], outs[1])
    assert len(grads[0]) == len(grads[1]) > 2
    for a, b in zip(grads[0], grads[1], strict=False):
        assert torch.equal(a, b)


def _tiny_mnist(n_train: int = 96, n_test: int = 64) -> Dataset:
    """MNIST-shaped random data in memory: exercises mnist-cnn's channels_last path without any
    files."""
    g = torch.Generator().manual_seed(3)

    def mk(n: int) -> Split:
        return Split(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))

    return Dataset(DATASETS.get("mnist"), mk(n_train), mk(n_test))


CFG = TrainConfig(dataset="mnist", arch="mnist-cnn", act="tanh", temp=10, epochs=2, batch_size=32)


def test_channels_last_arch_trains_deterministically_and_returns_nchw_model():
    assert ARCHS.get("mnist-cnn").channels_last and not ARCHS.get("digits-cnn").channels_last
    data = _tiny_mnist()
    a, b = train_model(CFG, data, CPU), train_model(CFG, data, CPU)
    assert a.memory_format == "channels_last"
    for (name, p), q in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=False
    ):
        assert p.is_contiguous(), name
        assert torch.equal(p, q), name
    assert a.epoch_loss == b.epoch_loss
    # What train recorded is what a checkpoint reloaded into a fresh NCHW model measures.
    fresh = build_model(data.spec, CFG.arch, CFG.act, CFG.temp)
    fresh.load_state_dict(a.model.state_dict())
    fresh.eval()
    assert torch.equal(predict(fresh, data.test.x), predict(a.model, data.test.x))
    assert accuracy(fresh, data.test) == a.test_acc


def test_channels_last_agrees_with_nchw_up_to_rounding(monkeypatch):
    data = _tiny_mnist()
    fast = train_model(CFG, data, CPU)
    nchw_arch = dataclasses.replace(ARCHS.get("mnist-cnn"), channels_last=False)
    monkeypatch.setitem(models.ARCHS._items, "mnist-cnn", nchw_arch)
    slow = train_model(CFG, data, CPU)
    assert slow.memory_format == "contiguous"
    # Adam divides by the root of the squared gradient, so a rounding difference in a tiny gradient
    # can move a weight by up to lr per step (1e-3 here); measured: at most 1.3e-5. 1e-4 would catch
    # a real change.
    for (name, p), q in zip(
        fast.model.state_dict().items(), slow.model.state_dict().values(), strict=False
    ):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-4, msg=name)
    with torch.inference_mode():
        torch.testing.assert_close(
            fast.model.logits(data.test.x), slow.model.logits(data.test.x), rtol=0, atol=1e-4
        )
    assert torch.equal(predict(fast.model, data.test.x), predict(slow.model, data.test.x))
    assert fast.epoch_loss == pytest.approx(slow.epoch_loss, rel=1e-5)
