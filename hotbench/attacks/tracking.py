"""The model an attack sees (Tracked): it answers the attack's queries and keeps, per sample, the
first point the deployed model misclassifies inside the threat model; `inside` is that threat model.

Why (../shared/torchattacks-notes.md): PGD returns its last iterate, so without the tracking a
success found at step 10 can be lost by step 40 ("silent success", Pintor et al. 2022). Every point
an attack queries is judged on the deployed model, also where the attack itself works on the logits
(`on="logits"`: it attacks z / T_train instead of act(z / T_eval), the attack that does not trust
the saturated output). A targeted attack is tracked towards its target: the kept point is the first
one the deployed model assigns to the target class (a misclassification into another class does not
stop it). The batched attack loop around it is attacks.engine's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import AttackConfig
from ..errors import HotbenchError
from ..models import HotNet
from .spec import Norm


class AllFound(Exception):
    """Raised from inside an attack's loop once every sample of the batch has a kept adversarial
    point."""


_SYNC_EVERY = 8


class Tracked(nn.Module):
    """The model the attack sees. It also watches every full-batch query the attack makes and keeps,
    per sample, the first point that the deployed model misclassifies inside the threat model.

    Since a found sample's result is that first point whatever the attack does next, the remaining
    iterations are wasted once every sample of the batch is found: with `stop_early` the query
    raises `AllFound` and attack_batch returns the kept points. Results are identical; on a model
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
                    raise AllFound
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
            raise AllFound


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
