"""Targeted attacks choose their targets as torchattacks does (least-likely and random), only on the
host: the same targets from the same random draws, including the ties of a saturated output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hotbench.attacks.spec import torchattacks
from hotbench.attacks.targeting import _host_targets


class Saturated(nn.Module):
    """tanh of large logits: many outputs are exactly +-1, so the least-likely class is a tie."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 10)
        with torch.no_grad():
            self.lin.weight.mul_(400.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(x.flatten(1)))


@pytest.mark.parametrize("mode", ["least-likely", "random"])
def test_host_targets_equal_torchattacks_choice(mode):
    torch.manual_seed(0)
    model = Saturated().eval()
    x = torch.rand(300, 1, 4, 4)
    y = torch.randint(0, 10, (300,))
    atk = torchattacks().PGD(model, eps=0.1, alpha=0.01, steps=1)
    if mode == "random":
        atk.set_mode_targeted_random(quiet=True)
    else:
        atk.set_mode_targeted_least_likely(quiet=True)
    out = model(x)
    assert (out.abs() == 1).float().mean() > 0.5  # ties are what the choice must get right
    torch.manual_seed(1)
    theirs = atk._target_map_function(x, y)
    torch.manual_seed(1)
    ours = _host_targets(atk, mode, x, y)
    assert torch.equal(ours, theirs)
    assert (ours != y).all()
    assert len(set(ours.tolist())) > 1
