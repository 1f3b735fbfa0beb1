"""Randomized models: whether a model is one, and how it classifies inputs over its random draws.

A leaf of hotbench.attacks (torch and hotbench.draws only): the engine runs an attack on such a
model with it (engine.run_attack), and the diagnosis' randomness check measures with `detect`.

Every random number a model draws inside these functions comes from torch's global generators,
seeded per (stream, draw, chunk) by `draw_seed` with the caller's RNG state saved and restored
around it. Two consequences:
- results are reproducible (the model's noise is a function of the seeds);
- common random numbers: the report draws (`REPORT`) evaluate the first n test samples in a fixed
  arrangement, chunks of CHUNK rows starting at test index 0 (`cover`), so draw j of sample i sees
  the same noise whichever attack produced the input, and whatever n the result covers. A
  comparison of two attacks per sample and draw is then paired instead of comparing independent
  noise. This holds for any randomness drawn from torch's generators that does not depend on the
  other rows of the chunk (input noise, per-sample or per-chunk random resizing); a model that
  keeps its own generator is still measured, but not with common random numbers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..draws import DETECT_PASSES

# Rows per forward pass when a model is evaluated over its draws: the arrangement that common random
# numbers rely on (a constant: it must not depend on the attack's batch size). Small, so that a
# result on a few samples evaluates few rows beyond them (`cover`).
CHUNK = 64
# Inputs `detect` passes through the model to measure how often predictions change.
DETECT_SAMPLES = 256
# Every attack unit first asks whether its model is randomized (`is_randomized`): DETECT_PASSES
# passes of this many inputs, a few milliseconds; only a model whose logits moved pays for the full
# measurement. Ten passes, not two: a transform drawn from a small set (a random resize to one of
# 3 sizes with a random offset) gave two identical passes with probability 0.15 on the digits
# model of docs/randomized.md, ten with probability about 1e-5.
QUICK_SAMPLES = 32
# A logit that moves by more than this, relative to the sample's largest logit, between two passes
# of the same input moved because the model draws random numbers. Nondeterministic kernels (atomic
# float additions in a GPU convolution) move logits by float32 rounding, about 1e-6 relative; any
# noise a defense adds moves them by orders of magnitude more (Gaussian input noise of sigma 0.01 on
# the digits CNN: about 1e-2).
FLOAT_TOL = 1e-4

# Seed streams: the detection passes, the reported draws, and the separate draws that choose each
# sample's point.
DETECT, REPORT, SELECT = 0, 1, 2


def draw_seed(stream: int, draw: int, part: int) -> int:
    """The seed of one forward pass: above every attack's batch seed (cfg.seed * 100_003 + batch <
    2**49), so the model's draws never replay the noise an attack drew."""
    if not (0 <= draw < 2**16 and 0 <= part < 2**24):
        raise ValueError(f"draw {draw} or part {part} out of range")
    return (1 << 50) + (stream << 40) + (draw << 24) + part


@contextlib.contextmanager
def seeded(device: torch.device) -> Iterator[Callable[[int], None]]:
    """Save torch's RNG state (CPU, and `device` if it is an accelerator), yield a function that
    seeds it, and restore the state afterwards: the caller's randomness is untouched."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield torch.manual_seed


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass(frozen=True)
class Randomness:
    """What repeated eval-mode forward passes of the same clean inputs showed."""

    randomized: bool
    passes: int
    n: int  # inputs passed
    changed: float  # fraction of inputs whose class is not the same on every pass
    moved: float  # largest move of a logit between passes, relative to the input's largest logit

    def fields(self) -> dict[str, float | int | bool]:
        return asdict(self)

    @property
    def summary(self) -> str:
        if not self.randomized:
            return (
                f"deterministic: {self.passes} forward passes of {self.n} clean inputs give the"
                f" same logits (largest relative move {self.moved:.1g})"
            )
        return (
            f"{self.changed:.2f} of predictions change between draws ({self.passes} forward"
            f" passes of {self.n} clean inputs; logits move by up to {self.moved:.2g} of their"
            " scale)"
        )


def is_randomized(net: torch.nn.Module, x: torch.Tensor) -> Randomness:
    """What an attack unit asks first: DETECT_PASSES passes of QUICK_SAMPLES inputs, then, only if
    they differ, the full measurement (`detect`)."""
    quick = detect(net, x, n=QUICK_SAMPLES)
    return detect(net, x) if quick.randomized else quick


@torch.inference_mode()
def detect(
    net: torch.nn.Module,
    x: torch.Tensor,
    passes: int = DETECT_PASSES,
    n: int = DETECT_SAMPLES,
) -> Randomness:
    """Pass the same clean inputs (the first `n` of `x`) through `net.logits` (a HotNet in eval
    mode) `passes` times, each pass seeded differently, and compare. Randomized: a logit moved by
    more than FLOAT_TOL of its scale (float noise from nondeterministic kernels does not count)."""
    device = _device(net)
    x = x[:n]
    was = net.training
    net.eval()
    first: torch.Tensor | None = None
    changed = torch.zeros(x.shape[0], dtype=torch.bool)
    moved = 0.0
    try:
        with seeded(device) as seed:
            for p in range(passes):
                parts = []
                for c, i in enumerate(range(0, x.shape[0], CHUNK)):
                    seed(draw_seed(DETECT, p, c))
                    parts.append(net.logits(x[i : i + CHUNK].to(device)).float().cpu())
                z = torch.cat(parts) if parts else torch.zeros(0, 1)
                if first is None:
                    first = z
                    scale = z.abs().amax(1).clamp_min(torch.finfo(torch.float32).tiny)
                    continue
                changed |= z.argmax(1) != first.argmax(1)
                if z.numel():
                    moved = max(moved, float(((z - first).abs().amax(1) / scale).max()))
    finally:
        net.train(was)
    if not math.isfinite(moved):
        moved = float("inf")
    return Randomness(
        moved > FLOAT_TOL,
        passes,
        int(x.shape[0]),
        float(changed.float().mean()) if x.shape[0] else 0.0,
        moved,
    )


@torch.inference_mode()
def correct_over_draws(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    draws: int,
    stream: int,
    part: int = 0,
) -> tuple[np.ndarray, torch.Tensor]:
    """Per row of `x` and draw, whether `model` classifies it as `y` ([rows, draws] bool), and the
    classes of draw 0. Draw j of chunk c (CHUNK rows from row 0) is seeded with
    draw_seed(stream, j, part + c): rows at the same position of the same arrangement see the same
    noise in every call."""
    device = _device(model)
    out = np.zeros((x.shape[0], draws), dtype=bool)
    first = torch.zeros(x.shape[0], dtype=torch.int64)
    with seeded(device) as seed:
        for j in range(draws):
            for c, i in enumerate(range(0, x.shape[0], CHUNK)):
                seed(draw_seed(stream, j, part + c))
                pred = model(x[i : i + CHUNK].to(device)).argmax(1).cpu()
                out[i : i + CHUNK, j] = (pred == y[i : i + CHUNK].cpu()).numpy()
                if j == 0:
                    first[i : i + CHUNK] = pred
    return out, first


def cover(n: int, n_test: int) -> int:
    """How many test rows the report draws evaluate for a result on the first n: whole chunks
    (capped at the test set), so that the arrangement of the first n rows, and so their noise,
    does not depend on n."""
    return min(n_test, math.ceil(n / CHUNK) * CHUNK)
