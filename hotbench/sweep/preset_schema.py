"""The schema of a preset: what a preset file may hold (train sections, attack entries), each value
checked on load as the command line checks it, and how a preset expands into the units of a
`sweep.Plan` (every dataset x activation x temperature x defense, every attack x eps x eval T).

A preset exists so that anyone can reproduce the paper's sweep with one command (`hotbench run
paper-mnist`) and so that the numbers that are *choices* (not taken from the paper) sit next to the
file's values as comments. Reading the file is sweep.preset_files'; loading and running a preset,
sweep.presets'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..attacks.spec import ATTACKS, Targeted, check_options, check_params, check_targeted
from ..config import (
    AttackConfig,
    AttackOn,
    Seed,
    TrainConfig,
    attack_budget,
    temperature_problem,
    training_budget,
)
from ..data import DATASETS
from ..defenses import DEFENSES, NAMED_PARAMS
from ..draws import MAX_DRAWS, MAX_EOT
from ..errors import HotbenchError
from ..registry import ACTIVATIONS, ARCHS, Registry
from ..user_arch import is_import_path
from .plan import Plan

EvalTemp = float | Literal["train"]


def _listify(v: Any) -> Any:
    """Let a preset write `eps: 0.3` for `eps: [0.3]`: sweeps are lists, single values are
    common."""
    return v if isinstance(v, list) else [v]


def _check_names(kind: str, names: list[str], valid: list[str]) -> list[str]:
    for n in names:
        if n not in valid:
            raise ValueError(f"unknown {kind} '{n}'; allowed: {', '.join(valid)}")
    return names


def _temperatures(what: str, values: list[float]) -> list[float]:
    for v in values:
        if (problem := temperature_problem(v)) is not None:
            raise ValueError(f"{what} {problem}")
    return values


def _value_error(exc: HotbenchError) -> ValueError:
    """A value checked as the command line checks it, refused as a ValueError: pydantic then names
    the key, and load() the file."""
    return ValueError(f"{exc.problem}; {exc.fix}" if exc.fix else exc.problem)


# the train section's lists of registered names: (what the error calls one, its registry)
_REGISTERED: dict[str, tuple[str, Registry[Any]]] = {
    "datasets": ("dataset", DATASETS),
    "acts": ("activation", ACTIVATIONS),
    "defenses": ("defense", DEFENSES),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A verdict's two axes, as hotbench.evaluate.diagnose.ROBUSTNESS and MASKING name them (kept here
# so that loading a preset imports no evaluation code; tests/test_zoo.py checks they agree).
Robustness = Literal["robust", "not robust", "incomplete"]
Masking = Literal["detected", "not detected", "not measured"]


class Expect(_Strict):
    """The verdict every model of a train section must get, on both axes, at every eval
    temperature it is attacked at: a zoo entry's or a control's known answer. `report --preset`
    and `run` print expected against got and exit 1 when they differ."""

    robustness: Robustness
    masking: Masking


class TrainSection(_Strict):
    """The models: every dataset x activation x temperature (`temps_by_act` narrows one
    activation). A preset may list several sections (e.g. one per architecture: the zoo), each
    optionally named and with the verdict its models must get (`expect`)."""

    datasets: list[str] = ["digits"]
    acts: list[str]
    temps: list[float]
    temps_by_act: dict[
        str, list[float]
    ] = {}  # e.g. {none: [1]}: the baseline needs no temperature sweep
    arch: str | None = None  # a registered arch or a user's MODULE:CALLABLE
    # training-time defenses (hotbench.defenses), crossed with the models above; `defenses_by_act`
    # narrows one activation, as temps_by_act does (e.g. {tanh: [none]})
    defenses: list[str] = ["none"]
    defenses_by_act: dict[str, list[str]] = {}
    # the defenses' parameters (each checked by the DefenseSpecs that take it): the named ones of
    # adversarial training, and any other defense's in defense_params; train_eps may be a
    # fraction (8/255)
    train_eps: float | None = None
    train_steps: int | None = None
    train_alpha: float | None = None
    trades_beta: float | None = None
    defense_params: dict[str, Any] = {}
    epochs: int | None = Field(default=None, gt=0)
    n_train: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=128, gt=0)
    lr: float = Field(default=1e-3, gt=0)
    seed: Seed = 0
    name: str | None = None  # what the section is (a zoo entry), for expected against got
    expect: Expect | None = None

    @field_validator("datasets", "acts", "temps", "defenses", mode="before")
    @classmethod
    def _wrap(cls, v: Any) -> Any:
        return _listify(v)

    @field_validator("train_eps", mode="before")
    @classmethod
    def _train_eps(cls, v: Any) -> float | None:
        try:  # a fraction; above 1: its did-you-mean; (0, 1]: the defenses' own rule
            return None if v is None else training_budget(v, "train_eps")
        except HotbenchError as exc:
            raise _value_error(exc) from None

    @field_validator("datasets", "acts", "defenses")
    @classmethod
    def _registered(cls, v: list[str], info: ValidationInfo) -> list[str]:
        kind, registry = _REGISTERED[str(info.field_name)]
        return _check_names(kind, v, registry.names())

    @field_validator("arch")
    @classmethod
    def _arch(cls, v: str | None) -> str | None:
        if v is None or is_import_path(v):
            return v  # an import path is resolved by TrainConfig (one line if it does not import)
        return _check_names("arch", [v], ARCHS.names())[0]

    @field_validator("defenses_by_act")
    @classmethod
    def _defenses_by_act(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        _check_names("activation", list(v), ACTIVATIONS.names())
        for names in v.values():
            _check_names("defense", names, DEFENSES.names())
        return v

    @field_validator("temps")
    @classmethod
    def _temps(cls, v: list[float]) -> list[float]:
        return _temperatures("temps", v)

    @field_validator("temps_by_act")
    @classmethod
    def _temps_by_act(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        _check_names("activation", list(v), ACTIVATIONS.names())
        for temps in v.values():
            _temperatures("temps", temps)
        return v

    def _params(self) -> dict[str, Any]:
        named = {k: getattr(self, k) for k in NAMED_PARAMS if getattr(self, k) is not None}
        return {**self.defense_params, **named}

    @model_validator(mode="after")
    def _narrowed_acts_are_trained(self) -> TrainSection:
        used = {d for a in self.acts for d in self.defenses_by_act.get(a, self.defenses)}
        specs = [DEFENSES.get(d) for d in used]
        for key, value in self._params().items():
            takers = [s for s in specs if key in s.params]
            if not takers:
                able = [n for n, s in DEFENSES.items() if key in s.params]
                raise ValueError(
                    f"{key} is set but no model of this preset trains with a defense that takes it"
                    f" (add {' or '.join(able) or 'a defense that does'} to defenses)"
                )
            takers[0].check({key: value}, exc=ValueError)
        extra = [a for a in (*self.temps_by_act, *self.defenses_by_act) if a not in self.acts]
        if extra:
            raise ValueError(
                f"temps_by_act or defenses_by_act names '{extra[0]}', which is not in acts;"
                f" allowed: {', '.join(self.acts)}"
            )
        return self

    def configs(self) -> list[TrainConfig]:
        return [
            TrainConfig(
                dataset=d,
                act=a,
                temp=t,
                arch=self.arch,
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                seed=self.seed,
                n_train=self.n_train,
                defense=defense,
                **(self._defense_options(defense)),
            )
            for d in self.datasets
            for a in self.acts
            for t in self.temps_by_act.get(a, self.temps)
            for defense in self.defenses_by_act.get(a, self.defenses)
        ]

    def _defense_options(self, defense: str) -> dict[str, Any]:
        """The section's defense parameters that `defense` takes (an undefended model of the same
        preset takes none of them)."""
        params = DEFENSES.get(defense).params
        return {"defense_params": {k: v for k, v in self._params().items() if k in params}}


class AttackEntry(_Strict):
    """One attack method with its parameters; list-valued fields (eps, targeted, on) are swept."""

    method: str
    eps: list[float] | None = (
        None  # None: [0.3] for budgeted attacks; minimum-norm ones (cw, deepfool) take none
    )
    steps: int = Field(default=40, gt=0)
    alpha: float | None = Field(default=None, gt=0)
    targeted: list[Targeted | None] = [None]
    on: list[AttackOn] = ["output"]
    params: dict[str, bool | int | float | str] = {}
    n_samples: int | None = Field(
        default=None, gt=0
    )  # overrides the section's (e.g. fewer for slow cw)
    seed: int | None = None  # overrides the section's (e.g. a second PGD restart for diagnose)
    # randomized models (hotbench.draws): None lets the model decide; `eot: 1` is the plain attack
    eot: int | None = Field(default=None, ge=1, le=MAX_EOT)
    draws: int | None = Field(default=None, ge=1, le=MAX_DRAWS)

    @field_validator("eps", "targeted", "on", mode="before")
    @classmethod
    def _wrap(cls, v: Any) -> Any:
        return v if v is None else _listify(v)

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        return _check_names("attack", [v], ATTACKS.names())[0]

    @field_validator("eps", mode="before")
    @classmethod
    def _eps(cls, v: Any, info: ValidationInfo) -> list[float] | None:
        """Numbers or fractions (`[8/255, 0.1]`), read and checked as the command line's --eps
        (Linf in [0, 1], L2 its own range), so that the error names this key."""
        method = info.data.get("method")  # absent where it was refused: eps is then a number >= 0
        try:
            return None if v is None else [attack_budget(e, method, "eps") for e in _listify(v)]
        except HotbenchError as exc:
            raise _value_error(exc) from None

    @model_validator(mode="after")
    def _fits_method(self) -> AttackEntry:
        spec = ATTACKS.get(self.method)
        for t in self.targeted:
            check_targeted(self.method, t, ValueError)
        if spec.norm is None and self.eps is not None:
            raise ValueError(f"attack '{self.method}' is minimum-norm and takes no eps; remove eps")
        check_params(self.method, self.params, ValueError)
        # only what the preset sets: steps has a default (40) for every attack
        given = {k: getattr(self, k) for k in ("steps", "alpha") if k in self.model_fields_set}
        check_options([self.method], given, ValueError, flag=str)
        return self

    @property
    def budgets(self) -> list[float]:
        return self.eps if self.eps is not None else [0.3]


class AttackSection(_Strict):
    n_samples: int | None = Field(default=None, gt=0)  # None: the whole test set
    batch_size: int = Field(default=256, gt=0)
    seed: Seed = 0
    eval_temps: list[EvalTemp] = ["train"]  # "train" = the model's training temperature
    attacks: list[AttackEntry] = []

    @field_validator("eval_temps", mode="before")
    @classmethod
    def _wrap(cls, v: Any) -> Any:
        for t in _listify(
            v
        ):  # checked here: a union's own error would only say "not a valid number"
            if not (t == "train" or (isinstance(t, (int, float)) and not isinstance(t, bool))):
                raise ValueError(
                    f"eval temperatures are 'train' (the model's T) or numbers > 0, got {t!r}"
                )
        return _listify(v)

    @field_validator("eval_temps")
    @classmethod
    def _eval_temps(cls, v: list[EvalTemp]) -> list[EvalTemp]:
        _temperatures("eval_temps", [t for t in v if t != "train"])
        return v

    def configs(self) -> list[AttackConfig]:
        out = []
        for a in self.attacks:
            for e in a.budgets:
                for tg in a.targeted:
                    for on in a.on:
                        for t in self.eval_temps:
                            out.append(
                                AttackConfig(
                                    method=a.method,
                                    eps=e,
                                    steps=a.steps,
                                    alpha=a.alpha,
                                    n_samples=a.n_samples or self.n_samples,
                                    batch_size=self.batch_size,
                                    seed=self.seed if a.seed is None else a.seed,
                                    eval_temp=None if t == "train" else float(t),
                                    on=on,
                                    targeted=tg,
                                    params=dict(a.params),
                                    eot=a.eot,
                                    draws=a.draws,
                                )
                            )
        return out


class Preset(_Strict):
    _source: Path | None = PrivateAttr(default=None)  # the file it was loaded from
    description: str = ""
    data_dir: Path | None = (
        None  # relative to the current directory, like --data-dir; the CLI's wins
    )
    train: TrainSection | list[TrainSection]  # one section, or several (one per architecture)
    attack: AttackSection = AttackSection()

    @field_validator("train")
    @classmethod
    def _sections(cls, v: TrainSection | list[TrainSection]) -> TrainSection | list[TrainSection]:
        if isinstance(v, list) and not v:
            raise ValueError("train lists no section; give at least one")
        return v

    @classmethod
    def read(cls, doc: Any, source: Path) -> Preset:
        """Validate the document of the preset file `source`. Every TrainConfig and AttackConfig
        is built, so that their own checks run at load time too, not when a unit starts."""
        preset = cls.model_validate(doc)
        preset.plan()
        preset._source = source
        return preset

    @property
    def source(self) -> Path | None:
        """The file the preset was loaded from (None: built in code)."""
        return self._source

    @property
    def sections(self) -> list[TrainSection]:
        return self.train if isinstance(self.train, list) else [self.train]

    def plan(self, attacks: bool = True) -> Plan:
        train = {c.run_id: c for s in self.sections for c in s.configs()}  # a model once
        return Plan(train=list(train.values()), attack=self.attack.configs() if attacks else [])

    def expectations(self) -> list[tuple[str, str, Expect]]:
        """(entry name, run id, expected verdict) for every model of a section with `expect`."""
        return [
            (s.name or c.run_id, c.run_id, s.expect)
            for s in self.sections
            if s.expect is not None
            for c in s.configs()
        ]

    def run_ids(self) -> list[str]:
        """The preset's models: a report restricted to them shows all their stored results."""
        return [c.run_id for c in self.plan(attacks=False).train]
