"""The `local` executor: every unit in this process, in plan order."""

from __future__ import annotations

import time

from ..context import Context
from ..units import ensure_attacked, ensure_trained
from .plan import Plan, UnitStatus


def run_local(plan: Plan, ctx: Context) -> list[UnitStatus]:
    statuses: list[UnitStatus] = []
    units = plan.distinct_units()
    bar = ctx.reporter.overall(f"local: {units} units", units)
    seen: set[str] = set()
    for cfg in plan.train:
        start = time.perf_counter()
        record, trained = ensure_trained(ctx, cfg)
        statuses.append(
            UnitStatus(
                "train",
                record.run_id,
                "done" if trained else "stored",
                round(time.perf_counter() - start, 3) if trained else None,
            )
        )
        bar.advance()
        for acfg in plan.attack:
            start = time.perf_counter()
            doc, fresh = ensure_attacked(ctx, record, acfg)
            name = f"{record.run_id}/{doc['attack_id']}"
            statuses.append(
                UnitStatus(
                    "attack",
                    name,
                    "done" if fresh else "stored",
                    round(time.perf_counter() - start, 3) if fresh else None,
                )
            )
            if name not in seen:  # the same unit twice in a plan (eval T "train" = 1) counts once
                seen.add(name)
                bar.advance()
    return statuses
