"""A sweep's plan (the units: train one config; attack one run with one config) and the status of
each unit once it has run. A leaf: executors (sweep.executors) run plans."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import AttackConfig, TrainConfig


@dataclass
class Plan:
    """Every training config, and every attack config applied to every one of those models."""

    train: list[TrainConfig]
    attack: list[AttackConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen, unique = set(), []
        for cfg in (c.resolved() for c in self.train):
            if cfg.run_id not in seen:
                seen.add(cfg.run_id)
                unique.append(cfg)
        self.train = unique

    def distinct_units(self) -> int:
        """How many units the plan really holds: an attack at eval T "train" and the same attack at
        eval T = 1 are one unit on a model trained at T = 1 (ci-smoke's baseline), run once and
        counted once by the progress bar."""
        attacks = 0
        for t in self.train:
            attacks += len(
                {
                    a.model_copy(
                        update={"eval_temp": a.eval_temp if a.eval_temp is not None else t.temp}
                    ).model_dump_json()
                    for a in self.attack
                }
            )
        return len(self.train) + attacks


@dataclass
class UnitStatus:
    kind: str  # "train" | "attack"
    name: str
    status: str  # "done" (computed now) | "stored" (skipped) | "failed: ..."
    time_s: float | None = None  # compute time of a unit done now
