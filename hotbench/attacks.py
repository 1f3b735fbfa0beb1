"""Attacks (through torchattacks) and the evaluation of one attack config on one model.

What hotbench adds around torchattacks, each for a reason given in ../shared/torchattacks-notes.md:
- only clean-correct samples are attacked (adversarial accuracy = correct after attack / all samples);
- every point an attack queries is checked on the deployed model, and the first one inside the threat
  model that it misclassifies is kept: PGD returns its last iterate, so without this a success found at
  step 10 can be lost by step 40 ("silent success", Pintor et al. 2022);
- the global RNG is forked around every batch and each batch gets its own seed, since several attacks
  reset torch's global seed on every call;
- `on="logits"` attacks z / T_train instead of act(z / T_eval), and the result is judged on the deployed
  model: the attack that does not trust the saturated output.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .config import AttackConfig, TrainConfig
from .data import Split
from .errors import HotbenchError
from .models import HotNet, LogitView, predict
from .registry import Registry

Norm = Literal["Linf", "L2"]


@dataclass(frozen=True)
class AttackSpec:
    name: str
    build: Callable[[nn.Module, AttackConfig], Any]  # (model view, resolved config) -> torchattacks.Attack
    norm: Norm | None  # threat model; None = minimum-norm attack (cw, deepfool): no eps budget
    description: str
    uses_alpha: bool = False
    uses_steps: bool = False
    targeted: bool = True  # supports --targeted
    gradient: bool = True  # follows the model's gradient (False: black-box)
    surrogate: bool = False  # crafts on a surrogate model (transfer): the runner supplies it, see surrogate_config
    label_params: tuple[str, ...] = ()  # params named in the report label (apgd's loss: apgd-ce, apgd-dlr)
    defaults: dict[str, Any] = field(default_factory=dict)


ATTACKS: Registry[AttackSpec] = Registry("attack")


def _ta():
    try:
        import torchattacks
    except ImportError:
        raise HotbenchError("torchattacks is not installed",
                            "run `make setup` (it installs torchattacks==3.5.1 with --no-deps)") from None
    return torchattacks


def register(spec: AttackSpec) -> AttackSpec:
    return ATTACKS.add(spec.name, spec)


register(AttackSpec("fgsm", lambda m, c: _ta().FGSM(m, eps=c.eps), "Linf",
                    "Fast Gradient Sign Method (Goodfellow et al. 2015), one step"))
register(AttackSpec("bim", lambda m, c: _ta().BIM(m, eps=c.eps, alpha=c.alpha, steps=c.steps), "Linf",
                    "Basic Iterative Method / I-FGSM (Kurakin et al. 2017)", uses_alpha=True, uses_steps=True))


@functools.cache
def _seeded_pgd_class() -> type:
    """torchattacks' PGD, except that the random start of each sample comes from that sample's own seed.

    torchattacks draws the start for the whole batch from the global RNG, so a sample's start (and its
    result) would depend on which other samples share its batch. Per-sample seeds make a sample's outcome
    the same whether it is attacked with all test samples, with the clean-correct ones only, or with the
    few that earlier attacks of a suite left robust (fasteval's skip mode): the fast paths cannot change
    results. The loop below is torchattacks 3.5.1's PGD.forward verbatim after the start."""
    ta = _ta()

    class SeededPGD(ta.PGD):
        sample_seeds: torch.Tensor | None = None  # set by attack_batch, one int per sample

        def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            if not self.random_start or self.sample_seeds is None:
                return super().forward(images, labels)
            images = images.clone().detach().to(self.device)
            labels = labels.clone().detach().to(self.device)
            target_labels = self.get_target_label(images, labels) if self.targeted else None
            loss = nn.CrossEntropyLoss()
            noise = torch.stack([torch.empty(images.shape[1:]).uniform_(
                -self.eps, self.eps, generator=torch.Generator().manual_seed(int(s))) for s in self.sample_seeds])
            adv_images = torch.clamp(images + noise.to(images.device), min=0, max=1).detach()
            for _ in range(self.steps):
                adv_images.requires_grad = True
                outputs = self.get_logits(adv_images)
                cost = -loss(outputs, target_labels) if self.targeted else loss(outputs, labels)
                grad = torch.autograd.grad(cost, adv_images, retain_graph=False, create_graph=False)[0]
                adv_images = adv_images.detach() + self.alpha * grad.sign()
                delta = torch.clamp(adv_images - images, min=-self.eps, max=self.eps)
                adv_images = torch.clamp(images + delta, min=0, max=1).detach()
            return adv_images

    return SeededPGD


def _seeded_pgd(model: nn.Module, cfg: AttackConfig) -> Any:
    return _seeded_pgd_class()(model, eps=cfg.eps, alpha=cfg.alpha, steps=cfg.steps,
                               random_start=cfg.params["random_start"])


register(AttackSpec("pgd", _seeded_pgd, "Linf",
                    "Projected Gradient Descent, Linf, random start (Madry et al. 2018)",
                    uses_alpha=True, uses_steps=True, defaults={"random_start": True}))
register(AttackSpec("pgdl2", lambda m, c: _ta().PGDL2(m, eps=c.eps, alpha=c.alpha, steps=c.steps,
                                                       random_start=c.params["random_start"]), "L2",
                    "Projected Gradient Descent, L2", uses_alpha=True, uses_steps=True,
                    defaults={"random_start": True}))
register(AttackSpec("mim", lambda m, c: _ta().MIFGSM(m, eps=c.eps, alpha=c.alpha, steps=c.steps,
                                                      decay=c.params["decay"]), "Linf",
                    "Momentum Iterative FGSM (Dong et al. 2018)", uses_alpha=True, uses_steps=True,
                    defaults={"decay": 1.0}))
register(AttackSpec("cw", lambda m, c: _ta().CW(m, c=c.params["c"], kappa=c.params["kappa"], steps=c.steps,
                                                 lr=c.params["lr"]), None,
                    "Carlini-Wagner L2, minimum-norm (Carlini and Wagner 2017)", uses_steps=True,
                    defaults={"c": 1.0, "kappa": 0.0, "lr": 0.01}))
@functools.cache
def _deepfool_class() -> type:
    """torchattacks' DeepFool with the reference implementation's overshoot.

    torchattacks 3.5.1 overshoots each step from the current point, x_(i+1) = x_i + (1 + overshoot) r_i; the
    reference (LTS4/DeepFool, as Foolbox) overshoots the total, x_i = x_0 + (1 + overshoot) * sum_j r_j. The
    reference's is the stronger of the two: on the digits softmax model (40 samples, 50 steps) it left 7
    samples robust where torchattacks' left 13, both judged as `judge` does. Points are clamped to [0, 1] as
    torchattacks does. The clamp is also DeepFool's limit here: a step that points out of the box is cut, so
    the iterates approach the boundary from the correct side (margin shrinking 5-10x per step) and some never
    cross it. A sample whose step is not finite (a zero gradient: the saturated output this benchmark is about)
    stops where it is instead of becoming NaN."""
    ta = _ta()

    class ReferenceDeepFool(ta.DeepFool):
        def forward_return_target_labels(self, images: torch.Tensor, labels: torch.Tensor):
            images = images.clone().detach().to(self.device)
            labels = labels.clone().detach().to(self.device)
            adv = images.clone()
            r_tot = torch.zeros_like(images)
            target_labels = labels.clone()
            active = list(range(len(images)))
            for _ in range(self.steps):
                still = []
                for i in active:
                    pre, r = self._step(adv[i:i + 1], labels[i])
                    target_labels[i] = pre
                    if r is None:
                        continue
                    r_tot[i] += r
                    adv[i] = torch.clamp(images[i] + (1 + self.overshoot) * r_tot[i], min=0, max=1)
                    still.append(i)
                active = still
                if not active:
                    break
            return adv.detach(), target_labels

        def _step(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            """(class now predicted or aimed at, the linearised step to the nearest boundary), or no step
            once the sample is misclassified or the step is not finite."""
            image = image.clone().detach().requires_grad_(True)
            fs = self.get_logits(image)[0]
            pre = fs.argmax()
            if pre != label:
                return pre, None
            ws = self._construct_jacobian(fs, image)
            wrong = [k for k in range(len(fs)) if k != label]
            f_prime = (fs[wrong] - fs[label]).detach()
            w_prime = ws[wrong] - ws[label]
            value = f_prime.abs() / w_prime.flatten(1).norm(dim=1)
            hat = value.argmin()
            r = f_prime[hat].abs() * w_prime[hat][0] / w_prime[hat].norm() ** 2
            if not torch.isfinite(r).all():
                return label, None
            return (hat if hat < label else hat + 1), r

    return ReferenceDeepFool


register(AttackSpec("deepfool", lambda m, c: _deepfool_class()(m, steps=c.steps, overshoot=c.params["overshoot"]),
                    None, "DeepFool, minimum-norm L2 (Moosavi-Dezfooli et al. 2016), the reference's overshoot", uses_steps=True,
                    targeted=False, defaults={"overshoot": 0.02}))


class _AllFound(Exception):
    """Raised from inside an attack's loop once every sample of the batch has a kept adversarial point."""


_SYNC_EVERY = 8


class _Tracked(nn.Module):
    """The model the attack sees. It also watches every full-batch query the attack makes and keeps, per
    sample, the first point that the deployed model misclassifies inside the threat model.

    Since a found sample's result is that first point whatever the attack does next, the remaining
    iterations are wasted once every sample of the batch is found: with `stop_early` the query raises
    `_AllFound` and attack_batch returns the kept points. Results are identical; on a model that breaks
    in a few steps a 40-step attack costs a few steps."""

    def __init__(self, net: HotNet, cfg: AttackConfig, norm: Norm | None, x0: torch.Tensor, y: torch.Tensor):
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
        self.stop_early = False  # set by attack_batch
        self._queries = 0
        self.sync_free = x0.device.type != "cpu"  # see forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net.logits(x)
        out = z / self.net.train_temp if self.on == "logits" else self.net.head(z, self.eval_temp)
        if self.norm is not None and x.shape == self.x0.shape:
            with torch.no_grad():
                deployed = out if self.on == "output" else self.net.head(z, self.eval_temp)
                hit = (deployed.argmax(1) != self.y) & inside(x, self.x0, self.eps, self.norm) & ~self.found
                if not self.sync_free:
                    if hit.any():
                        self.best[hit] = x[hit].detach()
                        self.found |= hit
                        if self.stop_early and bool(self.found.all()):
                            raise _AllFound
                else:
                    # On an accelerator every `.any()` is a host sync per attack step (measured on an H100:
                    # +55% over plain torchattacks PGD). Same kept points without syncing; the early-stop
                    # test syncs once every `_SYNC_EVERY` queries instead.
                    self.best = torch.where(hit.view(-1, *([1] * (x.dim() - 1))), x.detach(), self.best)
                    self.found |= hit
                    self._queries += 1
                    if self.stop_early and self._queries % _SYNC_EVERY == 0 and bool(self.found.all()):
                        raise _AllFound
        return out


def inside(x: torch.Tensor, x0: torch.Tensor, eps: float, norm: Norm | None) -> torch.Tensor:
    """Per sample: is x a valid adversarial input for x0 under the threat model (tolerance for float error)?"""
    d = (x - x0).flatten(1)
    in_box = (x.flatten(1).amin(1) >= -1e-6) & (x.flatten(1).amax(1) <= 1 + 1e-6)
    if norm is None:
        return in_box
    size = d.abs().amax(1) if norm == "Linf" else d.norm(dim=1)
    return in_box & (size <= eps * (1 + 1e-5) + 1e-6)


@dataclass
class AttackOutcome:
    """Per-sample results of one attack config on one model; the aggregate numbers derive from them."""

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
        }


def attacked_model(net: HotNet, cfg: AttackConfig) -> nn.Module:
    """The view an attack follows: the deployed output act(z / T_eval), or the logits z / T_train."""
    return LogitView(net) if cfg.on == "logits" else net.deployed(cfg.eval_temp)


def _set_target_mode(atk: Any, cfg: AttackConfig, spec: AttackSpec) -> None:
    if cfg.targeted is None:
        return
    if not spec.targeted:
        raise HotbenchError(f"attack '{spec.name}' has no targeted mode",
                            "drop --targeted, or pick one of: " + ", ".join(n for n, s in ATTACKS.items() if s.targeted))
    if cfg.targeted == "random":
        atk.set_mode_targeted_random(quiet=True)
    else:
        atk.set_mode_targeted_least_likely(quiet=True)


def attack_batch(net: HotNet, cfg: AttackConfig, x: torch.Tensor, y: torch.Tensor, seed: int,
                 surrogate: HotNet | None = None, index: torch.Tensor | None = None,
                 stop_early: bool = True) -> tuple[torch.Tensor, int]:
    """Adversarial inputs for one batch of clean-correct samples, and how many were discarded as invalid.

    `index` (test-set indices of the batch) seeds per-sample randomness where the attack supports it
    (pgd's random start), so that a sample's outcome does not depend on its batch; without it the
    per-sample seeds derive from `seed`. `stop_early=False` runs every iteration (the naive baseline)."""
    spec = ATTACKS.get(cfg.method)
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        tracked = _Tracked(net, cfg, spec.norm, x, y)
        tracked.surrogate = surrogate
        tracked.stop_early = stop_early
        atk = spec.build(tracked, cfg)
        if hasattr(atk, "seed"):
            atk.seed = seed
        if hasattr(atk, "sample_seeds"):
            ids = index.cpu() if index is not None else torch.arange(x.shape[0]) + seed * 100_003
            atk.sample_seeds = cfg.seed * 1_000_003 + ids
        _set_target_mode(atk, cfg, spec)
        try:
            adv = atk(x, y).detach()
        except _AllFound:
            adv = tracked.best.clone()
    valid = inside(adv, x, cfg.eps, spec.norm)
    # a final point outside the threat model is discarded; it only counts when nothing valid replaces it
    n_invalid = int((~valid & ~tracked.found).sum()) if spec.norm is not None else int((~valid).sum())
    adv = torch.where(valid.view(-1, 1, 1, 1), adv, x)
    if spec.norm is not None:
        adv = torch.where(tracked.found.view(-1, 1, 1, 1), tracked.best, adv)
    return adv, n_invalid


def judge(deployed: nn.Module, adv: torch.Tensor, spec: AttackSpec) -> torch.Tensor:
    """The class the deployed model gives each adversarial input: what every result records as adv_pred.

    A minimum-norm attack (cw, deepfool) stops at its first point past the decision boundary, where the
    top-2 margin is a rounding error (measured on the digits softmax model with deepfool: median 1.4e-6),
    so the class of such a point depends on the kernel that computes it: a batched forward pass disagreed
    with a batch-1 pass on 20 of 40 points, and the batch's other samples changed it again. Those points are
    therefore judged one at a time, the pass DeepFool itself decides with, so a sample's result never
    depends on which samples share its batch (fast and naive paths agree). Bounded attacks keep the batched
    pass: their kept point is the first iterate past the boundary, a whole step beyond it."""
    with torch.inference_mode():
        if spec.norm is None:
            return torch.cat([deployed(adv[i:i + 1]).argmax(1) for i in range(adv.shape[0])])
        return deployed(adv).argmax(1)


def run_attack(net: HotNet, test: Split, cfg: AttackConfig, device: torch.device,
               on_batch: Callable[[int], None] | None = None, surrogate: HotNet | None = None,
               only: torch.Tensor | None = None) -> AttackOutcome:
    """Evaluate one resolved attack config on the first `cfg.n_samples` test images.

    `only` (bool per sample) restricts the attack to those samples (fasteval's skip mode: the ones that
    earlier attacks of a suite left robust); the others keep their clean prediction and `attacked` False.

    `surrogate` is the model that transfer attacks craft on (see `surrogate_config`); others ignore it."""
    start = time.perf_counter()
    spec = ATTACKS.get(cfg.method)
    net.eval()
    data = test.head(cfg.n_samples)
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
    for b, i in enumerate(range(0, todo.numel(), cfg.batch_size)):
        idx = todo[i:i + cfg.batch_size]
        x, y = data.x[idx].to(device), data.y[idx].to(device)
        adv, bad = attack_batch(net, cfg, x, y, seed=cfg.seed * 100_003 + b,
                                 surrogate=surrogate, index=idx)
        n_invalid += bad
        adv_pred[idx] = judge(deployed, adv, spec).cpu()
        d = (adv - x).flatten(1).cpu()
        linf[idx] = d.abs().amax(1)
        l2[idx] = d.norm(dim=1)
        if on_batch is not None:
            on_batch(idx.numel())
    n = len(data)
    return AttackOutcome(cfg, np.arange(n), data.y.numpy(), clean_pred.numpy(), adv_pred.numpy(),
                         linf.numpy(), l2.numpy(), time.perf_counter() - start, n_invalid, attacked.numpy())


# ---- adaptive attacks: the ones that do not trust a saturated output (issue 4) -----------------------------
# Cheap to expensive, so that a suite run in registry order can skip what earlier attacks already broke.

def _num_classes(m: _Tracked) -> int:
    """Classes of the attacked model (APGD-T and FAB-T target every other class, so they must know it)."""
    with torch.no_grad():
        return int(m.net.logits(m.x0[:1]).shape[1])


def _need_classes(m: _Tracked, k: int, what: str) -> int:
    n = _num_classes(m)
    if n < k:
        raise HotbenchError(f"{what} needs at least {k} classes, this model has {n}",
                            "use the ce loss (apgd --param loss=ce) or another attack")
    return n


def _apgd(m: _Tracked, c: AttackConfig) -> Any:
    loss = c.params["loss"]
    if loss not in ("ce", "dlr"):
        raise HotbenchError(f"apgd loss must be 'ce' or 'dlr', got {loss!r}", "pass --param loss=ce or --param loss=dlr")
    if loss == "dlr":
        _need_classes(m, 3, "the DLR loss")
    return _ta().APGD(m, norm="Linf", eps=c.eps, steps=c.steps, n_restarts=c.params["n_restarts"], loss=loss,
                      rho=c.params["rho"], seed=c.seed)


def _apgdt(m: _Tracked, c: AttackConfig) -> Any:
    n = _need_classes(m, 4, "APGD-T (targeted DLR)")
    return _ta().APGDT(m, norm="Linf", eps=c.eps, steps=c.steps, n_restarts=c.params["n_restarts"],
                       rho=c.params["rho"], n_classes=n, seed=c.seed)


def _square(m: _Tracked, c: AttackConfig) -> Any:
    return _ta().Square(m, norm="Linf", eps=c.eps, n_queries=c.params["n_queries"], n_restarts=c.params["n_restarts"],
                        p_init=c.params["p_init"], loss=c.params["loss"], seed=c.seed)


class _Ensemble:
    """Run attacks in order on the samples that are still robust; keep each sample's first valid success.

    Used for AutoAttack instead of torchattacks' MultiAttack for two reasons: a success only counts if it lies
    inside the threat model (FAB is a minimum-norm attack and may return points beyond eps, which MultiAttack
    would count and then stop attacking that sample), and `seed` reaches every sub-attack (MultiAttack and
    torchattacks' AutoAttack fix the sub-attacks' seeds at construction, AutoAttack to time.time() by default).
    """

    def __init__(self, model: _Tracked, attacks: list[Any], eps: float, norm: Norm) -> None:
        self.model, self.attacks, self.eps, self.norm = model, attacks, eps, norm

    @property
    def seed(self) -> int:
        return self.attacks[0].seed

    @seed.setter
    def seed(self, value: int) -> None:
        for k, atk in enumerate(self.attacks):  # distinct per sub-attack, as the original's seeds are
            atk.seed = value + k

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        final = x.clone()
        todo = torch.arange(x.shape[0], device=x.device)
        for atk in self.attacks:
            adv = atk(x[todo], y[todo]).detach()
            with torch.no_grad():
                pred = self.model.net.head(self.model.net.logits(adv), self.model.eval_temp).argmax(1)
                broke = inside(adv, x[todo], self.eps, self.norm) & (pred != y[todo])  # judged on the deployed model
            final[todo[broke]] = adv[broke]
            todo = todo[~broke]
            if todo.numel() == 0:
                break
        return final


def _autoattack(m: _Tracked, c: AttackConfig) -> _Ensemble:
    """AutoAttack "standard" (Croce and Hein 2020) with the ORIGINAL parameters, composed here.

    The original (fra31/auto-attack, version='standard', Linf) runs APGD-CE (100 iterations, 1 restart),
    APGD-T (DLR-targeted, 100 iterations, 9 target classes, 1 restart each), FAB-T (100 iterations, 9 target
    classes, 1 restart) and Square (5000 queries, 1 restart), each on the samples still robust. torchattacks'
    AutoAttack builds APGD and FAB with steps=10, so we compose the same four with params apgd_steps=100,
    fab_steps=100, n_queries=5000 (every target class: n_classes - 1, which is 9 on 10-class data).
    """
    ta = _ta()
    n = _need_classes(m, 4, "AutoAttack (APGD-T)")
    p = c.params
    attacks = [
        ta.APGD(m, norm="Linf", eps=c.eps, steps=p["apgd_steps"], n_restarts=1, loss="ce", seed=c.seed),
        ta.APGDT(m, norm="Linf", eps=c.eps, steps=p["apgd_steps"], n_restarts=1, n_classes=n, seed=c.seed + 1),
        ta.FAB(m, norm="Linf", eps=c.eps, steps=p["fab_steps"], n_restarts=1, multi_targeted=True, n_classes=n,
               seed=c.seed + 2),
        ta.Square(m, norm="Linf", eps=c.eps, n_queries=p["n_queries"], n_restarts=1, seed=c.seed + 3),
    ]
    return _Ensemble(m, attacks, c.eps, "Linf")


class _Transfer:
    """PGD crafted on a surrogate model's logits, then handed to the target unchanged (it never queries it)."""

    def __init__(self, m: _Tracked, c: AttackConfig) -> None:
        if m.surrogate is None:
            raise HotbenchError("the transfer attack needs a surrogate model",
                                "run it through `hotbench attack` (it trains the surrogate if missing)")
        # the per-sample seeded PGD (see _seeded_pgd_class): a sample's start does not depend on its batch
        self.pgd = _seeded_pgd_class()(LogitView(m.surrogate), eps=c.eps, alpha=c.alpha, steps=c.steps,
                                       random_start=c.params["random_start"])

    @property
    def sample_seeds(self) -> torch.Tensor | None:
        return self.pgd.sample_seeds

    @sample_seeds.setter
    def sample_seeds(self, seeds: torch.Tensor) -> None:  # set per batch by attack_batch
        self.pgd.sample_seeds = seeds

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.pgd(x, y)


def surrogate_config(target: TrainConfig, cfg: AttackConfig) -> TrainConfig:
    """The surrogate a transfer attack crafts on: the target's dataset, arch, epochs, seed and optimiser, with
    the output activation of `cfg.params` (default: none at T=1, a plain softmax classifier)."""
    p = {**ATTACKS.get("transfer").defaults, **cfg.params}
    return target.resolved().model_copy(update={"act": p["surrogate_act"], "temp": float(p["surrogate_temp"])})


register(AttackSpec("apgd", _apgd, "Linf",
                    "Auto-PGD (Croce and Hein 2020), step size free; --param loss=ce|dlr (DLR: scale-invariant margin)",
                    uses_steps=True, targeted=False, label_params=("loss",),
                    defaults={"loss": "ce", "n_restarts": 1, "rho": 0.75}))
register(AttackSpec("apgdt", _apgdt, "Linf",
                    "APGD-T: targeted DLR loss against every other class (Croce and Hein 2020)",
                    uses_steps=True, targeted=False, defaults={"n_restarts": 1, "rho": 0.75}))
register(AttackSpec("transfer", _Transfer, "Linf",
                    "PGD on a surrogate (same data and arch, no output activation, T=1), evaluated on the target",
                    uses_alpha=True, uses_steps=True, targeted=False, gradient=False, surrogate=True,
                    defaults={"random_start": True, "surrogate_act": "none", "surrogate_temp": 1.0}))
register(AttackSpec("square", _square, "Linf",
                    "Square attack (Andriushchenko et al. 2020): score-based black-box, margin loss, no gradients",
                    targeted=False, gradient=False,
                    defaults={"n_queries": 5000, "n_restarts": 1, "p_init": 0.8, "loss": "margin"}))
register(AttackSpec("autoattack", _autoattack, "Linf",
                    "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square with the original's parameters",
                    targeted=False, defaults={"apgd_steps": 100, "fab_steps": 100, "n_queries": 5000}))
