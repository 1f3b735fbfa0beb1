"""Defensive distillation's temperature (Papernot, McDaniel, Wu, Jha and Swami, "Distillation as a
Defense to Adversarial Perturbations against Deep Neural Networks", IEEE S&P 2016), inside the
user's network.

Papernot et al. train with softmax(F(x) / T) at a high temperature (T = 100 on MNIST) and deploy
the network at T = 1: the logits F(x) it learnt are about T times larger than an ordinary
network's, so the deployed softmax saturates and its gradient vanishes in float32. Carlini and
Wagner ("Defensive Distillation is Not Robust to Adversarial Examples", 2016, and "Towards
Evaluating the Robustness of Neural Networks", S&P 2017) trace the defense's effect to exactly this
scale, and break it with attacks on the logits divided by T or on a margin loss.

Written as a user writes it: the module divides its logits by T while training (`self.training`)
and returns them whole when deployed, so hotbench (which trains it with `--act none --temp 1`) never
sees the temperature: its "logits" view is the deployed F(x), already T times too large. Papernot
et al.'s second step, retraining a student on the first network's soft labels at the same T, is not
reproduced: it changes the weights, not the logit scale that both networks share (Carlini and Wagner
2016, section 4)."""

from __future__ import annotations

import torch
from torch import nn

from .nets import cnn


class Distilled(nn.Module):
    def __init__(self, net: nn.Module, temperature: float) -> None:
        super().__init__()
        self.net = net
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return z / self.temperature if self.training else z


def build(
    input_shape: tuple[int, int, int], num_classes: int, temperature: float = 100.0
) -> nn.Module:
    return Distilled(cnn(input_shape, num_classes), temperature)
