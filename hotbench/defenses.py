"""The training-time defenses hotbench can put beside (or under) the temperature defense: what each
is, where it comes from, and the defaults of its options. A leaf (pure data), so that configs
validate defense names; the training losses are in `hotbench.adversarial`.

Why they are here at all: a verdict is only as good as its controls. A model trained with PGD-AT
(Madry et al. 2018) is the field's reference for a defense that works, so it must come out "robust"
where the temperature defense comes out "masking detected"; and "tanh T=50 + PGD-AT" shows whether
the activation adds anything to a real defense."""

from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry


@dataclass(frozen=True)
class DefenseSpec:
    name: str
    description: str
    adversarial: bool  # trains on points found by an inner attack (train_eps, train_steps apply)
    beta: bool = False  # takes --trades-beta


DEFENSES: Registry[DefenseSpec] = Registry("defense")
for _d in (
    DefenseSpec("none", "plain cross-entropy training", adversarial=False),
    DefenseSpec(
        "pgd-at",
        "PGD adversarial training (Madry et al. 2018): cross-entropy on Linf PGD points",
        adversarial=True,
    ),
    DefenseSpec(
        "trades",
        "TRADES (Zhang et al. 2019): cross-entropy + beta * KL(clean || adversarial)",
        adversarial=True,
        beta=True,
    ),
):
    DEFENSES.add(_d.name, _d)

# Linf training budget when --train-eps is not given, per dataset.
DEFAULT_TRAIN_EPS: dict[str, float] = {
    "digits": 0.1,  # choice: 8x8 digits have 17 grey levels; 0.1 (1.6 levels) keeps clean acc ~0.99
    "mnist": 0.1,  # choice: trains in minutes on 2 CPU cores; Madry et al.'s 0.3 needs 40 steps
    "fashion-mnist": 0.1,  # choice: as MNIST
    "cifar10": 8 / 255,  # Madry et al. 2018 (CIFAR-10)
}
# Inner PGD iterations: Zhang et al.'s 10 (TRADES, CIFAR-10), between Madry et al.'s 7 (CIFAR-10)
# and 40 (MNIST). The step is 2.5 * eps / steps, Madry et al.'s rule (as hotbench's attacks use).
DEFAULT_TRAIN_STEPS = 10
# Zhang et al. 2019: the default of the authors' train_trades_cifar10.py; their MNIST script
# defaults to 1.0, and their README puts beta in [1, 10] (larger: more robust, less accurate).
# hotbench keeps one default for every dataset; --trades-beta sets another.
DEFAULT_TRADES_BETA = 6.0


def label(act: str, defense: str) -> str:
    """The report's `defense` column: none, temperature (an activation on the output layer), pgd-at,
    trades, or a combination such as temperature+pgd-at."""
    parts = [p for p in (("temperature" if act != "none" else ""), defense) if p and p != "none"]
    return "+".join(parts) or "none"
