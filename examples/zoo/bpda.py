"""A non-differentiable input preprocessing whose gradient is wrong: the setting of BPDA (Athalye,
Carlini and Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML 2018, section 4.1).

The preprocessing is bit-depth reduction (Xu, Evans and Qi, "Feature Squeezing", NDSS 2018; also
one of Guo et al.'s input transformations, ICLR 2018): each pixel rounded to 4 bits, g(x) ~ x. It
has no useful derivative, and a defense that ships it reports some gradient anyway; here, as
Athalye et al. describe for shattered gradients, "the gradient is incorrect": the backward pass
returns the incoming gradient with its pixels in a fixed shuffled order, a direction unrelated to
g's. The gradient is not zero and its norm is healthy, so no zero-gradient check sees anything; only
an attack that does not use this gradient (black-box, transfer, or BPDA's identity backward) finds
that the classifier behind g is not robust.

The forward pass is the undefended classifier on 4-bit inputs (15 levels, finer than the 17 grey
levels of the digits set: the image barely changes): its outputs are about those of the plain
network, only its input gradient is corrupted. This is the network of issue 24, once reported
robust."""

from __future__ import annotations

import torch
from torch import nn

from .nets import cnn


class _SqueezeWrongGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, bits: int, perm: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(perm)
        levels = 2**bits - 1
        return torch.round(x.clamp(0, 1) * levels) / levels

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (perm,) = ctx.saved_tensors
        flat = grad.flatten(1)
        return flat[:, perm].view_as(grad), None, None


class SqueezeWithWrongGradient(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], bits: int = 4, seed: int = 0) -> None:
        super().__init__()
        self.bits = bits
        n = input_shape[0] * input_shape[1] * input_shape[2]
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SqueezeWrongGrad.apply(x, self.bits, self.perm)


def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return nn.Sequential(SqueezeWithWrongGradient(input_shape), cnn(input_shape, num_classes))
