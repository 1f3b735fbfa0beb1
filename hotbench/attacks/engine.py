"""The evaluation of one attack config on one model (through torchattacks): tracking, judging,
run_attack.

What hotbench adds around torchattacks, each for a reason given in ../shared/torchattacks-notes.md:
- only clean-correct samples are attacked (adversarial accuracy = correct after attack / all
  samples);
- every point an attack queries is checked on the deployed model, and the first one inside the
  threat model that it misclassifies is kept: PGD returns its last iterate, so without this a
  success found at step 10 can be lost by step 40 ("silent success", Pintor et al. 2022);
- the global RNG is forked around every batch and each batch gets its own seed, since several
  attacks reset torch's global seed on every call;
- `on="logits"` attacks z / T_train instead of act(z / T_eval), and the result is judged on the
  deployed model: the attack that does not trust the saturated output;
- a targeted attack is tracked towards its target: the kept point is the first one the deployed
  model assigns to the target class (a misclassification into another class does not stop it),
  and the targets are stored per sample, so the report shows targeted success. Where the target
  was never reached, the attack's own final point is judged as usual: it still counts in the
  untargeted worst case where it misclassified.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import AttackConfig
from ..data import Split
from ..draws import DEFAULT_DRAWS, DEFAULT_EOT, SELECT_DRAWS
from ..errors import HotbenchError
from ..models import HotNet, predict
from . import randomized
from .batch1 import one_at_a_time
from .spec import ATTACKS, AttackSpec, Norm, check_targeted


class _AllFound(Exception):
    """Raised from inside an attack's loop once every sample of the batch has a kept adversarial
    point."""


_SYNC_EVERY = 8


class Tracked(nn.Module):
    """The model the attack sees. It also watches every full-batch query the attack makes and keeps,
    per sample, the first point that the deployed model misclassifies inside the threat model.

    Since a found sample's result is that first point whatever the attack does next, the remaining
    iterations are wasted once every sample of the batch is found: with `stop_early` the query
    raises `_AllFound` and attack_batch returns the kept points. Results are identical; on a model
    that breaks in a few steps a 40-step attack costs a few steps. The sign-gradient attacks go
    further (attacks.loops.sign_loop): they drop found samples from the batch and set `rows`, the
    rows of the batch their queries now hold, so that a sample costs the steps it takes to break."""

    def __init__(
        self, net: HotNet, cfg: AttackConfig, norm: Norm | None, x0: torch.Tensor, y: torch.Tensor
    ):
        super().__init__()
        self.net = net
        self.on = cfg.on
        self.eval_temp = float(cfg.eval_temp)
        self.eps = cfg.eps
        self.norm = norm
        self.x0, self.y = x0, y
        self.found = torch.zeros_like(y, dtype=torch.bool)
        self.best = x0.clone()
        self.surrogate: HotNet | None = None  # set by attack_batch for transfer attacks
        self.targeted = cfg.targeted is not None
        self.target: torch.Tensor | None = None  # the attack's target labels, once it chose them
        self.stop_early = False  # set by attack_batch
        self.rows: torch.Tensor | None = None  # set by sign_loop: the batch's rows of a query
        self.eot = 1  # forward passes averaged per query (set by attack_batch): see forward
        self._queries = 0
        self.sync_free = x0.device.type != "cpu"  # see forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.eot > 1:
            return self._expected(x)
        z = self.net.logits(x)
        out = z / self.net.train_temp if self.on == "logits" else self.net.head(z, self.eval_temp)
        self._watch(x, z, out)
        return out

    def _expected(self, x: torch.Tensor) -> torch.Tensor:
        """Expectation over Transformation (Athalye et al. 2018) for a randomized model: the mean
        of `eot` *separate* forward passes (each draws its own noise; one pass on a repeated batch
        would draw a per-batch transform, such as a random resize, once), so every attack that
        queries the model (gradient, score-based, its loss and its checkpoints) follows the
        expected output, and its gradient is the mean of the passes' gradients through it. The
        tracking judges the query on the mean deployed output too, not on one draw."""
        outs, deployed = [], []
        for _ in range(self.eot):
            z = self.net.logits(x)
            if self.on == "logits":
                outs.append(z / self.net.train_temp)
                with torch.no_grad():
                    deployed.append(self.net.head(z, self.eval_temp))
            else:
                outs.append(self.net.head(z, self.eval_temp))
        out = torch.stack(outs).mean(0)
        with torch.no_grad():
            mean_deployed = out if self.on == "output" else torch.stack(deployed).mean(0)
        self._watch(x, None, out, mean_deployed)
        return out

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The class the deployed model gives `x` (the mean of `eot` passes on a randomized
        model), without tracking it: what an ensemble judges its sub-attacks with."""
        if self.eot == 1:
            return self.net.head(self.net.logits(x), self.eval_temp).argmax(1)
        passes = [self.net.head(self.net.logits(x), self.eval_temp) for _ in range(self.eot)]
        return torch.stack(passes).mean(0).argmax(1)

    def _watch(
        self,
        x: torch.Tensor,
        z: torch.Tensor | None,
        out: torch.Tensor,
        deployed: torch.Tensor | None = None,
    ) -> None:
        rows = self.rows
        whole = rows is None and x.shape == self.x0.shape
        if self.norm is not None and (whole or (rows is not None and x.shape[0] == rows.numel())):
            with torch.no_grad():
                if deployed is None:
                    deployed = out if self.on == "output" else self.net.head(z, self.eval_temp)
                self._track(x, deployed)

    def _track(self, x: torch.Tensor, deployed: torch.Tensor) -> None:
        """Record, per sample of the query, whether it is the first success inside the threat
        model (rows: the query's rows of the batch, None for the whole batch)."""
        rows = self.rows
        part = (lambda t: t) if rows is None else (lambda t: t[rows])
        pred = deployed.argmax(1)
        if not self.targeted:
            success = pred != part(self.y)
        elif self.target is not None:
            success = pred == part(self.target)
        else:  # the attack has not chosen its targets yet (its first, clean query)
            success = torch.zeros_like(pred, dtype=torch.bool)
        hit = success & inside(x, part(self.x0), self.eps, self.norm) & ~part(self.found)
        if not self.sync_free:
            if hit.any():
                at = hit if rows is None else rows[hit]
                self.best[at] = x[hit].detach()
                self.found[at] = True
                if self.stop_early and bool(self.found.all()):
                    raise _AllFound
            return
        # On an accelerator every `.any()` is a host sync per attack step (measured on an H100:
        # +55% over plain torchattacks PGD). Same kept points without syncing; the early-stop test
        # syncs once every `_SYNC_EVERY` queries instead.
        keep = hit.view(-1, *([1] * (x.dim() - 1)))
        if rows is None:
            self.best = torch.where(keep, x.detach(), self.best)
            self.found |= hit
        else:
            self.best[rows] = torch.where(keep, x.detach(), self.best[rows])
            self.found[rows] = self.found[rows] | hit
        self._queries += 1
        if self.stop_early and self._queries % _SYNC_EVERY == 0 and bool(self.found.all()):
            raise _AllFound


