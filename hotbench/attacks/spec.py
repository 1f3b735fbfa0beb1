"""What an attack is (AttackSpec) and the registry of every attack: a leaf, importable from
anywhere.

The registry is filled by `hotbench.attacks.catalog`, imported on the first lookup, so that `config`
can validate attack names without importing torchattacks or the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import HotbenchError
from ..registry import Registry

Norm = Literal["Linf", "L2"]


@dataclass(frozen=True)
class AttackSpec:
    name: str
    # (model view, resolved AttackConfig) -> a torchattacks.Attack or anything called as atk(x, y)
    build: Callable[[Any, Any], Any]
    norm: Norm | None  # threat model; None = minimum-norm attack (cw, deepfool): no eps budget
    description: str
    uses_alpha: bool = False
    uses_steps: bool = False
    targeted: bool = True  # supports --targeted
    gradient: bool = True  # follows the model's gradient (False: black-box)
    # crafts on a surrogate model (transfer): the runner supplies it, see composite.surrogate_config
    surrogate: bool = False
    label_params: tuple[
        str, ...
    ] = ()  # params named in the report label (apgd's loss: apgd-ce, apgd-dlr)
    defaults: dict[str, Any] = field(default_factory=dict)


ATTACKS: Registry[AttackSpec] = Registry("attack", populate="hotbench.attacks.catalog")


def targeted_names() -> list[str]:
    """The attacks that have a targeted mode (for error messages)."""
    return [n for n, s in ATTACKS.items() if s.targeted]


def torchattacks() -> Any:
    """The torchattacks module, or the user-facing error that says how to install it."""
    try:
        import torchattacks as ta
    except ImportError:
        raise HotbenchError(
            "torchattacks is not installed",
            "run `make setup` (it installs torchattacks==3.5.1 with --no-deps)",
        ) from None
    return ta


def register(spec: AttackSpec) -> AttackSpec:
    return ATTACKS.add(spec.name, spec)
