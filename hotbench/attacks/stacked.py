"""Several models of one architecture attacked in one batched pass (torch.func.stack_module_state +
vmap), the third speed-up issue 28 asked to measure on a GPU.

The temperature models of a sweep share one network: one pass over their stacked weights could keep
a GPU busier than one model at a time. `Stacked` is such a pass, shaped like a HotNet (logits, head)
so that `attack_batch` and torchattacks take it as one model over a batch of k equal chunks, chunk i
going through net i. Each sample's gradient is its own (eval mode, no batch statistics), and its
random start comes from its own seed, so a sample's attack is the one it gets alone, up to the
arithmetic of the batched convolution (vmap turns k convolutions into one grouped convolution,
which may sum in another order). benchmarks/bench.py measures it against one model at a time and
checks the points are identical before anything relies on it; docs/performance.md has the figures
and the decision.

Only attacks on the deployed output (`on="output"`) at one eval temperature for all k models.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..config import AttackConfig
from ..errors import HotbenchError
from ..models import HotNet
from .engine import Batch, Target, attack_batch


class _Logits(nn.Module):
    """A HotNet's pre-activation logits as a module's forward (what functional_call calls)."""

    def __init__(self, net: HotNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(x)


class Stacked(nn.Module):
    """k HotNets of one architecture as one model over inputs [k * B, ...]: rows i*B..(i+1)*B-1
    go through net i, each under its own output activation."""

    def __init__(self, nets: Sequence[HotNet]) -> None:
        super().__init__()
        if len(nets) < 2:
            raise HotbenchError("stacking needs at least two models", "pass two or more")
        shapes = [{k: v.shape for k, v in n.state_dict().items()} for n in nets]
        if any(s != shapes[0] for s in shapes[1:]):
            raise HotbenchError(
                "stacked models must share one architecture (the same weights' names and shapes)",
                "stack only models of one arch and dataset",
            )
        self.nets = list(nets)  # their heads; their weights are read once, into the stack below
        views = [_Logits(n) for n in nets]
        params, buffers = stack_module_state(views)
        self._params = {k: v.detach() for k, v in params.items()}
        self._buffers = buffers
        self._base = copy.deepcopy(views[0]).to("meta")
        self.k = len(nets)
        # a parameter, so that `models.predict` finds the device
        self.anchor = nn.Parameter(torch.empty(0, device=next(nets[0].parameters()).device))

    def _one(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self._base, (params, buffers), (x,))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.reshape(self.k, -1, *x.shape[1:])
        z = vmap(self._one)(self._params, self._buffers, chunks)
        return z.reshape(-1, z.shape[-1])

    def head(self, z: torch.Tensor, temp: float) -> torch.Tensor:
        return torch.cat(
            [n.head(part, temp) for n, part in zip(self.nets, z.chunk(self.k), strict=True)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise HotbenchError(
            "a Stacked model has no training temperature of its own",
            "attack its deployed output (attack_stacked), not its forward",
        )


def attack_stacked(
    nets: Sequence[HotNet], cfg: AttackConfig, batch: Batch, seed: int, stop_early: bool = True
) -> list[torch.Tensor]:
    """`attack_batch` of the same samples on each of `nets`, as one attack on the stacked models:
    the adversarial inputs per net, in the order given."""
    if cfg.on != "output":
        raise HotbenchError(
            f"stacked attacks follow the deployed output only, not --on {cfg.on}",
            "attack the models one at a time",
        )
    k = len(nets)
    stacked = Stacked(nets)
    x = batch.x.repeat(k, *([1] * (batch.x.dim() - 1)))
    index = None if batch.index is None else batch.index.repeat(k)
    adv, _ = attack_batch(
        Target(stacked), cfg, Batch(x, batch.y.repeat(k), index), seed, stop_early=stop_early
    )
    return list(adv.chunk(k))
