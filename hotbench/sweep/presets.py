"""Presets: a whole evaluation (models x attacks x temperatures) as one YAML file, loaded (every
mistake one line naming the file and the key), checked against its datasets, and run.

A preset is a declarative `sweep.Plan` (its schema: sweep.preset_schema). Because a plan is a list
of idempotent units keyed by config hash, re-running a preset skips what the workspace already
holds: an interrupted sweep resumes.

Presets are named either by a file path or by a name, `hotbench/presets/<name>.yaml` (package
data, so an installed wheel has them). Every mistake in a preset (malformed YAML, an unknown
key, a wrong type, an unknown dataset/activation/attack, a parameter an attack does not take)
is reported as ONE line naming the file, the key and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError

from ..context import Context
from ..errors import HotbenchError
from ..registry import EXECUTORS
from .plan import UnitStatus
from .preset_files import (
    MAX_PRESET_BYTES,
    TooDeep,
    TooLarge,
    preset_error,
    read_yaml,
    resolve,
)
from .preset_schema import Preset


def load(name_or_path: str | Path) -> tuple[Path, Preset]:
    """Read and validate a preset; every problem becomes a one-line HotbenchError naming file and
    key."""
    path = resolve(name_or_path)
    try:
        if path.stat().st_size > MAX_PRESET_BYTES:
            raise TooLarge(f"it is larger than {MAX_PRESET_BYTES >> 20} MiB")
        doc = read_yaml(path.read_text())
    except (TooLarge, TooDeep, RecursionError) as exc:
        why = exc if not isinstance(exc, RecursionError) else "it nests too deep"
        raise HotbenchError(
            f"preset '{path}' is too large: {why}", "write the values out (a preset is small)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if problem.startswith("duplicate key"):
            key, _, first = problem.partition(" (")
            raise HotbenchError(
                f"preset '{path}': {key}{where} ({first}", "keep one of them"
            ) from None
        raise HotbenchError(
            f"preset '{path}': malformed YAML{where}: {problem}", "fix the YAML syntax"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HotbenchError(f"cannot read preset '{path}': {exc}", "check the file") from None
    if not isinstance(doc, dict):
        raise HotbenchError(
            f"preset '{path}': top level must be a mapping with keys"
            f" {', '.join(Preset.model_fields)}",
            "see `hotbench presets`",
        )
    try:
        return path, Preset.read(doc, path)
    except ValidationError as exc:
        raise preset_error(path, exc, Preset) from None
    except HotbenchError as exc:
        raise HotbenchError(f"preset '{path}': {exc.problem}", exc.fix) from None


def check_data(preset: Preset, ctx: Context) -> None:
    """What a preset asks of its datasets exists there: every training and test sample count fits
    the splits (loaded here, once: training reuses them). Before any unit runs: a preset that asks
    for 398 of 397 test samples was refused only after its models had been trained."""
    from ..data import load_dataset
    from ..models import check_model, train_batch_sizes

    where = f"preset '{preset.source}'" if preset.source is not None else "preset"
    attack = preset.attack
    wanted = [("attack.n_samples", attack.n_samples)] + [
        (f"attack.attacks[{i}].n_samples", a.n_samples) for i, a in enumerate(attack.attacks)
    ]
    several = len(preset.sections) > 1
    for k, train in enumerate(preset.sections):
        key = f"train[{k}]" if several else "train"
        for name in train.datasets:
            try:
                data = load_dataset(name, ctx.data_dir, ctx.download)
            except HotbenchError as exc:
                raise HotbenchError(f"{where}: {exc.problem}", exc.fix) from None
            n_train, n_test = len(data.train), len(data.test)
            if train.n_train is not None and train.n_train > n_train:
                raise HotbenchError(
                    f"{where}: key '{key}.n_train': {train.n_train} is larger than the {name}"
                    f" training set ({n_train})",
                    f"set it to {n_train} or fewer, or remove it to train on all",
                )
            if train.arch is not None:  # a user's network: one batch in both modes (models.py)
                batches = train_batch_sizes(train.n_train or n_train, train.batch_size)
                try:
                    check_model(data.spec, train.arch, train.acts[0], 1.0, batches)
                except HotbenchError as exc:
                    raise HotbenchError(f"{where}: {exc.problem}", exc.fix) from None
            for wanted_key, n in wanted:
                if n is not None and n > n_test:
                    raise HotbenchError(
                        f"{where}: key '{wanted_key}': {n} is larger than the {name} test set"
                        f" ({n_test})",
                        f"set it to {n_test} or fewer",
                    )


Part = Literal["train", "attack", "all"]


def execute(preset: Preset, part: Part, ctx: Context, executor: str = "local") -> list[UnitStatus]:
    """Run the preset's training units, its attack units, or both, through a sweep executor.

    `attack` alone refuses to train: a user who asked for the attack part should learn that models
    are missing rather than wait for training they did not ask for.
    """
    from .executors import run_plan  # the executors import torch: only to run a sweep

    EXECUTORS.check(executor)  # an unknown executor fails before any work starts
    plan = preset.plan(attacks=part != "train")
    if part == "attack" and ctx.force:
        # Context has one force flag for both unit kinds: forcing here would retrain the models too
        raise HotbenchError(
            "--force with `attack --preset` would also retrain the preset's models",
            "use `hotbench run PRESET --force` to recompute everything",
        )
    if part == "attack":
        missing = [c.run_id for c in plan.train if not ctx.ws.has_run(c.run_id)]
        if missing:
            raise HotbenchError(
                f"{len(missing)} of the preset's {len(plan.train)} models are not trained "
                f"(first: {missing[0]}) in '{ctx.ws.root}'",
                "run `hotbench train --preset ...` first, or `hotbench run PRESET` for everything",
            )
    if ctx.data_dir is None and preset.data_dir is not None:
        ctx.data_dir = preset.data_dir
    check_data(preset, ctx)
    return run_plan(plan, ctx, executor)


def summary(statuses: list[UnitStatus]) -> str:
    """One line: how many units were computed now, reused or failed (the resume evidence); one
    line too when everything was already stored."""
    n = len(statuses)
    if not n:
        return "nothing to do"
    count = {"done": 0, "stored": 0, "failed": 0}
    kinds: dict[str, int] = {}
    for s in statuses:
        key = s.status if s.status in ("done", "stored") else "failed"
        count[key] += 1
        if key == "done":
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
    if count["stored"] == n:
        return f"all {n} units already stored, nothing computed"
    parts = []
    if count["done"]:
        what = ", ".join(f"{k} {kind}" for kind, k in kinds.items())
        parts.append(f"{'all' if count['done'] == n else count['done']} computed ({what})")
    if count["stored"]:
        parts.append(f"{count['stored']} already stored")
    if count["failed"]:
        parts.append(f"{count['failed']} failed")
    return f"{n} units: " + ", ".join(parts)
