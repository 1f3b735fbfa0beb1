"""The `local` executor: every unit in this process, in plan order."""

from __future__ import annotations

import dataclasses
import time

from ..attacks.composite import surrogate_config
from ..attacks.spec import ATTACKS
from ..config import TrainConfig
from ..context import Context
from ..data import data_folders
from ..store import RunRecord
from ..units import ensure_attacked, ensure_trained
from .plan import Plan, UnitStatus


def extra_surrogates(plan: Plan) -> dict[str, TrainConfig]:
    """The transfer surrogates that the plan does not train as models of its own (run id ->
    config): units of their own, as the process and Ray executors count them."""
    own = {c.run_id for c in plan.train}
    out: dict[str, TrainConfig] = {}
    for cfg in plan.train:
        for acfg in plan.attack:
            if ATTACKS.get(acfg.method).surrogate:
                sur = surrogate_config(cfg, acfg).resolved()
                if sur.run_id not in own:
                    out.setdefault(sur.run_id, sur)
    return out


def run_local(plan: Plan, ctx: Context) -> list[UnitStatus]:
    """Every unit of `plan`, once each: an attack planned twice (eval T "train" and 1 on a T = 1
    model) is one unit, and a model the sweep trained earlier as another attack's transfer
    surrogate counts as computed now, not as stored (only what the workspace held before the
    sweep is "stored"). A surrogate that is no model of the plan is a unit of its own too, trained
    before the first attack that crafts on it (inside that attack, the progress counted it as
    the attack's own number: `[6/69]` twice)."""
    statuses: list[UnitStatus] = []
    extra = extra_surrogates(plan)
    units = plan.distinct_units() + len(extra)
    bar = ctx.reporter.overall(f"local: {units} units", units)
    held_before = {cfg.run_id for cfg in plan.train if ctx.ws.has_run(cfg.run_id)}
    counted: set[str] = set()  # plan models the bar has counted (trained as a surrogate: early)
    seen: set[str] = set()
    for cfg in plan.train:
        start = time.perf_counter()
        record, trained = ensure_trained(ctx, cfg)
        status = (
            "done" if trained or (not ctx.force and cfg.run_id not in held_before) else "stored"
        )
        statuses.append(
            UnitStatus(
                "train",
                record.run_id,
                status,
                round(time.perf_counter() - start, 3) if trained else None,
            )
        )
        if cfg.run_id not in counted:
            counted.add(cfg.run_id)
            bar.advance()
        for acfg in plan.attack:
            if ATTACKS.get(acfg.method).surrogate:
                # its surrogate first, as a unit of its own where the plan has it (it was
                # trained inside the attack, and the bar counted it twice, out of order)
                sur = surrogate_config(cfg, acfg).resolved()
                if sur.run_id in {c.run_id for c in plan.train} - counted:
                    ensure_trained(ctx, sur)
                    counted.add(sur.run_id)
                    bar.advance()
                elif sur.run_id in extra and sur.run_id not in counted:
                    statuses.append(_surrogate(ctx, record, sur))
                    counted.add(sur.run_id)
                    bar.advance()
            start = time.perf_counter()
            doc, fresh = ensure_attacked(ctx, record, acfg)
            name = f"{record.run_id}/{doc['attack_id']}"
            if name in seen:  # the same unit twice in a plan (eval T "train" = 1): once
                continue
            seen.add(name)
            statuses.append(
                UnitStatus(
                    "attack",
                    name,
                    "done" if fresh else "stored",
                    round(time.perf_counter() - start, 3) if fresh else None,
                )
            )
            bar.advance()
    return statuses


def _surrogate(ctx: Context, target: RunRecord, sur: TrainConfig) -> UnitStatus:
    """Train a transfer surrogate as ensure_attacked would (on the target's data, and not again
    under --force, which redoes the attacks only), as a unit of its own."""
    start = time.perf_counter()
    where = data_folders(ctx.data_dir, target.recorded_data_dir)[0]
    record, trained = ensure_trained(dataclasses.replace(ctx.unforced(), data_dir=where), sur)
    seconds = round(time.perf_counter() - start, 3) if trained else None
    return UnitStatus("train", record.run_id, "done" if trained else "stored", seconds)