def inside(x: torch.Tensor, x0: torch.Tensor, eps: float, norm: Norm | None) -> torch.Tensor:
    """Per sample: is x a valid adversarial input for x0 under the threat model (tolerance for float
    error)?"""
    flat = x.flatten(1)
    low, high = torch.aminmax(flat, dim=1)  # one pass (Tracked runs this at every attack step)
    in_box = (low >= -1e-6) & (high <= 1 + 1e-6)
    if norm is None:
        return in_box
    size = torch.linalg.vector_norm(flat - x0.flatten(1), math.inf if norm == "Linf" else 2, dim=1)
    return in_box & (size <= eps * (1 + 1e-5) + 1e-6)


@dataclass
class AttackOutcome:
    """Per-sample results of one attack config on one model; the aggregate numbers derive from
    them."""

    config: AttackConfig
    indices: np.ndarray  # test-set indices of the evaluated samples
    labels: np.ndarray
    clean_pred: np.ndarray
    adv_pred: np.ndarray  # = clean_pred where the sample was not attacked (clean-wrong)
    linf: np.ndarray  # perturbation size per sample (0 where the attack returned the clean input)
    l2: np.ndarray
    time_s: float
    n_invalid: int = 0  # adversarial points outside the threat model, discarded
    attacked: np.ndarray | None = None  # which samples were attacked (None: all clean-correct ones)
    target: np.ndarray | None = None  # targeted attacks: the target class per sample (-1: none)
    # A randomized model (attacks.randomized): correct per sample and draw, [n, draws], clean and
    # at the chosen point; clean_pred / adv_pred are then draw 0's classes. None: deterministic.
    clean_draws: np.ndarray | None = None
    adv_draws: np.ndarray | None = None
    randomness: dict[str, Any] | None = None  # what detection found, and the eot and draws used

    @property
    def clean_correct(self) -> np.ndarray:
        return self.clean_pred == self.labels

    @property
    def robust(self) -> np.ndarray:
        return self.adv_pred == self.labels

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def metrics(self) -> dict[str, float | int]:
        if self.adv_draws is not None and self.clean_draws is not None:
            return self._metrics_over_draws(self.clean_draws, self.adv_draws)
        correct = self.clean_correct
        broken = correct & ~self.robust
        n_correct = int(correct.sum())
        return {
            "n_samples": self.n,
            "n_clean_correct": n_correct,
            "clean_acc": float(correct.mean()) if self.n else float("nan"),
            "adv_acc": float(self.robust.mean()) if self.n else float("nan"),
            "success_rate": float(broken.sum() / n_correct) if n_correct else 0.0,
            "mean_linf": float(self.linf[broken].mean()) if broken.any() else None,
            "mean_l2": float(self.l2[broken].mean()) if broken.any() else None,
            "median_l2": float(np.median(self.l2[broken])) if broken.any() else None,
            "n_invalid": self.n_invalid,
            **(
                {
                    "targeted_success": (
                        float((correct & (self.adv_pred == self.target)).sum() / n_correct)
                        if n_correct
                        else 0.0
                    )
                }
                if self.target is not None
                else {}
            ),
        }

    def _metrics_over_draws(self, clean: np.ndarray, adv: np.ndarray) -> dict[str, float | int]:
        """Expected accuracies over samples and draws; a sample counts as broken (for the
        perturbation sizes) where its chosen point is not the clean input."""
        moved = self.linf > 0
        n_cells = clean.size
        return {
            "n_samples": self.n,
            "draws": int(clean.shape[1]),
            "n_clean_correct": int(clean.any(1).sum()),  # correct on some draw: attacked
            "clean_acc": float(clean.sum() / n_cells) if n_cells else float("nan"),
            "adv_acc": float(adv.sum() / n_cells) if n_cells else float("nan"),
            "success_rate": float((clean & ~adv).sum() / clean.sum()) if clean.any() else 0.0,
            "mean_linf": float(self.linf[moved].mean()) if moved.any() else None,
            "mean_l2": float(self.l2[moved].mean()) if moved.any() else None,
            "median_l2": float(np.median(self.l2[moved])) if moved.any() else None,
            "n_invalid": self.n_invalid,
            # targeted: on draw 0 (the classes stored per sample)
            **(
                {
                    "targeted_success": float(
                        (first & (self.adv_pred == self.target)).sum() / first.sum()
                    )
                    if (first := self.clean_correct).any()
                    else 0.0
                }
                if self.target is not None
                else {}
            ),
        }


