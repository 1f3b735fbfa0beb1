"""Training: cross-entropy on softmax(act(z / T_train)), Adam, in-memory batches.

Kept as small as airbench's loop on purpose: the data is a tensor on the device, an epoch is a
permutation, and every source of randomness comes from one seeded generator, so a run is
reproducible bit for bit on the same machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import interrupts
from .config import TrainConfig
from .data import Dataset, Split
from .errors import HotbenchError
from .models import HotNet, build_model, get_arch, layout_name, predict
from .runtime import fixed_threads

# A run id is a hash of the config, so the weights must be a function of the config alone. On CPU,
# torch sums matmuls, convolutions and batch-norm statistics in an order that depends on its thread
# count (1 and 2 threads gave other weights for every arch, even with MKL's strict reproducibility
# mode), so training always runs with one intra-op thread on CPU: the same weights whatever
# HOTBENCH_THREADS, the executor or the machine's cores. Sweeps get their parallelism from units
# (`--executor process`), evaluation keeps every thread. GPUs are unaffected (and not bitwise
# repeatable anyway).
CPU_TRAIN_THREADS = 1


@dataclass
class TrainResult:
    model: HotNet
    config: TrainConfig
    train_time_s: float
    test_acc: float
    epoch_loss: list[float] = field(default_factory=list)
    memory_format: str = (
        "contiguous"  # the layout it trained in (the returned model is always NCHW)
    )


def accuracy(model: torch.nn.Module, split: Split) -> float:
    if len(split) == 0:
        return float("nan")
    return float((predict(model, split.x) == split.y).float().mean())


# (model, clean batch, labels, the run's generator) -> mean loss; see hotbench.defense_losses
BatchLoss = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def train_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: BatchLoss | None = None,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """One optimisation step; returns the batch's mean loss (detached, not synced). Shared with
    `make bench`, so the throughput it prints is this loop's. `loss_fn` replaces the plain
    cross-entropy (adversarial training, which draws its random starts from `gen`)."""
    loss = F.cross_entropy(model(x), y) if loss_fn is None else loss_fn(model, x, y, gen)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def train_model(
    cfg: TrainConfig,
    data: Dataset,
    device: torch.device,
    on_epoch: Callable[[int, float], None] | None = None,
    loss_fn: BatchLoss | None = None,
) -> TrainResult:
    """Train `cfg` on `data`; `loss_fn` is the defense's batch loss (hotbench.defense_losses), None
    for plain cross-entropy."""
    cfg = cfg.resolved()
    with fixed_threads(CPU_TRAIN_THREADS if torch.device(device).type == "cpu" else None):
        return _train(cfg, data, torch.device(device), on_epoch, loss_fn)


def _train(
    cfg: TrainConfig,
    data: Dataset,
    device: torch.device,
    on_epoch: Callable[[int, float], None] | None,
    loss_fn: BatchLoss | None,
) -> TrainResult:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    fmt = get_arch(cfg.arch).memory_format
    model = build_model(data.spec, cfg.arch, cfg.act, cfg.temp).to(device, memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    train = data.train.head(cfg.n_train)
    x, y = train.x.to(device).contiguous(memory_format=fmt), train.y.to(device)
    n = len(train)
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        total = torch.zeros((), device=device)
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            total += train_step(model, opt, x[idx], y[idx], loss_fn, gen) * idx.numel()
            interrupts.check()
        losses.append(float(total) / n)
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])
    model.eval()
    train_time = time.perf_counter() - start
    # Back to NCHW: the layout a checkpoint is loaded in, so the accuracy recorded here is the one
    # every later evaluation of the saved weights sees (and safetensors stores contiguous tensors
    # only).
    model = model.to(memory_format=torch.contiguous_format)
    bad = [
        k for k, v in model.state_dict().items() if v.is_floating_point() and not v.isfinite().all()
    ]
    if bad:  # nothing is stored: attacking such a model would measure nothing
        raise HotbenchError(
            f"training {cfg.run_id} diverged: its weights hold NaN or infinite values (first:"
            f" '{bad[0]}', last epoch loss {losses[-1]:.3g})",
            "train with a lower --lr",
        )
    return TrainResult(model, cfg, train_time, accuracy(model, data.test), losses, layout_name(fmt))
