"""Thermometer encoding (Buckman, Roy, Raffel and Goodfellow, "Thermometer Encoding: One Hot Way To
Resist Adversarial Examples", ICLR 2018).

Each pixel x in [0, 1] becomes `levels` binary channels, tau(x)_k = 1 if x >= k / levels (k = 1 ..
levels), and the classifier sees only the encoding. The encoding is a step function: its derivative
is zero almost everywhere, so the input gradient of the whole network is exactly zero and every
gradient attack on it stands still. Buckman et al. report robustness to white-box PGD; Athalye,
Carlini and Wagner (ICML 2018, section 5.2) break it with BPDA (the encoding's gradient replaced by
that of a smooth approximation) to 0% at the same eps on CIFAR-10, because the network behind it
is not robust.

Written as a user writes it in PyTorch: `floor` is differentiable (its gradient is zero), so the
graph stays connected and autograd reports the true gradient, zero. 16 levels as in Buckman et al.'s
MNIST and CIFAR-10 experiments; trained here without their adversarial training, the variant
Athalye et al. evaluate first."""

from __future__ import annotations

import torch
from torch import nn

from .nets import cnn


class Thermometer(nn.Module):
    """Inputs [B, C, H, W] in [0, 1] -> [B, C * levels, H, W] in {0, 1}."""

    def __init__(self, levels: int = 16) -> None:
        super().__init__()
        self.levels = levels
        self.register_buffer(
            "k", torch.arange(1, levels + 1, dtype=torch.float32), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.floor(x.clamp(0, 1) * self.levels)  # the quantised level, 0 .. levels
        # tau_k = 1 where q >= k: clamp(q - k + 1, 0, 1) on the integers q and k
        bits = (q.unsqueeze(2) - self.k.view(1, 1, -1, 1, 1) + 1).clamp(0, 1)
        return bits.flatten(1, 2)


def build(input_shape: tuple[int, int, int], num_classes: int, levels: int = 16) -> nn.Module:
    channels, height, width = input_shape
    return nn.Sequential(Thermometer(levels), cnn((channels * levels, height, width), num_classes))
