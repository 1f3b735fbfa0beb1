"""Gaussian noise at the input, at every forward pass, training included: the randomized defense of
issue 25, and the simplest member of a family (random self-ensemble, Liu et al. 2018; parametric
noise injection, He et al. 2019) whose robustness Expectation over Transformation (Athalye et al.
2018) is needed to measure. Deployed in eval mode, it still draws its noise: a randomized model."""

from __future__ import annotations

import torch
from torch import nn

from .nets import cnn


class InputNoise(nn.Module):
    """x + sigma * N(0, 1), drawn from torch's global generator: hotbench's seeds make it
    reproducible."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sigma * torch.randn_like(x)


def build(input_shape: tuple[int, int, int], num_classes: int, sigma: float = 0.2) -> nn.Module:
    return nn.Sequential(InputNoise(sigma), cnn(input_shape, num_classes))
