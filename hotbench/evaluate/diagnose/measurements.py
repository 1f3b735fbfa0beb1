"""Measurements on the model itself: the gradient of the deployed output and of the logits, and the
output's saturation. They cost a forward and backward pass over the test images, so they are stored
with the run (diagnosis/measurements.json, keyed by the weights' sha256) by the commands that
compute, and reused by `report`, which reads JSON only (torch is imported inside the functions that
measure)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...checked_files import atomic_write_json, read_json_checked
from ...context import Context
from ...errors import HotbenchError
from ...store import RunRecord, Workspace
from ..worstcase import load_stored

if TYPE_CHECKING:
    import torch

    from ...models import HotNet


def gradient_health(
    net: HotNet, x: torch.Tensor, y: torch.Tensor, eval_temp: float, batch_size: int = 256
) -> dict[str, dict[str, float]]:
    """Per view, the fraction of inputs whose cross-entropy input gradient is exactly zero and the
    median gradient L2 norm. The output view is what the paper's attacks follow; the logit view is z
    / T_train.
    """
    import torch
    import torch.nn.functional as F

    device = next(net.parameters()).device
    out: dict[str, dict[str, float]] = {}
    for view in ("output", "logits"):
        norms = []
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size].to(device).clone().requires_grad_(True)
            z = net.logits(xb)
            o = net.head(z, eval_temp) if view == "output" else z / net.train_temp
            # per-sample gradients from one backward: samples are independent in eval mode
            (g,) = torch.autograd.grad(
                F.cross_entropy(o, y[i : i + batch_size].to(device), reduction="sum"), xb
            )
            norms.append(g.flatten(1).norm(dim=1).detach().cpu())
        n = torch.cat(norms) if norms else torch.zeros(0)
        out[view] = {
            "zero_frac": float((n == 0).float().mean()) if n.numel() else float("nan"),
            "median_norm": float(n.median()) if n.numel() else float("nan"),
        }
    return out


def saturation(net: HotNet, x: torch.Tensor, eval_temp: float) -> dict[str, float | None]:
    """Fraction of outputs exactly at the activation's bound (None: the activation has none) and
    fraction of clean predictions decided by an argmax tie, both in float32 as deployed."""
    import torch

    device = next(net.parameters()).device
    with torch.inference_mode():
        o = torch.cat(
            [
                net.head(net.logits(x[i : i + 1024].to(device)), eval_temp).float().cpu()
                for i in range(0, x.shape[0], 1024)
            ]
        )
    bounds = net.act.bounds
    at_bound = (
        None if bounds is None else float(((o == bounds[0]) | (o == bounds[1])).float().mean())
    )
    ties = (o == o.amax(1, keepdim=True)).sum(1) > 1
    return {
        "at_bound_frac": at_bound,
        "tie_frac": float(ties.float().mean()) if o.shape[0] else float("nan"),
    }


# /2: entries carry `randomness` (attacks.randomized.detect); /1 entries are measured again
MEASUREMENTS_SCHEMA = "hotbench.measurements/2"


def measurements_path(ws: Workspace, run_id: str) -> Path:
    return ws.run_dir(run_id) / "diagnosis" / "measurements.json"


def _measure_key(eval_temp: float, n: int | None) -> str:
    return f"T{eval_temp:g}/n{'all' if n is None else n}"


def stored_measurement(
    ws: Workspace, record: RunRecord, eval_temp: float, n: int | None
) -> dict[str, Any] | None:
    """The gradient and saturation measurements stored with the run for (eval T, n test images),
    if they were made on the weights stored now (same sha256 as run.json's): retrained or replaced
    weights are measured again."""
    path = measurements_path(ws, record.run_id)
    if not path.is_file():
        return None
    try:
        doc = read_json_checked(path)
    except HotbenchError:  # damaged: measured again, and rewritten by the next command that stores
        return None
    if (
        doc.get("schema") != MEASUREMENTS_SCHEMA
        or doc.get("weights_sha256") != record.weights_sha256
    ):
        return None
    return doc.get("entries", {}).get(_measure_key(eval_temp, n))


def measure(
    ctx: Context, record: RunRecord, eval_temp: float, n: int | None, store: bool = True
) -> dict[str, Any]:
    """Gradient health and saturation of the model on its first `n` test images at `eval_temp`.

    They cost a forward and backward pass over the test images, which the report would otherwise
    pay on every call (torch's import included): so they are stored with the run, keyed by the
    weights' sha256, by the commands that compute (attack, run, diagnose) and reused by `report`,
    which never writes (`store=False`)."""
    hit = stored_measurement(ctx.ws, record, eval_temp, n)
    if hit is not None:
        return hit
    from ...attacks.randomized import detect, draw_seed, seeded
    from ...runtime import fixed_threads
    from ...units import cpu_threads, load_run_data

    dataset = load_run_data(record, ctx.data_dir, ctx.download)
    data = dataset.test.head(n)
    net = ctx.ws.load_model(record, ctx.device)
    net.eval()
    # a randomized model draws its noise from torch's generators: seeded, the measurement is
    # reproducible (a deterministic model draws nothing, so nothing changes for it)
    threads = cpu_threads(dataset.spec, ctx.device)
    with fixed_threads(threads), seeded(next(net.parameters()).device) as seed:
        seed(draw_seed(0, 0, 0))
        entry = {
            "gradients": gradient_health(net, data.x, data.y, eval_temp),
            "saturation": saturation(net, data.x, eval_temp),
            "randomness": detect(net, data.x).fields(),
        }
    if store:
        with ctx.ws.lock(record.run_id):
            path = measurements_path(ctx.ws, record.run_id)
            sha = record.weights_sha256
            doc: dict[str, Any] = {}
            if path.is_file():
                try:
                    doc = read_json_checked(path)
                except HotbenchError:
                    doc = {}
            if doc.get("schema") != MEASUREMENTS_SCHEMA or doc.get("weights_sha256") != sha:
                doc = {"schema": MEASUREMENTS_SCHEMA, "weights_sha256": sha, "entries": {}}
            doc.pop("checksum", None)
            doc["entries"][_measure_key(eval_temp, n)] = entry
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, doc)
    return entry


def measurement_size(ws: Workspace, run_id: str, eval_temp: float) -> int | None:
    """How many test images the diagnosis of (run, eval T) measures on: as many as its largest
    stored attack result (the same rule as `run.diagnose_run`)."""
    return max((r.index.size for r in load_stored(ws, run_id, eval_temp)), default=None)


def store_measurements(ctx: Context, records: list[RunRecord]) -> None:
    """After attacks: measure every attacked (run, eval T) that has no stored measurement yet, so
    that `report` finds them. Skipped where the data is not reachable (the report then measures,
    or does without)."""
    for rec in records:
        for t in eval_temps(ctx.ws, rec):
            n = measurement_size(ctx.ws, rec.run_id, t)
            if n is None or stored_measurement(ctx.ws, rec, t, n) is not None:
                continue
            try:
                measure(ctx, rec, t, n, store=True)
            except HotbenchError:
                continue


def eval_temps(ws: Workspace, record: RunRecord) -> list[float]:
    """The eval temperatures the run was attacked at (the training T when never attacked)."""
    temps = sorted({r.eval_temp for r in load_stored(ws, record.run_id)}, reverse=True)
    return temps or [record.config.temp]
