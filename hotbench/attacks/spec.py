"""What an attack is (AttackSpec) and the registry of every attack: a leaf, importable from
anywhere.

The registry is filled by `hotbench.attacks.catalog`, imported on the first lookup, so that `config`
can validate attack names without importing torchattacks or the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..errors import HotbenchError, short
from ..install import torchattacks_fix
from ..params import COUNT, FLAG, FRACTION, NON_NEGATIVE, POSITIVE, Param
from ..registry import Registry

# re-exported: the catalog declares its attacks' parameters with them
__all__ = ["COUNT", "FLAG", "FRACTION", "NON_NEGATIVE", "POSITIVE", "Param"]

Norm = Literal["Linf", "L2"]
Targeted = Literal["random", "least-likely"]  # torchattacks' target modes
TARGETED_MODES: tuple[str, ...] = get_args(Targeted)


@dataclass(frozen=True)
class AttackSpec:
    name: str
    # (model view, resolved AttackConfig) -> a torchattacks.Attack or anything called as atk(x, y)
    build: Callable[[Any, Any], Any]
    norm: Norm | None  # threat model; None = minimum-norm attack (cw, deepfool): no eps budget
    description: str
    # which of the attack options (--steps, --alpha; `OPTIONS`) it uses: one it does not use is
    # refused (check_options), never ignored; `schedule` says how it steps instead (the reason)
    uses_alpha: bool = False
    uses_steps: bool = False
    schedule: str = ""
    targeted: bool = True  # supports --targeted
    gradient: bool = True  # follows the model's gradient (False: black-box)
    # crafts on a surrogate model (transfer), which hotbench.units supplies: see
    # composite.surrogate_config
    surrogate: bool = False
    # What the diagnosis asks of an attack, as flags (never its name): one of the paper's attacks
    # (Tuna et al.: FGSM, BIM, PGD, MIM, CW, DeepFool), the evaluation a defense's authors run,
    # which the masking finding compares with the worst case; a single gradient step (FGSM, the
    # "single-step beats iterative" check); an ensemble of other attacks (AutoAttack: its numbers
    # are not one attack's); a query-based black-box attack (scores only, Square), which "robust"
    # requires with at least Thresholds.square_queries queries (`queries_param` names its budget).
    paper: bool = False
    single_step: bool = False
    ensemble: bool = False
    black_box: bool = False
    queries_param: str | None = None
    label_params: tuple[
        str, ...
    ] = ()  # params named in the report label (apgd's loss: apgd-ce, apgd-dlr)
    defaults: dict[str, Any] = field(default_factory=dict)
    # the type and range of every parameter in `defaults` (tests check that none is missing)
    rules: dict[str, Param] = field(default_factory=dict)
    cost: str = ""  # what one sample costs, for `hotbench attacks`

    @property
    def follows(self) -> str:
        """What the attack follows, the question gradient masking turns on (`hotbench attacks`)."""
        if self.surrogate:
            return "a surrogate's gradient"
        if self.black_box:
            return "scores only (black-box)"
        return "its view's gradient (--on)"


def param_problem(method: str, key: str, value: Any) -> str | None:
    """What is wrong with `value` for parameter `key` of `method` (None: nothing); the key is
    assumed to exist."""
    rule = ATTACKS.get(method).rules.get(key)
    if rule is None:
        return None
    problem = rule.check(value)
    return (
        None
        if problem is None
        else f"parameter '{key}' of '{method}' {problem}, got {short(value, 60)}"
    )


ATTACKS: Registry[AttackSpec] = Registry("attack", populate="hotbench.attacks.catalog")


def targeted_names() -> list[str]:
    """The attacks that have a targeted mode (for error messages)."""
    return [n for n, s in ATTACKS.items() if s.targeted]


def _fail(exc: type[Exception], msg: str, fix: str) -> Exception:
    """A user error as HotbenchError (CLI, Python API) or as `exc` (pydantic validators of presets,
    which report ValueError with the file and key)."""
    return HotbenchError(msg, fix) if exc is HotbenchError else exc(msg)


def check_targeted_mode(targeted: str | None) -> str | None:
    """Reject a targeted mode that does not exist (torchattacks' modes: random, least-likely)."""
    if targeted is not None and targeted not in TARGETED_MODES:
        raise HotbenchError(
            f"unknown targeted mode '{targeted}'",
            "pass --targeted random or --targeted least-likely",
        )
    return targeted


def check_targeted(
    method: str, targeted: str | None, exc: type[Exception] = HotbenchError
) -> str | None:
    """Reject a targeted mode that does not exist or that the attack does not have."""
    if check_targeted_mode(targeted) is None:
        return None
    if not ATTACKS.get(method).targeted:
        allowed = ", ".join(targeted_names())
        if exc is HotbenchError:
            raise HotbenchError(
                f"attack '{method}' has no targeted mode",
                "drop --targeted, or pick one of: " + allowed,
            )
        raise exc(f"attack '{method}' has no targeted mode; attacks with one: {allowed}")
    return targeted


def check_params(
    method: str, params: dict[str, Any], exc: type[Exception] = HotbenchError
) -> dict[str, Any]:
    """Reject parameters the attack does not take: a misspelt `cw` param would otherwise be silently
    unused."""
    allowed = ATTACKS.get(method).defaults
    for key, value in params.items():
        if key not in allowed:
            names = ", ".join(allowed) or "none"
            msg = f"attack '{method}' has no parameter '{key}'; allowed: {names}"
            raise _fail(
                exc,
                msg,
                "drop that --param, or name one of those (`hotbench attacks` lists each attack's"
                " parameters)",
            )
        msg = param_problem(method, key, value)
        if msg is not None:
            raise _fail(exc, msg, f"pass e.g. --param {key}={allowed[key]}")
    return params


# the options every attack may use, each as (the AttackSpec flag saying it does, what it is)
OPTIONS: dict[str, tuple[str, str]] = {
    "steps": ("uses_steps", "iteration count"),
    "alpha": ("uses_alpha", "step size"),
}


def check_options(
    methods: list[str],
    given: dict[str, Any],
    exc: type[Exception] = HotbenchError,
    flag: Callable[[str], str] = lambda key: f"--{key}",
) -> None:
    """Refuse an option of `OPTIONS` given (not None) that none of `methods` uses: `--method fgsm
    --alpha 0.1` ignored --alpha without a word (FGSM steps eps once). Among several methods, it
    applies to those that use it (`--method fgsm --method pgd --steps 10`). `flag` names the option
    as the user wrote it (--alpha on the command line, alpha in a preset)."""
    unused = [
        key
        for key, value in given.items()
        if value is not None and not any(getattr(ATTACKS.get(m), OPTIONS[key][0]) for m in methods)
    ]
    if not unused:
        return
    spec = ATTACKS.get(methods[0])
    msg = f"{spec.name} takes no " + " and no ".join(f"{OPTIONS[k][1]} ({flag(k)})" for k in unused)
    msg += f": {spec.schedule}" if spec.schedule else ""
    flags = " and ".join(flag(k) for k in unused)  # all in one line: one round trip, not two
    if exc is HotbenchError:
        raise HotbenchError(msg, f"drop {flags}")
    raise exc(f"{msg}; remove {flags}")


def torchattacks() -> Any:
    """The torchattacks module, or the user-facing error that says how to install it."""
    try:
        import torchattacks as ta
    except ImportError:
        raise HotbenchError("torchattacks is not installed", torchattacks_fix()) from None
    return ta


def register(spec: AttackSpec) -> AttackSpec:
    return ATTACKS.add(spec.name, spec)
