"""The evaluation of one attack config on one model (through torchattacks): the batched attack
loop (attack_points, attack_batch), the judging of its points (judge), and run_attack over a test
set, deterministic or over draws of a randomized model.

What hotbench adds around torchattacks, each for a reason given in ../shared/torchattacks-notes.md:
- only clean-correct samples are attacked (adversarial accuracy = correct after attack / all
  samples);
- every point an attack queries is checked on the deployed model, and the first one inside the
  threat model that it misclassifies is kept (attacks.tracking);
- the global RNG is forked around every batch and each batch gets its own seed, since several
  attacks reset torch's global seed on every call;
- a targeted attack's targets are chosen on the host and tracked (attacks.targeting).
The per-sample result and its numbers are attacks.outcome's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import interrupts
from ..config import AttackConfig
from ..data import Split
from ..draws import DEFAULT_DRAWS, DEFAULT_EOT, SELECT_DRAWS
from ..models import HotNet, predict
from . import randomized
from .batch1 import one_at_a_time
from .outcome import AttackOutcome
from .spec import ATTACKS, AttackSpec
from .targeting import set_target_mode
from .tracking import AllFound, Tracked, inside


@dataclass(frozen=True)
class Target:
    """What an attack runs on: the model (deployed at the config's eval temperature, or its logits),
    and the surrogate model a transfer attack crafts on (None for every other attack)."""

    net: HotNet
    surrogate: HotNet | None = None


@dataclass(frozen=True)
class Batch:
    """A batch of clean-correct samples on the attack's device: inputs, labels, and their test-set
    indices (None: per-sample seeds derive from the batch seed instead)."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor | None = None


@dataclass
class Points:
    """What an attack left for one batch: its final point (the clean input where it is outside the
    threat model), the first point the tracking saw succeed (`found`), and how many final points
    were discarded as invalid."""

    x: torch.Tensor  # the clean inputs
    final: torch.Tensor
    first: torch.Tensor  # first success where found, else the final point
    found: torch.Tensor
    n_invalid: int


@dataclass(frozen=True)
class Tracking:
    """How the tracked model serves an attack: `stop_early` (a batch stops once every sample is
    found, and the sign-gradient loops drop found samples) and `eot` (forward passes averaged per
    query, Tracked._expected)."""

    stop_early: bool = True
    eot: int = 1


def attack_points(
    target: Target | HotNet,
    cfg: AttackConfig,
    batch: Batch,
    seed: int,
    targets: torch.Tensor | None = None,
    tracking: Tracking = Tracking(),
) -> Points:
    """Run the attack on one batch of clean-correct samples (see attack_batch)."""
    target = target if isinstance(target, Target) else Target(target)
    x, y, index = batch.x, batch.y, batch.index
    spec = ATTACKS.get(cfg.method)
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        tracked = Tracked(target.net, cfg, spec.norm, x, y)
        tracked.surrogate = target.surrogate
        tracked.stop_early = tracking.stop_early
        tracked.eot = tracking.eot
        atk = spec.build(tracked, cfg)
        if hasattr(atk, "seed"):
            atk.seed = seed
        if hasattr(atk, "sample_seeds"):
            ids = index.cpu() if index is not None else torch.arange(x.shape[0]) + seed * 100_003
            atk.sample_seeds = cfg.seed * 1_000_003 + ids
            if hasattr(atk, "reuse_starts"):  # evaluation seeds recur across units: keep starts
                atk.reuse_starts = True
        set_target_mode(atk, cfg, tracked)
        try:
            adv = atk(x, y).detach()
        except AllFound:
            adv = tracked.best.clone()
    if targets is not None and tracked.target is not None:
        targets.copy_(tracked.target.cpu())
    valid = inside(adv, x, cfg.eps, spec.norm)
    # a final point outside the threat model is discarded; it only counts when nothing valid
    # replaces it
    n_invalid = (
        int((~valid & ~tracked.found).sum()) if spec.norm is not None else int((~valid).sum())
    )
    final = torch.where(valid.view(-1, 1, 1, 1), adv, x)
    if spec.norm is None:
        return Points(x, final, final, torch.zeros_like(tracked.found), n_invalid)
    first = torch.where(tracked.found.view(-1, 1, 1, 1), tracked.best, final)
    return Points(x, final, first, tracked.found, n_invalid)


def attack_batch(
    target: Target | HotNet,
    cfg: AttackConfig,
    batch: Batch,
    seed: int,
    stop_early: bool = True,
    targets: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """Adversarial inputs for one batch of clean-correct samples, and how many were discarded as
    invalid.

    The batch's `index` (test-set indices) seeds per-sample randomness where the attack supports it
    (pgd's random start), so that a sample's outcome does not depend on its batch; without it the
    per-sample seeds derive from `seed`. `stop_early=False` runs every iteration (the naive
    baseline). `targets` (filled in place, targeted attacks): the target class the attack chose per
    sample.
    """
    p = attack_points(target, cfg, batch, seed, targets, Tracking(stop_early=stop_early))
    return p.first, p.n_invalid


def judge(deployed: nn.Module, adv: torch.Tensor, spec: AttackSpec) -> torch.Tensor:
    """The class the deployed model gives each adversarial input: what every result records as
    adv_pred.

    A minimum-norm attack (cw, deepfool) stops at its first point past the decision boundary, where
    the top-2 margin is a rounding error (measured on the digits softmax model with deepfool: median
    1.4e-6), so the class of such a point depends on the kernel that computes it: a batched forward
    pass disagreed with a batch-1 pass on 20 of 40 points, and the batch's other samples changed it
    again. Those points are therefore judged one at a time, the pass DeepFool itself decides with,
    so a sample's result never depends on which samples share its batch (fast and naive paths
    agree). Bounded attacks keep the batched pass: their kept point is the first iterate past the
    boundary, a whole step beyond it."""
    if spec.norm is None:
        return one_at_a_time(deployed).argmax(adv)
    with torch.inference_mode():
        return deployed(adv).argmax(1)


def run_attack(
    target: Target | HotNet,
    test: Split,
    cfg: AttackConfig,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
    only: torch.Tensor | None = None,
) -> AttackOutcome:
    """Evaluate one resolved attack config on the first `cfg.n_samples` test images.

    `target` is the model (or a Target, which adds the surrogate a transfer attack crafts on: see
    `composite.surrogate_config`). `only` (bool per sample) restricts the attack to those samples
    (fasteval's skip mode: the ones that earlier attacks of a suite left robust); the others keep
    their clean prediction and `attacked` False.
    """
    target = target if isinstance(target, Target) else Target(target)
    net = target.net
    start = time.perf_counter()
    spec = ATTACKS.get(cfg.method)
    net.eval()
    data = test.head(cfg.n_samples)
    rnd = randomized.is_randomized(net, data.x)
    if rnd.randomized:
        unit = _Unit(target, test, cfg, device, on_batch, only)
        return _run_over_draws(unit, rnd, start)
    deployed = net.deployed(cfg.eval_temp)
    clean_pred = predict(deployed, data.x)
    adv_pred = clean_pred.clone()
    linf = torch.zeros(len(data))
    l2 = torch.zeros(len(data))
    attacked = clean_pred == data.y
    if only is not None:
        attacked &= only.cpu().bool()
    todo = attacked.nonzero().flatten()
    n_invalid = 0
    goals = torch.full((len(data),), -1, dtype=torch.int64) if cfg.targeted else None
    for b, i in enumerate(range(0, todo.numel(), cfg.batch_size)):
        interrupts.check()
        idx = todo[i : i + cfg.batch_size]
        x, y = data.x[idx].to(device), data.y[idx].to(device)
        chosen = torch.full((idx.numel(),), -1, dtype=torch.int64) if goals is not None else None
        adv, bad = attack_batch(
            target, cfg, Batch(x, y, idx), seed=cfg.seed * 100_003 + b, targets=chosen
        )
        if goals is not None:
            goals[idx] = chosen
        n_invalid += bad
        adv_pred[idx] = judge(deployed, adv, spec).cpu()
        d = (adv - x).flatten(1).cpu()
        linf[idx] = d.abs().amax(1)
        l2[idx] = d.norm(dim=1)
        if on_batch is not None:
            on_batch(idx.numel())
    n = len(data)
    return AttackOutcome(
        cfg,
        np.arange(n),
        data.y.numpy(),
        clean_pred.numpy(),
        adv_pred.numpy(),
        linf.numpy(),
        l2.numpy(),
        time.perf_counter() - start,
        n_invalid,
        attacked.numpy(),
        None if goals is None else goals.numpy(),
        # --eot / --draws asked for on a deterministic model: say that they changed nothing
        randomness=_deterministic(cfg, rnd),
    )


def _deterministic(cfg: AttackConfig, rnd: randomized.Randomness) -> dict[str, Any] | None:
    if cfg.eot is None and cfg.draws is None:
        return None  # the result documents of deterministic models are as they always were
    return {**rnd.fields(), "eot": 1, "draws": 1}


@dataclass(frozen=True)
class _Unit:
    """run_attack's arguments, for the randomized path."""

    target: Target
    test: Split
    cfg: AttackConfig
    device: torch.device
    on_batch: Callable[[int], None] | None
    only: torch.Tensor | None


def _run_over_draws(u: _Unit, rnd: randomized.Randomness, start: float) -> AttackOutcome:
    """run_attack on a randomized model: each sample's outcome is its accuracy over `draws`
    draws of the model (common random numbers across attacks: attacks.randomized).

    What changes, and why:
    - the attack queries the mean of `eot` forward passes (Tracked._expected);
    - a point is never judged on one draw: the early stop and the narrowing of the batch are off
      (both would drop a sample after one lucky draw), and each sample's point is chosen among
      the clean input, the tracking's first success and the attack's final point by its accuracy
      over SELECT_DRAWS draws that are not the reported ones (no selection bias);
    - every sample that some clean draw classifies correctly is attacked, and the chosen points
      are then evaluated on the reported draws in the fixed arrangement (randomized.cover)."""
    target, test, cfg, device, only = u.target, u.test, u.cfg, u.device, u.only
    net = target.net
    spec = ATTACKS.get(cfg.method)
    m = cfg.draws or DEFAULT_DRAWS
    k = 1 if spec.surrogate else (cfg.eot or DEFAULT_EOT)  # a transfer never queries the model
    data = test.head(cfg.n_samples)
    n = len(data)
    full = test.head(randomized.cover(n, len(test)))
    deployed = net.deployed(cfg.eval_temp)
    clean_draws, clean_pred = randomized.correct_over_draws(
        deployed, full.x, full.y, m, randomized.REPORT
    )
    clean_draws, clean_pred = clean_draws[:n], clean_pred[:n]
    attacked = torch.from_numpy(clean_draws.any(1))
    if only is not None:
        attacked &= only.cpu().bool()
    todo = attacked.nonzero().flatten()
    points = full.x.clone()
    n_invalid = 0
    goals = torch.full((n,), -1, dtype=torch.int64) if cfg.targeted else None
    for b, i in enumerate(range(0, todo.numel(), cfg.batch_size)):
        interrupts.check()
        idx = todo[i : i + cfg.batch_size]
        x, y = data.x[idx].to(device), data.y[idx].to(device)
        chosen = torch.full((idx.numel(),), -1, dtype=torch.int64) if goals is not None else None
        p = attack_points(
            target, cfg, Batch(x, y, idx), cfg.seed * 100_003 + b, chosen, Tracking(False, k)
        )
        if goals is not None:
            goals[idx] = chosen
        n_invalid += p.n_invalid
        points[idx] = _choose(deployed, p, y, b).cpu()
        if u.on_batch is not None:
            u.on_batch(idx.numel())
    adv_draws, adv_pred = randomized.correct_over_draws(
        deployed, points, full.y, m, randomized.REPORT
    )
    d = (points[:n] - data.x).flatten(1)
    return AttackOutcome(
        cfg,
        np.arange(n),
        data.y.numpy(),
        clean_pred.numpy(),
        adv_pred[:n].numpy(),
        d.abs().amax(1).numpy(),
        d.norm(dim=1).numpy(),
        time.perf_counter() - start,
        n_invalid,
        attacked.numpy(),
        None if goals is None else goals.numpy(),
        clean_draws=clean_draws,
        adv_draws=adv_draws[:n],
        randomness={**rnd.fields(), "eot": k, "draws": m, "select_draws": SELECT_DRAWS},
    )


def _choose(deployed: nn.Module, p: Points, y: torch.Tensor, batch: int) -> torch.Tensor:
    """Per sample, the candidate point (the attack's final point, its first success, the clean
    input: ties go to the earlier) with the lowest accuracy over SELECT_DRAWS draws of the
    selection stream, all candidates on the same draws."""
    candidates = [p.final, p.first, p.x]
    acc = np.stack(
        [
            randomized.correct_over_draws(
                deployed, c, y, SELECT_DRAWS, randomized.SELECT, part=batch << 8
            )[0].mean(1)
            for c in candidates
        ]
    )
    pick = torch.from_numpy(acc.argmin(0)).to(p.x.device)  # argmin: the first of equal ones
    stacked = torch.stack(candidates)
    return stacked[pick, torch.arange(p.x.shape[0], device=p.x.device)]
