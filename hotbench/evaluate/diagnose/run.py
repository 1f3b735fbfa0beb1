"""One model at one eval temperature, end to end: choose the budget by the documented rule, run the
probes the checks need (with `run_missing`), measure the model, run every registered check, apply
the verdict rule, and store the diagnosis; `report_verdicts` does the same read-only for reports."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ... import stats
from ...checked_files import atomic_write_json, read_json_checked
from ...config import AttackConfig
from ...context import Context
from ...data import data_folders
from ...errors import HotbenchError
from ...store import RunRecord, Workspace, now
from ..worstcase import StoredResult, counts_at, load_stored, worst_case
from .commands import Where
from .measurements import eval_temps, measure
from .reference import REFERENCE_EVAL_TEMP, load_reference, reference_config
from .rule import Verdict, decide
from .select import PROBE, at_budget, bounded_at, paper, reference_budget
from .spec import Check, Evidence, Reference, probes_for, run_checks
from .thresholds import THRESHOLDS, Thresholds

# Bumped whenever the verdict rule changes, so that a stored diagnosis made by an older rule is
# recomputed.
DIAGNOSIS_SCHEMA = "hotbench.diagnosis/7"


def diagnosis_path(ws: Workspace, run_id: str, eval_temp: float) -> Path:
    return ws.run_dir(run_id) / "diagnosis" / f"T{eval_temp:g}.json"


def budget_of(
    results: list[StoredResult], record: RunRecord, th: Thresholds = THRESHOLDS
) -> tuple[str, float] | None:
    """The budget the verdict speaks about: the documented rule (select.reference_budget)."""
    return reference_budget(results, th, record.config.resolved().train_eps)


def _size(results: list[StoredResult], budget: tuple[str, float] | None) -> int | None:
    """How many samples the diagnosis measures on: the largest result that counts at the budget."""
    rs = at_budget(results, *budget) if budget is not None else results
    return max((r.index.size for r in rs or results), default=None)


def _base(results: list[StoredResult], budget: tuple[str, float], eval_temp: float, n: int | None):
    """The PGD config at the budget that the probes start from: the stored one with the lowest
    seed, else PGD-40 on the first n samples."""
    pgd = sorted(
        (
            r
            for r in bounded_at(results, *budget)
            if paper(r) and r.config.params.get("random_start") and r.config.targeted is None
        ),
        key=lambda r: r.config.seed,
    )
    if pgd:
        return pgd[0].config, False
    return AttackConfig(method="pgd", eps=budget[1], eval_temp=eval_temp, n_samples=n), True


def run_probes(ctx: Context, record: RunRecord, ev: Evidence, th: Thresholds) -> None:
    """Run and store the attacks the checks need where they are missing (each check declares
    its own: CheckSpec.probe), training the undefended reference first if absent. Also a PGD at
    the budget when none ran (the paper's attack the masking axis compares with)."""
    from ...units import ensure_attacked, ensure_trained

    assert ev.budget is not None
    if ev.budget[0] != "Linf":  # every probe is a Linf attack: an L2 budget gets none
        return
    base, missing = _base(ev.results, ev.budget, ev.where.eval_temp, ev.where.n_samples)
    probes = probes_for(ev, base, th)
    # the reference trains on the target's data, found where its run.json says
    where = data_folders(ctx.data_dir, record.recorded_data_dir)[0]
    todo = [(record, base)] if missing else []
    for p in probes:
        target = record
        if p.train is not None:
            target, _ = ensure_trained(dataclasses.replace(ctx.unforced(), data_dir=where), p.train)
        todo.append((target, AttackConfig(**p.attack.model_dump())))
    for target, cfg in todo:
        doc, computed = ensure_attacked(ctx.unforced(), target, cfg)
        if computed:  # marked, so that the verdict's budget rule does not count it
            with ctx.ws.lock(target.run_id):
                prov = {**doc["provenance"], PROBE: "diagnose"}
                ctx.ws.save_result(target.run_id, {**doc, "provenance": prov})


def evidence_of(
    results: list[StoredResult],
    budget: tuple[str, float] | None,
    where: Where | None = None,
    gradients: dict[str, dict[str, float]] | None = None,
    saturation: dict[str, float | None] | None = None,
    reference: Reference | None = None,
) -> Evidence:
    """What the checks read, from results already loaded (no workspace: the Python API and tests
    judge constructed results with it)."""
    where = where or Where("RUN", results[0].eval_temp if results else 1.0)
    ev = Evidence(results, budget, where, gradients, saturation, reference=reference)
    if budget is not None and any(counts_at(r, *budget) for r in results):
        ev.worst = worst_case(results, where.run_id, where.eval_temp, *budget)
    return ev


def judge(ev: Evidence, th: Thresholds = THRESHOLDS) -> tuple[Verdict, list[Check]]:
    """Every registered check on `ev`, then the verdict rule."""
    checks = run_checks(ev, th)
    return decide(ev, checks, th), checks


def evidence(
    ctx: Context,
    record: RunRecord,
    eval_temp: float,
    budget: tuple[str, float] | None,
    n_samples: int | None = None,
) -> Evidence:
    """What the checks read about a stored model, from what the workspace holds now (without the
    model-side measurements: see `diagnose_run`)."""
    results = load_stored(ctx.ws, record.run_id, eval_temp)
    n = n_samples or _size(results, budget)
    where = Where(
        record.run_id,
        eval_temp,
        budget[1] if budget is not None and budget[0] == "Linf" else None,
        n,
        record.doc.get("metrics", {}).get("n_test"),
    )
    reference = None if budget is None else load_reference(ctx.ws, record, budget)
    return evidence_of(results, budget, where, reference=reference)


def inputs(ws: Workspace, record: RunRecord, eval_temp: float) -> dict[str, Any]:
    """What a diagnosis was computed from: the run's results at this eval T and its undefended
    reference's (weights and results). A stored diagnosis is current only while these hold."""
    ref = reference_config(record.config)
    ref_doc: dict[str, Any] = {"run_id": ref.run_id}
    if ref.run_id != record.run_id and ws.has_run(ref.run_id):
        rec = ws.load_record(ref.run_id)
        ref_doc["weights_sha256"] = rec.weights_sha256
        ref_doc["attack_ids"] = sorted(
            r.attack_id for r in load_stored(ws, ref.run_id, REFERENCE_EVAL_TEMP)
        )
    return {
        "attack_ids": sorted(r.attack_id for r in load_stored(ws, record.run_id, eval_temp)),
        "reference": ref_doc,
    }


def diagnose_run(
    ctx: Context,
    record: RunRecord,
    eval_temp: float,
    run_missing: bool = True,
    eps: float | None = None,
    n_samples: int | None = None,
) -> dict[str, Any]:
    """Diagnose one model at one eval temperature. With `run_missing`, the probe attacks the checks
    need are run and stored first (see `run_probes`). Returns the diagnosis document (not stored;
    see `save`). The thresholds are THRESHOLDS."""
    ws, th = ctx.ws, THRESHOLDS
    results = load_stored(ws, record.run_id, eval_temp)
    budget = ("Linf", float(eps)) if eps is not None else budget_of(results, record, th)
    if run_missing:
        if budget is None:
            raise HotbenchError(
                f"no attack result on {record.run_id} at eval T={eval_temp:g} to diagnose",
                "run `hotbench attack --suite adaptive` first, or pass --eps to probe with PGD",
            )
        run_probes(ctx, record, evidence(ctx, record, eval_temp, budget, n_samples), th)
    ev = evidence(ctx, record, eval_temp, budget, n_samples)
    if budget is not None and ev.worst is None and not run_missing:  # --no-probe and --eps
        raise HotbenchError(
            f"no attack result on {record.run_id} at eval T={eval_temp:g} within {budget[0]} eps"
            f" {budget[1]:g} to diagnose, and --no-probe",
            "drop --no-probe (diagnose then runs PGD at that eps), or attack it at that eps first",
        )
    data_problem = None
    try:
        measured = measure(ctx, record, eval_temp, ev.where.n_samples, store=run_missing)
    except HotbenchError as exc:
        if run_missing:
            raise
        # the report may run where the dataset is not reachable: the checks on stored results still
        # stand, the model-side ones are "not measured", and the verdict cannot be "robust"
        measured, data_problem = None, str(exc)
    if measured is not None:
        ev.gradients, ev.saturation = measured["gradients"], measured["saturation"]
        ev.randomness = measured.get("randomness")
    ev.where.data_problem = data_problem
    v, checks = judge(ev, th)
    wc, ref = ev.worst, ev.reference
    return {
        "schema": DIAGNOSIS_SCHEMA,
        "run_id": record.run_id,
        "eval_temp": eval_temp,
        "robustness": v.robustness,
        "masking": v.masking,
        "evidence": v.evidence,
        "masking_evidence": v.masking_evidence,
        "decided": v.decided,
        "overestimate": v.overestimate,
        "paper_acc": v.paper_acc,
        "complete": v.complete,
        "budget": None if budget is None else {"threat_model": budget[0], "eps": budget[1]},
        "undefended": None
        if ref is None
        else {
            "run_id": ref.run_id,
            "same": ref.same,
            "robust_acc": None if ref.worst is None else ref.worst.robust_acc,
            "n_samples": None if ref.worst is None else ref.worst.n_samples,
            "missing": ref.missing,
        },
        "robust_acc": None if wc is None else wc.robust_acc,
        "n_robust": None if wc is None else wc.n_robust,
        "robust_n": None if wc is None else wc.n_samples,
        "ci_low": None if wc is None else wc.ci[0],
        "ci_high": None if wc is None else wc.ci[1],
        "ci_method": stats.INTERVAL_METHOD if wc is None else wc.ci_method,
        "clean_acc": None if wc is None else wc.clean_acc,
        "top_attack": None if wc is None else wc.top_attack,
        "top_attacks": [] if wc is None else wc.top_attacks,
        "data_problem": data_problem,
        "breaks": {} if wc is None else wc.breaks,
        "n_samples": ev.where.n_samples,
        "gradients": ev.gradients,
        "saturation": ev.saturation,
        "randomness": ev.randomness,
        "checks": [asdict(c) for c in checks],
        "thresholds": asdict(th),
        "inputs": inputs(ws, record, eval_temp),
        "weights_sha256": record.weights_sha256,
        "created": now(),
    }


def save(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    with ws.lock(doc["run_id"]):
        return atomic_write_json(diagnosis_path(ws, doc["run_id"], doc["eval_temp"]), doc)


def current(ws: Workspace, record: RunRecord, eval_temp: float) -> dict[str, Any] | None:
    """The stored diagnosis if it was made by this rule, at the budget the rule picks now, from
    exactly the results stored now (its own and its undefended reference's); else None (stale).
    A `diagnose --eps` at another budget is not the report's verdict."""
    path = diagnosis_path(ws, record.run_id, eval_temp)
    if not path.is_file():
        return None
    doc = read_json_checked(path)
    budget = budget_of(load_stored(ws, record.run_id, eval_temp), record)
    fresh = (
        doc.get("schema") == DIAGNOSIS_SCHEMA
        and doc.get("thresholds") == asdict(THRESHOLDS)
        and doc.get("weights_sha256") == record.weights_sha256  # not of weights since replaced
        and doc.get("budget")
        == (None if budget is None else {"threat_model": budget[0], "eps": budget[1]})
    )
    return doc if fresh and doc.get("inputs") == inputs(ws, record, eval_temp) else None


def report_verdicts(
    ws: Workspace, records: list[RunRecord], data_dir: Path | None = None
) -> dict[tuple[str, float], dict[str, Any]]:
    """For the report: (run_id, eval T) -> diagnosis. A current stored diagnosis is reused;
    otherwise one is computed from what is stored (no attack is run, nothing is written: the report
    stays read-only)."""
    # read-only: no probe runs, so no progress; the data is where data.data_folders says (run.json's
    # folder unless `data_dir`). Measurements stored with the run are reused (the weights' hash
    # must match); missing ones are computed on the CPU and not stored.
    ctx = Context.for_reading(ws, data_dir)
    out = {}
    for rec in records:
        for t in eval_temps(ws, rec):
            if not load_stored(ws, rec.run_id, t):
                continue
            out[(rec.run_id, t)] = current(ws, rec, t) or diagnose_run(
                ctx, rec, t, run_missing=False
            )
    return out
