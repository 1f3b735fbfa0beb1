"""Configurations of the two units of work (one training run, one attack on one run) and their
hashes.

A config hash names the stored result: the same config is never computed twice, and a sweep that was
interrupted resumes by skipping every hash already in the workspace. Only fields that change the
numbers enter the hash (not the device, not --quiet).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .attacks.spec import ATTACKS, Targeted, check_params
from .data import DATASETS
from .defenses import DEFENSES, NAMED_PARAMS
from .defenses import label as defense_label
from .draws import DEFAULT_DRAWS, DEFAULT_EOT, MAX_DRAWS, MAX_EOT
from .eps import FLOAT32_MAX, eps_value, fmt_eps
from .errors import HotbenchError
from .registry import ACTIVATIONS
from .user_arch import check_arch_name

# Seeds are 32-bit: torch's generators take 64 bits, but the attack engine derives per-sample and
# per-batch seeds as seed * 1_000_003 + index in int64, which a larger seed would overflow (a crash
# after the run directory exists). Presets use the same type, so both say so on load.
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


def stable_hash(payload: Any, length: int = 12) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# The model computes act(z / T) in float32, which holds T from its smallest normal number to its
# largest: beyond, T rounds to 0 or to inf (act(z / 1e-320) is act(z / 0)), and a training can only
# diverge or learn nothing, which the user would read as the model's fault.
FLOAT32_TINY = 1.1754943508222875e-38


def attack_budget(value: Any, method: str | None, flag: str = "--eps") -> float:
    """An attack's eps as the command line (`--eps`) and presets (`eps`) give it: a number or a
    fraction (8/255) held to the threat model of `method` (hotbench.eps: Linf in [0, 1], L2 its own
    range; a minimum-norm attack's eps, or one whose method is not known yet, is a number >= 0).
    One rule for AttackConfig and presets, so that a preset loads only the budgets its attacks
    run with; an unknown method is refused here with the registry's own message."""
    return eps_value(value, None if method is None else ATTACKS.get(method).norm, flag)


def training_budget(value: Any, flag: str = "--train-eps") -> float:
    """Adversarial training's eps (`--train-eps`, a preset's `train_eps`): a number or a fraction,
    an Linf budget (a value above 1 is refused with the fraction it most likely meant); the range
    (0, 1] is the defense's own rule (DefenseSpec.check)."""
    return eps_value(value, "Linf", flag)


def temperature_problem(t: float | None) -> str | None:
    """Why `t` is no temperature (None: it is one)."""
    if t is None or math.isnan(t) or math.isinf(t) or t <= 0:
        return f"must be a finite number > 0, got {t}"
    if not FLOAT32_TINY <= t <= FLOAT32_MAX:
        return (
            f"must be a number float32 holds ({FLOAT32_TINY:.4g} to {FLOAT32_MAX:.4g}: the model"
            f" divides by it in float32), got {t!r}"
        )
    return None


def check_temperature(t: float, what: str = "temperature", flag: str = "--temp") -> float:
    """A temperature; the fix names the option that set it (`flag`: --eval-temp 0 was told to
    pass --temp 1)."""
    if (problem := temperature_problem(t)) is not None:
        example = "1" if flag == "--eval-temp" else "1, 10 or 50"
        raise HotbenchError(f"{what} {problem}", f"use e.g. {flag} {example}")
    return float(t)


# Validation context of a config read back from a run.json: a user's `--arch MODULE:CALLABLE` is
# checked for its form only (`user_arch.check_arch_name`); it is imported when the weights load.
STORED = "stored"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainConfig(_Frozen):
    dataset: str = "digits"
    arch: str | None = None  # None: the dataset's default architecture
    act: str = "tanh"
    temp: float = 1.0
    epochs: int | None = None  # None: the dataset's default
    batch_size: int = 128
    lr: float = 1e-3
    seed: Seed = 0
    n_train: int | None = None  # train on the first n images only (CPU-sized reproductions)
    # Training-time defense (hotbench.defenses: none, pgd-at, trades, ...) and its parameters, as
    # its DefenseSpec declares them; those not given are filled by `resolved` from the spec's
    # defaults. What enters the run id is the spec's to say (`none`: nothing, so that every
    # undefended run keeps its id).
    defense: str = "none"
    defense_params: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _named_params(cls, data: Any) -> Any:
        """The defense parameters the CLI's flags, presets and the run.json of earlier versions give
        as fields (train_eps, train_steps, train_alpha, trades_beta) go into defense_params; None
        is not given."""
        if not isinstance(data, dict) or not any(k in data for k in NAMED_PARAMS):
            return data
        data = dict(data)
        params = dict(data.get("defense_params") or {})
        for key in NAMED_PARAMS:
            value = data.pop(key, None)
            if value is not None:
                params[key] = value
        if params.get("train_eps") is not None:
            params["train_eps"] = training_budget(params["train_eps"])  # (0, 1]: the defense's
        return {**data, "defense_params": params}

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> TrainConfig:
        DATASETS.check(self.dataset)
        ACTIVATIONS.check(self.act)
        if self.arch is not None:
            check_arch_name(self.arch, resolve=not (info.context or {}).get(STORED))
        check_temperature(self.temp)
        DEFENSES.get(self.defense).check(self.defense_params)
        for name in ("epochs", "batch_size", "n_train"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise HotbenchError(
                    f"{name.replace('_', '-')} must be > 0, got {v}",
                    f"pass a positive --{name.replace('_', '-')}",
                )
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise HotbenchError(f"lr must be > 0, got {self.lr}", "pass a positive --lr")
        return self

    def check_fits(self, n_train_set: int) -> None:
        """The training images asked for exist (a larger --n-train would silently train on all of
        them, under an id that says otherwise)."""
        if self.n_train is not None and self.n_train > n_train_set:
            raise HotbenchError(
                f"n-train {self.n_train} is larger than the {self.dataset} training set"
                f" ({n_train_set})",
                f"pass --n-train {n_train_set} or fewer, or leave it out to train on all",
            )

    def resolved(self) -> TrainConfig:
        """Fill dataset and defense defaults so that the hash never depends on what was left
        implicit."""
        spec = DATASETS.get(self.dataset)
        update: dict[str, Any] = {
            "arch": self.arch or spec.default_arch,
            "epochs": self.epochs or spec.default_epochs,
            "defense_params": DEFENSES.get(self.defense).resolve(self.defense_params, spec),
        }
        return self.model_copy(update=update)

    def hash_payload(self) -> dict[str, Any]:
        """What the run id hashes: every field but the defense's, then what its spec puts in (the
        ids of runs stored before defenses were specs, or existed, stay valid)."""
        dump = self.resolved().model_dump()
        name, params = dump.pop("defense"), dump.pop("defense_params")
        return dump | DEFENSES.get(name).hash_fields(params)

    @property
    def train_eps(self) -> float | None:
        """The Linf budget of an adversarial defense's inner attack (None: trained without one):
        the budget a verdict on the model speaks about."""
        return self.defense_params.get("train_eps")

    @property
    def defense_label(self) -> str:
        """none, temperature, pgd-at, trades or a combination (the report's `defense` column)."""
        return defense_label(self.act, self.defense)

    @property
    def run_id(self) -> str:
        r = self.resolved()
        tag = "" if r.defense == "none" else f"-{r.defense}"
        return f"{r.dataset}-{r.act}-T{r.temp:g}{tag}-{stable_hash(self.hash_payload(), 8)}"


def imported_run_id(cfg: TrainConfig, weights_sha256: str) -> str:
    """The id of weights trained elsewhere (checkpoints.import_weights): the config and the file's
    hash, so that a training of the same config is never mistaken for them."""
    r = cfg.resolved()
    digest = stable_hash({"config": r.hash_payload(), "weights": weights_sha256}, 8)
    return f"{r.dataset}-{r.act}-T{r.temp:g}-import-{digest}"


AttackOn = Literal["output", "logits"]


class AttackConfig(_Frozen):
    method: str = "pgd"
    eps: float = 0.3
    steps: int = 40
    alpha: float | None = None  # None: 2.5 * eps / steps (Madry et al.)
    n_samples: int | None = None  # None: the whole test set
    batch_size: int = 256
    seed: Seed = 0
    eval_temp: float | None = None  # None: the model's training temperature
    on: AttackOn = "output"
    targeted: Targeted | None = None
    params: dict[str, Any] = {}  # method-specific (e.g. cw's c, square's n_queries)
    # Skip mode (hotbench.fasteval): the exact attack ids of the suite attacks that ran before this
    # one; only the samples they left robust were attacked, so the per-attack number is partial (the
    # worst case stays exact). Empty = a normal, exact run; left out of the hash then, so existing
    # ids do not change.
    skip_after: tuple[str, ...] = ()
    # A randomized model (hotbench.draws, attacks.randomized): `eot` forward passes averaged per
    # query of the attack (Expectation over Transformation), `draws` draws that each sample's
    # outcome is measured over. None: hotbench's measured defaults (draws.DEFAULT_EOT,
    # draws.DEFAULT_DRAWS) on a randomized model, 1 on a deterministic one: the model decides, and
    # the result records what ran. Left out of the hash at None, so that existing ids do not change.
    eot: int | None = None
    draws: int | None = None

    @field_validator("eps", mode="before")
    @classmethod
    def _eps(cls, v: Any, info: ValidationInfo) -> float:
        return attack_budget(v, info.data.get("method"))  # method: declared before eps

    @model_validator(mode="after")
    def _check(self) -> AttackConfig:
        ATTACKS.check(self.method)
        check_params(self.method, self.params)
        if self.steps <= 0:
            raise HotbenchError(f"steps must be >= 1, got {self.steps}", "pass e.g. --steps 40")
        if self.alpha is not None and not (self.alpha > 0 and math.isfinite(self.alpha)):
            raise HotbenchError(
                f"alpha must be > 0, got {self.alpha}", "omit --alpha for 2.5 * eps / steps"
            )
        if self.n_samples is not None and self.n_samples <= 0:
            raise HotbenchError(
                f"n-samples must be > 0, got {self.n_samples}", "pass e.g. --n-samples 500"
            )
        if self.batch_size <= 0:
            raise HotbenchError(
                f"batch-size must be > 0, got {self.batch_size}", "pass e.g. --batch-size 256"
            )
        if self.eval_temp is not None:
            check_temperature(self.eval_temp, "eval temperature", "--eval-temp")
        if self.eot is not None and not 1 <= self.eot <= MAX_EOT:
            raise HotbenchError(
                f"eot must be in 1..{MAX_EOT}, got {self.eot}",
                f"pass e.g. --eot {DEFAULT_EOT} (forward passes averaged per gradient), or --eot 1",
            )
        if self.draws is not None and not 1 <= self.draws <= MAX_DRAWS:
            raise HotbenchError(
                f"draws must be in 1..{MAX_DRAWS}, got {self.draws}",
                f"pass e.g. --draws {DEFAULT_DRAWS}",
            )
        return self

    def resolved(self, train_temp: float, n_test: int) -> AttackConfig:
        spec = ATTACKS.get(self.method)
        if self.n_samples is not None and self.n_samples > n_test:
            raise HotbenchError(
                f"n-samples {self.n_samples} is larger than the test set ({n_test})",
                f"pass --n-samples {n_test} or fewer",
            )
        return self.model_copy(
            update={
                "eval_temp": train_temp if self.eval_temp is None else self.eval_temp,
                "n_samples": n_test if self.n_samples is None else self.n_samples,
                "alpha": (
                    (self.alpha if self.alpha is not None else 2.5 * self.eps / self.steps)
                    if spec.uses_alpha
                    else None
                ),
                "steps": self.steps if spec.uses_steps else 1,
                "params": {**spec.defaults, **self.params},
            }
        )

    def attack_id(self, run_id: str) -> str:
        dump = self.model_dump()
        if not dump["skip_after"]:
            del dump["skip_after"]
        for key in ("eot", "draws"):
            if dump[key] is None:
                del dump[key]
        return f"{self.label_slug}-{stable_hash({'run': run_id, **dump}, 10)}"

    def stored(self) -> dict[str, Any]:
        """The config as a result document stores it (JSON types): every field but eot and draws
        at None, so that a deterministic model's documents are what they were before them."""
        return self.model_dump(
            mode="json", exclude={k for k in ("eot", "draws") if getattr(self, k) is None}
        )

    @property
    def norm(self) -> str | None:
        """The attack's threat model (Linf or L2; None: minimum-norm, no budget)."""
        return ATTACKS.get(self.method).norm

    @property
    def partial(self) -> bool:
        """Run in skip mode: its per-attack accuracy covers only the samples earlier attacks left
        robust."""
        return bool(self.skip_after)

    @property
    def label_slug(self) -> str:
        parts = [self.method]
        if self.on != "output":
            parts.append(self.on)
        if self.targeted:
            parts.append(f"t{self.targeted}")
        if self.eot is not None:
            parts.append(f"eot{self.eot}")
        if self.skip_after:
            parts.append("skip")
        return "-".join(parts)

    @property
    def label(self) -> str:
        """Column name in reports: method, what it attacks, and eps."""
        name = self.method
        for key in ATTACKS.get(
            self.method
        ).label_params:  # apgd-ce and apgd-dlr are different attacks
            if key in self.params:
                name += f"-{self.params[key]}"
        if self.on == "logits":
            name += "@z"
        if self.targeted:
            name += f"[{self.targeted}]"
        if (
            self.seed
        ):  # a second random start (diagnose's restart probe) must not overwrite the first's column
            name += f" seed={self.seed}"
        if self.eot is not None:  # `--eot 1`: the plain attack on a randomized model
            name += f" eot={self.eot}"
        if self.draws is not None:
            name += f" draws={self.draws}"
        if ATTACKS.get(self.method).norm is None:
            return name + (
                " (partial)" if self.partial else ""
            )  # minimum-norm attacks have no eps budget
        return f"{name} ε={fmt_eps(self.eps)}" + (" (partial)" if self.partial else "")
