"""Random resizing and padding (Xie, Wang, Zhang, Ren and Yuille, "Mitigating Adversarial Effects
Through Randomization", ICLR 2018): a randomized defense.

At every forward pass the input is resized to a random size and zero-padded, at a random offset, to
a fixed larger size; the classifier sees only the result. Xie et al. resize 299-pixel ImageNet
images to r x r with r drawn from [299, 331) and pad to 331 x 331, one draw per forward pass of a
batch (nearest-neighbour resizing). They report that single-step and iterative attacks crafted on
one draw transfer poorly to another. Athalye, Carlini and Wagner ("Obfuscated Gradients Give a
False Sense of Security", ICML 2018, section 5.3) break it with Expectation over Transformation:
the gradient averaged over the transform's distribution.

Here at digits scale: 8-pixel images resized to r in {8, 9, 10} and padded to 10 x 10, one size and
one offset per forward pass, as Xie et al. draw them. The transform is differentiable almost
everywhere (nearest-neighbour resizing routes each output pixel's gradient to one input pixel), so
the gradient is informative but belongs to one draw. Trained with the transform in place (Xie et al.
add it to a trained network; training with it keeps clean accuracy on a network this small)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .nets import cnn


class RandomResizePad(nn.Module):
    """[B, C, H, W] -> [B, C, out, out]: one random size r in [H, out] and one random offset per
    forward pass, drawn from torch's global generator (so hotbench's seeds make it reproducible)."""

    def __init__(self, size: int, out: int) -> None:
        super().__init__()
        self.size, self.out = size, out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = int(torch.randint(self.size, self.out + 1, (1,)))
        x = F.interpolate(x, size=(r, r), mode="nearest")
        pad = self.out - r
        left = int(torch.randint(0, pad + 1, (1,)))
        top = int(torch.randint(0, pad + 1, (1,)))
        return F.pad(x, (left, pad - left, top, pad - top))


def build(input_shape: tuple[int, int, int], num_classes: int, extra: int = 2) -> nn.Module:
    channels, height, _ = input_shape
    out = height + extra
    return nn.Sequential(RandomResizePad(height, out), cnn((channels, out, out), num_classes))
