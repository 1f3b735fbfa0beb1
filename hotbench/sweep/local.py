"""The `local` executor: every unit in this process, in plan order."""

from __future__ import annotations

import time

from ..attacks.composite import surrogate_config
from ..attacks.spec import ATTACKS
from ..context import Context
from ..units import ensure_attacked, ensure_trained
from .plan import Plan, UnitStatus


def run_local(plan: Plan, ctx: Context) -> list[UnitStatus]:
    """Every unit of `plan`, once each: an attack planned twice (eval T "train" and 1 on a T = 1
    model) is one unit, and a model the sweep trained earlier as another attack's transfer
    surrogate counts as computed now, not as stored (only what the workspace held before the
    sweep is "stored")."""
    statuses: list[UnitStatus] = []
    units = plan.distinct_units()
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