def _host_targets(atk: Any, mode: str, inputs: torch.Tensor, labels: torch.Tensor | None = None):
    """torchattacks' own choice of target (least-likely: the k-th smallest output among the other
    classes; random: one `torch.rand([1])` draw per sample from the global generator), computed on
    the host.

    torchattacks 3.5.1 loops over the samples on the attack's device: on a GPU every iteration
    reads and writes single elements, so choosing the targets of one batch of 2,500 MNIST images
    took about 2 s, against 0.06 s for the whole untargeted FGSM unit (measured on an H100, issue
    18). The same loop over host copies makes the same choices, in the same order, from the same
    random draws, in milliseconds."""
    outputs = atk.get_output_with_eval_nograd(inputs).cpu()
    labels = outputs.argmax(1) if labels is None else labels.cpu()
    n_classes = outputs.shape[-1]
    target = torch.zeros_like(labels)
    for i in range(labels.shape[0]):
        others = list(range(n_classes))
        others.remove(int(labels[i]))
        if mode == "random":
            t = int(len(others) * torch.rand([1]))
        else:
            t = int(torch.kthvalue(outputs[i][others], atk._kth_min).indices)
        target[i] = others[t]
    return target.long().to(atk.device)


def _set_target_mode(atk: Any, cfg: AttackConfig, tracked: Tracked) -> None:
    """Put the attack in its targeted mode and let `tracked` see the targets it chooses."""
    if check_targeted(cfg.method, cfg.targeted) is None:
        return
    if cfg.targeted == "random":
        atk.set_mode_targeted_random(quiet=True)
    else:
        atk.set_mode_targeted_least_likely(quiet=True)
    atk._target_map_function = functools.partial(_host_targets, atk, cfg.targeted)
    choose = atk.get_target_label

    def get_target_label(inputs, labels=None):
        target = choose(inputs, labels)
        if inputs.shape == tracked.x0.shape:
            tracked.target = target.detach().to(tracked.y.device)
        return target

    atk.get_target_label = get_target_label


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
        _set_target_mode(atk, cfg, tracked)
        try:
            adv = atk(x, y).detach()
        except _AllFound:
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


def num_classes(m: Tracked) -> int:
    """Classes of the attacked model (APGD-T and FAB-T target every other class, so they must know
    it)."""
    with torch.no_grad():
        return int(m.net.logits(m.x0[:1]).shape[1])


def need_classes(m: Tracked, k: int, what: str) -> int:
    n = num_classes(m)
    if n < k:
        raise HotbenchError(
            f"{what} needs at least {k} classes, this model has {n}",
            "use the ce loss (apgd --param loss=ce) or another attack",
        )
    return n
