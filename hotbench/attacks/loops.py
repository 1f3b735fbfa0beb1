"""The loop of the sign-gradient attacks (PGD, BIM, MI-FGSM) that hotbench runs itself, and the
random starts PGD draws per sample. A leaf of hotbench.attacks: patched's copies of those attacks
use it.

Why hotbench runs the loop: a found sample's result is fixed (attack_batch keeps the first point
the deployed model misclassifies, see tracking.Tracked), so every step spent on it afterwards is
wasted. torchattacks' loops step the whole batch to the end, and tracking.Tracked can only stop a
batch once *every* sample of it is found: with the whole MNIST test set in one GPU batch that
never happened, and every PGD, BIM and MIM unit of the paper's sweep ran all its steps
(docs/performance.md, H200). `sign_loop` drops the found samples from the batch instead, so each
sample costs the steps it takes to break.

What makes the dropped samples' absence invisible to the others: each sample's gradient is its own
(eval mode), and the loss is the batch's summed cross-entropy divided by the size of the batch the
attack was *given* (torchattacks' mean over that batch, whose gradient for one sample is 1/n of its
own), so every remaining sample's gradient is bit for bit what it is in the full batch.
tests/evaluate/test_fasteval.py and tests/attacks/test_batching.py compare outcomes with the
full-length loop per sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

# On an accelerator every look at which samples are found is a host sync; there the batch is
# narrowed every few steps instead of every step (results do not depend on it).
NARROW_EVERY_ACCELERATOR = 4

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, Any]]


def sign_loop(
    atk: Any,
    images: torch.Tensor,
    labels: torch.Tensor,
    adv: torch.Tensor,
    step: Step,
    state: torch.Tensor | None = None,
) -> torch.Tensor:
    """`atk.steps` steps of `step(adv, grad, clean images, state) -> (adv, state)` from `adv`,
    each on the gradient of the cross-entropy of `atk.get_logits(adv)` (minus it, towards the
    attack's target labels, chosen first on the clean images, when targeted), as torchattacks'
    loops do.

    Where the model is hotbench's tracked view with the early stop on (tracking.Tracked,
    `stop_early`), the samples it has found are dropped from the batch as the loop goes; their
    rows of the returned batch are whatever they were when dropped (attack_batch replaces them with
    the kept points). Elsewhere (PGD-AT training, a transfer attack's surrogate, the naive loop of
    the benchmark) every sample takes every step."""
    target_labels = atk.get_target_label(images, labels) if atk.targeted else None
    track = atk.model if getattr(atk.model, "stop_early", False) else None
    n = images.shape[0]
    every = 1 if images.device.type == "cpu" else NARROW_EVERY_ACCELERATOR
    rows: torch.Tensor | None = None  # the batch's rows still attacked (None: all)
    final: torch.Tensor | None = None  # the whole batch, once rows have been dropped
    try:
        for i in range(atk.steps):
            if track is not None and i and i % every == 0:
                keep = ~(track.found if rows is None else track.found[rows])
                if not bool(keep.all()):
                    final = adv.detach().clone() if final is None else final
                    if rows is not None:
                        final[rows] = adv.detach()
                    idx = keep.nonzero().flatten()
                    rows = idx if rows is None else rows[idx]
                    adv, images, labels = adv.detach()[idx], images[idx], labels[idx]
                    target_labels = None if target_labels is None else target_labels[idx]
                    state = None if state is None else state[idx]
                    track.rows = rows
                    if rows.numel() == 0:
                        break
            adv.requires_grad = True
            outputs = atk.get_logits(adv)
            goal = target_labels if atk.targeted else labels
            cost = F.cross_entropy(outputs, goal, reduction="sum") / n
            grad = torch.autograd.grad(
                -cost if atk.targeted else cost, adv, retain_graph=False, create_graph=False
            )[0]
            adv, state = step(adv, grad, images, state)
    finally:
        if track is not None:
            track.rows = None
    if final is None:
        return adv
    if rows is not None and rows.numel():
        final[rows] = adv
    return final


def _draw(seeds: list[int], shape: tuple[int, ...], eps: float) -> torch.Tensor:
    """Uniform(-eps, eps) noise of `shape` for each seed, from a CPU generator seeded with it: the
    same numbers as `torch.empty(shape).uniform_(-eps, eps, generator=Generator().manual_seed(s))`
    (one generator reseeded, rows written in place: about 1.7x faster than a generator and a tensor
    per sample, which cost 0.11 s per 10,000 MNIST samples on this machine's CPU)."""
    out = torch.empty((len(seeds), *shape))
    gen = torch.Generator()
    for row, s in zip(out, seeds, strict=True):
        gen.manual_seed(s)
        row.uniform_(-eps, eps, generator=gen)
    return out


class StartBank:
    """PGD's per-sample random starts, drawn once per (seed, eps, shape) and kept.

    A sample's seed is its test index (plus the attack seed), so a sweep asks for the same start
    again and again: untargeted, each targeted mode and the logits attack of one eps on one model,
    and the same samples of every other model. Drawing them is a Python loop on the host (a seeded
    CPU generator per sample, so that the start does not depend on the batch); on a GPU that loop
    cost more than a whole batch's 40 PGD steps' worth of tracking. Kept rows are the very tensors
    drawn, so results are bit-identical with and without the bank. Bounded: past `limit_bytes` it
    starts over."""

    def __init__(self, limit_bytes: int = 512 * 2**20) -> None:
        self.limit_bytes = limit_bytes
        self._rows: dict[tuple[float, tuple[int, ...]], dict[int, int]] = {}
        self._data: dict[tuple[float, tuple[int, ...]], torch.Tensor] = {}

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._data.values())

    def clear(self) -> None:
        self._rows.clear()
        self._data.clear()

    def starts(self, seeds: list[int], shape: tuple[int, ...], eps: float) -> torch.Tensor:
        key = (float(eps), tuple(shape))
        rows = self._rows.setdefault(key, {})
        missing = [s for s in dict.fromkeys(seeds) if s not in rows]
        if missing:
            fresh = _draw(missing, key[1], key[0])
            if self.nbytes + fresh.numel() * fresh.element_size() > self.limit_bytes:
                self.clear()
                rows = self._rows.setdefault(key, {})
                missing = list(dict.fromkeys(seeds))
                fresh = _draw(missing, key[1], key[0])
            old = self._data.get(key)
            base = 0 if old is None else old.shape[0]
            self._data[key] = fresh if old is None else torch.cat([old, fresh])
            rows.update((s, base + i) for i, s in enumerate(missing))
        return self._data[key][torch.tensor([rows[s] for s in seeds], dtype=torch.int64)]


STARTS = StartBank()  # per process; evaluation only (SeededPGD.reuse_starts)


def random_starts(
    seeds: torch.Tensor, shape: tuple[int, ...], eps: float, bank: StartBank | None = None
) -> torch.Tensor:
    """PGD's random start for each sample, from that sample's own seed (see seeded_pgd_class)."""
    ints = [int(s) for s in seeds.tolist()]
    return bank.starts(ints, tuple(shape), eps) if bank is not None else _draw(ints, shape, eps)
