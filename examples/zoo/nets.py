"""The network every zoo entry builds on: a plain two-convolution CNN for inputs in [0, 1] of any
size, as a user would write it (no normalisation layer, no defense).

`hotbench train --arch examples.zoo.nets:cnn ...` trains it undefended, with PGD-AT, or under one of
hotbench's temperature heads; the defense modules beside it (thermometer, bpda, distillation) put
their defense in front of or around it."""

from __future__ import annotations

from torch import nn


def cnn(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Two 3x3 convolutions, a 2x2 max-pool and two dense layers (digits-cnn's layout, without its
    input normalisation)."""
    channels, height, width = input_shape
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * (height // 2) * (width // 2), 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )
