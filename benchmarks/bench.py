"""`make bench`: how fast hotbench is on this machine, and whether its fast paths keep results
identical.

Prints, each a median of several repeats (issue 6, issue 28):
1. training throughput (images/s) of the MNIST CNN and the CIFAR-10 CNN on random tensors (no
   dataset files needed), and the achieved GFLOP/s as a fraction of this machine's measured fp32
   matmul GFLOP/s;
2. PGD throughput (image-steps/s): hotbench's attack_batch versus torchattacks.PGD called directly,
   and (on a GPU, at the batches the GPU presets use) the achieved GFLOP/s against the card's
   measured fp32 and TF32 matmul rates;
3. the paper's attack suite on one model: hotbench's exact mode and skip mode versus the naive loop
   (every attack on every sample, every iteration, no reuse), and a check that the numbers are
   identical;
4. wall time of `hotbench run quick` from an empty workspace;
5. startup: help, a bad option, report on a stored workspace;
6. judging minimum-norm points one at a time (CUDA-graph replay on a GPU) against the eager loop;
7. (only with --only sweep) `hotbench run PRESET` end to end from an empty workspace (--sweep,
   --data-dir), with where the time went.

Usage: python benchmarks/bench.py [--quick] [--device cpu|cuda] [--json] [--only
train,pgd,judge,suite,preset,startup,sweep] With --json the figures go to stdout as one JSON
document and the human-readable lines to stderr. Exits 1 if a fast path's numbers differ from the
path it replaces, or a timed command fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotbench.attacks.engine import Batch, attack_batch  # noqa: E402
from hotbench.config import AttackConfig, TrainConfig  # noqa: E402
from hotbench.context import Context  # noqa: E402
from hotbench.data import DATASETS, load_dataset  # noqa: E402
from hotbench.evaluate.fasteval import chains, ensure_suite, naive_robust, robust_mask  # noqa: E402
from hotbench.models import ARCHS, build_model, layout_name  # noqa: E402
from hotbench.runtime import configure_threads, resolve_device  # noqa: E402
from hotbench.store import Workspace  # noqa: E402
from hotbench.training import train_step  # noqa: E402
from hotbench.units import ensure_trained  # noqa: E402

OUT = sys.stdout


def say(msg: str = "") -> None:
    print(msg, file=OUT, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(
    fns: list[Callable[[], Any]], device: torch.device, repeats: int, warmup: int = 1
) -> list[list[float]]:
    """Wall seconds per repeat of each of `fns`, timed in turns (a b a b ...), one list per fn.

    A shared machine drifts: timed back to back, all repeats of one side could land in a slow minute
    and all of the other side in a fast one (seen here: PGD's overhead read anywhere from -5% to
    +10%). Ratios of the same turn compare like with like; the figures below are medians of those
    ratios."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    sync(device)
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, times in zip(fns, out, strict=False):
            start = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - start)
    return out


def machine(device: torch.device) -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": os.cpu_count(),
        "cpu": model,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "python": platform.python_version(),
        "load_avg_start": os.getloadavg(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# ---- 1. matmul reference and training throughput -------------------------------------------------
def matmul_probe(device: torch.device) -> tuple[Callable[[], Any], float]:
    """One large square fp32 matmul and its FLOPs: the physical reference the training figures are
    set against."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return (lambda: torch.matmul(a, b)), 2.0 * n**3


def tf32_matmul_gflops(device: torch.device, repeats: int) -> float | None:
    """The same matmul with TF32 allowed (GPU only): the rate cuDNN's convolutions can reach, since
    they run in TF32 by default (torch.backends.cudnn.allow_tf32) while matmul does not."""
    if device.type != "cuda":
        return None
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        mm, flops = matmul_probe(device)
        (times,) = interleaved([mm], device, repeats)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return flops / statistics.median(times) / 1e9


def step_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one training step (forward + backward), counted by torch (conv and matmul ops)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def train_throughput(
    dataset: str,
    device: torch.device,
    batch: int,
    steps: int,
    repeats: int,
    memory_format: torch.memory_format | None = None,
) -> dict[str, Any]:
    """Images/s of hotbench's training step (train.train_step: Adam, cross-entropy on act(z / T)) on
    random inputs of the dataset's shape, in the memory layout train_model uses for the arch
    (`memory_format=None`) or in the one given: the same code path as train.train_model, without
    needing the dataset's files.
    """
    spec = DATASETS.get(dataset)
    fmt = ARCHS.get(spec.default_arch).memory_format if memory_format is None else memory_format
    torch.manual_seed(0)
    model = build_model(spec, spec.default_arch, "tanh", 10.0).to(device, memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, spec.channels, spec.size, spec.size, device=device).contiguous(
        memory_format=fmt
    )
    y = torch.randint(0, spec.num_classes, (batch,), device=device)
    flops = step_flops(model, x, y)

    def run() -> None:
        for _ in range(steps):
            train_step(model, opt, x, y)

    mm, mm_flops = matmul_probe(device)
    t_mm, t_run = interleaved([mm, run], device, repeats)
    t = statistics.median(t_run)
    return {
        "images_per_s": batch * steps / t,
        "gflops": flops * steps / t / 1e9,
        "flops_per_image": flops / batch,
        "batch": batch,
        "memory_format": layout_name(fmt),
        "matmul_gflops": mm_flops / statistics.median(t_mm) / 1e9,
        "fraction_of_matmul": statistics.median(
            flops * steps / r / (mm_flops / m) for m, r in zip(t_mm, t_run, strict=False)
        ),
    }


# ---- 2. PGD overhead -----------------------------------------------------------------------------
def attack_step_flops(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one attack step per batch: forward, and backward to the input only (what
    torch.autograd.grad(loss, x) computes; no weight gradients), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:  # backward() to the input alone (FlopCounterMode refuses autograd.grad)
        p.requires_grad_(False)
    x = x.clone().requires_grad_(True)
    try:
        with FlopCounterMode(display=False) as counter:
            F.cross_entropy(net(x), y).backward()
    finally:
        for p in params:
            p.requires_grad_(True)
    return int(counter.get_total_flops())


def pgd_overhead(device: torch.device, batch: int, steps: int, repeats: int) -> dict[str, Any]:
    """hotbench's attack_batch (tracking of the first success, validity checks, per-sample seeds)
    against torchattacks.PGD on the same model view and data. stop_early=False: the same number of
    iterations on both sides, so the difference is pure overhead (the early stop is measured in
    3). Timed twice for hotbench: with the per-sample random starts already drawn (what every unit
    of a sweep but the first on those samples sees: loops.StartBank) and drawn anew each call."""
    import torchattacks

    from hotbench.attacks.loops import STARTS

    spec = DATASETS.get("mnist")
    torch.manual_seed(0)
    net = build_model(spec, "mnist-cnn", "tanh", 10.0).to(device).eval()
    x = torch.rand(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    cfg = AttackConfig(method="pgd", eps=0.3, steps=steps, batch_size=batch).resolved(10.0, batch)
    idx = torch.arange(batch)
    ta = torchattacks.PGD(
        net.deployed(cfg.eval_temp), eps=cfg.eps, alpha=cfg.alpha, steps=steps, random_start=True
    )

    def hotbench_cold() -> None:
        STARTS.clear()
        attack_batch(net, cfg, Batch(x, y, idx), seed=0, stop_early=False)

    ts_ta, ts_hb, ts_cold = interleaved(
        [
            lambda: ta(x, y),
            lambda: attack_batch(net, cfg, Batch(x, y, idx), seed=0, stop_early=False),
            hotbench_cold,
        ],
        device,
        repeats,
    )
    t_ta, t_hb = statistics.median(ts_ta), statistics.median(ts_hb)
    flops = attack_step_flops(net.deployed(cfg.eval_temp), x, y)

    def overhead(ts: list[float]) -> float:
        return 100 * (statistics.median(h / a for a, h in zip(ts_ta, ts, strict=False)) - 1)

    return {
        "torchattacks_img_steps_per_s": batch * steps / t_ta,
        "hotbench_img_steps_per_s": batch * steps / t_hb,
        "overhead_pct": overhead(ts_hb),
        "overhead_cold_starts_pct": overhead(ts_cold),
        "flops_per_image_step": flops / batch,
        "hotbench_gflops": flops * steps / t_hb / 1e9,
        "batch": batch,
        "steps": steps,
    }


def judge_one_at_a_time(device: torch.device, n: int, repeats: int) -> dict[str, Any]:
    """How a minimum-norm attack's points are judged (attacks.batch1.one_at_a_time: batch-1
    passes, replayed from a CUDA graph on a GPU) against the eager batch-1 loop it replaces, on n
    points: time and identical classes."""
    from hotbench.attacks.batch1 import one_at_a_time

    spec = DATASETS.get("mnist")
    torch.manual_seed(0)
    deployed = build_model(spec, "mnist-cnn", "tanh", 10.0).to(device).eval().deployed(1.0)
    x = torch.rand(n, 1, 28, 28, device=device)
    got: dict[str, torch.Tensor] = {}

    def eager() -> None:
        with torch.inference_mode():
            got["eager"] = torch.cat([deployed(x[i : i + 1]).argmax(1) for i in range(n)])

    judge = one_at_a_time(deployed)

    def batch1() -> None:
        got["batch1"] = judge.argmax(x)

    t_eager, t_b1 = interleaved([eager, batch1], device, repeats)
    return {
        "n": n,
        "eager_s": statistics.median(t_eager),
        "one_at_a_time_s": statistics.median(t_b1),
        "graph_used": judge._graph is not None,
        "identical": bool(torch.equal(got["eager"], got["batch1"])),
    }


# ---- 3. suite evaluation -------------------------------------------------------------------------
def suite_configs(eps: float, n: int) -> tuple[str, list[AttackConfig]]:
    """The paper's suite (hotbench.evaluate.suites) at one eps, on the first n test samples."""
    from hotbench.evaluate.suites import suite_configs as named

    return "paper", named("paper", [eps], n_samples=n)


def suite_eval(
    device: torch.device, repeats: int, n: int, eps: float, epochs: int
) -> dict[str, Any]:
    """digits, no output activation, T = 1 (eval T = train T): a model most samples of which break
    early, where skipping pays. Timings exclude training; each repeat starts from an empty attack
    store."""
    root = Path(tempfile.mkdtemp(prefix="hotbench-bench-"))
    try:
        ws = Workspace(root)
        record, _ = ensure_trained(
            Context(ws, device), TrainConfig(dataset="digits", act="none", temp=1.0, epochs=epochs)
        )
        net = ws.load_model(record, device)
        test = load_dataset("digits").test
        name, configs = suite_configs(eps, n)
        resolved = [c.resolved(record.config.temp, len(test)) for c in configs]
        attacks_dir = record.path / "attacks"

        naive: list[np.ndarray] = []

        def run_naive() -> None:
            naive[:] = [naive_robust(net, test, c, device) for c in resolved]

        last: dict[bool, Any] = {}

        def run_mode(skip: bool) -> Callable[[], None]:
            def go() -> None:
                shutil.rmtree(
                    attacks_dir, ignore_errors=True
                )  # every turn from an empty attack store
                last[skip] = ensure_suite(Context(ws, device), record, configs, skip=skip)

            return go

        t_naive, t_exact, t_skip = interleaved(
            [run_naive, run_mode(False), run_mode(True)], device, repeats, warmup=0
        )
        exact, skipped = last[False], last[True]

        per_attack = []
        exact_docs = [d for chain in exact for d in chain.docs]
        for cfg, ref in zip(resolved, naive, strict=False):
            doc = next(d for d in exact_docs if d["attack_id"] == cfg.attack_id(record.run_id))
            per_attack.append(
                {
                    "attack": cfg.label,
                    "naive_adv_acc": float(ref.mean()),
                    "exact_adv_acc": doc["metrics"]["adv_acc"],
                    "identical": bool(np.array_equal(robust_mask(doc), ref)),
                }
            )
        # worst case per chain (one chain per budget; minimum-norm attacks form their own)
        worst = []
        for group, chain in zip(
            chains(resolved), skipped, strict=False
        ):  # ensure_suite returns one result per chain
            ref = np.logical_and.reduce(
                [naive[next(i for i, r in enumerate(resolved) if r is c)] for c in group]
            )
            worst.append(
                {
                    "attacks": [c.label for c in group],
                    "naive": float(ref.mean()),
                    "skip": float(chain.worst_case.mean()),
                    "identical": bool(np.array_equal(chain.worst_case, ref)),
                }
            )
        med = statistics.median
        return {
            "suite": name,
            "n_samples": n,
            "eps": eps,
            "model": record.run_id,
            "clean_acc": exact_docs[0]["metrics"]["clean_acc"],
            "naive_s": med(t_naive),
            "exact_s": med(t_exact),
            "skip_s": med(t_skip),
            "speedup_exact": med(a / b for a, b in zip(t_naive, t_exact, strict=False)),
            "speedup_skip": med(a / b for a, b in zip(t_naive, t_skip, strict=False)),
            "per_attack": per_attack,
            "worst_case": worst,
            "all_identical": (
                all(p["identical"] for p in per_attack) and all(w["identical"] for w in worst)
            ),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- 4. hotbench run quick -----------------------------------------------------------------------
def run_quick_preset(device: torch.device) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "hotbench"
    with tempfile.TemporaryDirectory(prefix="hotbench-quick-") as ws:
        env = {**os.environ, "HOTBENCH_HOME": ws}
        # its CPU time too: on a shared machine the wall time measures the neighbours, while user +
        # sys is about what it would take on an idle core (hotbench runs digits on one thread)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            [str(exe), "run", "quick", "--quiet", "--device", device.type],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        return {
            "failed": (
                f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}"
            ),
            "wall_s": wall,
        }
    return {"wall_s": wall, "cpu_s": cpu, "load_avg": os.getloadavg()}


def sweep_preset(
    device: torch.device,
    preset: str,
    data_dir: str | None,
    keep: str | None,
    log: str | None = None,
) -> dict[str, Any]:
    """`hotbench run PRESET` from an empty workspace, end to end (a subprocess: interpreter start,
    data loading, training, every attack unit, the stored diagnostics), then where the time went,
    from what the workspace recorded: training time per model and attack time per method."""
    exe = [sys.executable, "-m", "hotbench"]  # also where no `hotbench` script is installed
    ws = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="hotbench-sweep-"))
    args = [*exe, "run", preset, "-w", str(ws), "--device", str(device)]
    if data_dir:
        args += ["--data-dir", data_dir]
    try:
        start = time.perf_counter()
        if log:  # one line per finished unit as it finishes, so a run cut short still says where
            with open(log, "w") as f:
                proc = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
            proc.stdout, proc.stderr = "", Path(log).read_text()[-2000:]
        else:
            proc = subprocess.run([*args, "--quiet"], capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        out: dict[str, Any] = {"preset": preset, "wall_s": wall, "exit": proc.returncode}
        if proc.returncode != 0:
            out["failed"] = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        train = [json.loads(p.read_text()) for p in ws.glob("runs/*/run.json")]
        out["models"] = len(train)
        out["train_s"] = sum(d["metrics"].get("train_time_s", 0.0) for d in train)
        by_method: dict[str, list[float]] = {}
        n_samples = set()
        for p in ws.glob("runs/*/attacks/*.json"):
            doc = json.loads(p.read_text())
            by_method.setdefault(doc["config"]["method"], []).append(float(doc["time_s"]))
            n_samples.add(doc["metrics"]["n_samples"])
        out["attack_units"] = sum(len(v) for v in by_method.values())
        out["n_samples"] = sorted(n_samples)
        out["attack_s"] = {m: round(sum(v), 2) for m, v in sorted(by_method.items())}
        out["unit_s"] = out["train_s"] + sum(out["attack_s"].values())
        start = time.perf_counter()
        rep = subprocess.run(
            [*exe, "report", "-w", str(ws), "--format", "json", "-o", "-"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        out["report_s"] = time.perf_counter() - start
        out["report_exit"] = rep.returncode
        return out
    finally:
        if not keep:
            shutil.rmtree(ws, ignore_errors=True)


SECTIONS = ("train", "pgd", "judge", "suite", "preset", "startup", "sweep")
DEFAULT_SECTIONS = SECTIONS[:-1]  # sweep needs a dataset's files: only when named in --only


def main() -> int:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="fewer repeats and smaller problems (a smoke test)"
    )
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    ap.add_argument(
        "--json", action="store_true", help="figures as JSON on stdout (text goes to stderr)"
    )
    ap.add_argument("--skip-preset", action="store_true", help="do not time `hotbench run quick`")
    ap.add_argument(
        "--sweep", default="paper-mnist", help="the preset the sweep section runs end to end"
    )
    ap.add_argument("--data-dir", default=None, help="the sweep preset's data folder")
    ap.add_argument(
        "--keep", default=None, help="keep the sweep's workspace in this (empty) folder"
    )
    ap.add_argument("--log", default=None, help="the sweep's progress, one line per unit, here")
    ap.add_argument(
        "--only",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated sections to run, of: {', '.join(SECTIONS)} [default: all but sweep]",
    )
    args = ap.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if not only or only - set(SECTIONS):
        ap.error(f"--only takes sections of: {', '.join(SECTIONS)}")
    if args.skip_preset:
        only.discard("preset")
    if args.json:
        OUT = sys.stderr
    configure_threads()
    device = resolve_device(args.device)
    q = args.quick
    reps = 2 if q else 7
    gpu = device.type == "cuda"
    fig: dict[str, Any] = {"machine": machine(device), "quick": q}
    ok = True
    m = fig["machine"]
    say(
        f"machine: {m['nproc']} CPUs ({m['cpu']}), torch {m['torch']}, {m['threads']} threads,"
        f" device {m['device']}{', ' + m['gpu'] if gpu else ''}; load avg"
        f" {m['load_avg_start'][0]:.2f}"
    )

    if "train" in only:
        fig["matmul_gflops"], fig["train"] = section_train(device, q, reps, gpu)
    if "pgd" in only:
        fig["pgd"] = section_pgd(device, q, reps, gpu)
        if gpu:
            fig["matmul_tf32_gflops"] = tf32 = tf32_matmul_gflops(device, reps)
            fp32 = fig.get("matmul_gflops")
            for r in fig["pgd"]:
                r["fraction_of_tf32_matmul"] = r["hotbench_gflops"] / tf32
                if fp32:
                    r["fraction_of_fp32_matmul"] = r["hotbench_gflops"] / fp32
                say(
                    f"   batch {r['batch']}: {r['hotbench_gflops']:.0f} GFLOP/s ="
                    f" {100 * r['hotbench_gflops'] / tf32:.1f}% of the TF32 matmul"
                    f" ({tf32:.0f} GFLOP/s)"
                    + (f", {100 * r['hotbench_gflops'] / fp32:.1f}% of fp32" if fp32 else "")
                )
    if "judge" in only:
        fig["judge"] = section_judge(device, q, reps, gpu)
        ok = ok and fig["judge"]["identical"]
    if "suite" in only:
        fig["suite"] = section_suite(device, q)
        ok = fig["suite"]["all_identical"]
    if "preset" in only:
        fig["run_quick"] = rq = run_quick_preset(device)
        ok = ok and "failed" not in rq
        say(
            "\n4. hotbench run quick from an empty workspace: "
            + (
                f"FAILED: {rq['failed']}"
                if "failed" in rq
                else f"{rq['wall_s']:.1f}s wall, {rq['cpu_s']:.1f}s CPU (user + sys) at a load"
                f" average of {rq['load_avg'][0]:.2f} (target < 60 s on 2 idle cores, issue 24)"
            )
        )
    if "startup" in only:
        fig["startup"] = st = section_startup()
        ok = ok and st["within_targets"]
    if "sweep" in only:
        fig["sweep"] = sw = sweep_preset(device, args.sweep, args.data_dir, args.keep, args.log)
        ok = ok and "failed" not in sw
        say(
            f"\n7. hotbench run {sw['preset']} from an empty workspace: "
            + (f"FAILED: {sw['failed']}" if "failed" in sw else f"{sw['wall_s']:.1f}s")
            + f" ({sw['models']} models, {sw['attack_units']} attack units on"
            f" {sw['n_samples']} samples; training {sw['train_s']:.1f}s, attacks by method"
            f" {sw['attack_s']}; report {sw['report_s']:.1f}s)"
        )
    fig["machine"]["load_avg_end"] = os.getloadavg()
    say(f"\nload avg at the end: {fig['machine']['load_avg_end'][0]:.2f}")
    if args.json:
        json.dump(fig, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    return 0 if ok else 1


def section_train(
    device: torch.device, q: bool, reps: int, gpu: bool
) -> tuple[float, dict[str, Any]]:
    say("\n1. training throughput against the fp32 matmul reference (timed in turns with it)")
    out: dict[str, Any] = {}
    for ds, batch, steps in (
        ("mnist", 128, 3 if q else 10),
        ("cifar10", 32 if q else 128, 1 if q else 3),
    ):
        if gpu:
            batch, steps = 512, 20
        arch_name = DATASETS.get(ds).default_arch
        other = (
            torch.contiguous_format if ARCHS.get(arch_name).channels_last else torch.channels_last
        )
        for fmt in (
            None,
            other,
        ):  # hotbench's layout for the arch first, then the other one for comparison
            r = train_throughput(ds, device, batch, steps, reps, memory_format=fmt)
            key = f"{arch_name} {r['memory_format']}" + ("" if fmt is None else " (not used)")
            out[key] = r
            say(
                f"   train {key:<34} batch {batch:>4}: {r['images_per_s']:8.0f} images/s, "
                f"{r['gflops']:6.1f} GFLOP/s = {100 * r['fraction_of_matmul']:5.1f}% of matmul "
                f"({r['matmul_gflops']:.0f} GFLOP/s)"
                + (" (target >= 40%)" if fmt is None and ds == "mnist" else "")
            )
    ref = statistics.median(r["matmul_gflops"] for r in out.values())
    say(f"   fp32 matmul reference: {ref:.1f} GFLOP/s (median over the turns above)")
    return ref, out


def section_pgd(device: torch.device, q: bool, reps: int, gpu: bool) -> list[dict[str, Any]]:
    """At the batch PGD ran at before (1,024 on a GPU) and at the batch the GPU presets use."""
    shapes = [(1024, 40), (10000, 40)] if gpu else [(256, 5 if q else 20)]
    say("\n2. PGD: hotbench's attack_batch against torchattacks.PGD, same model and data")
    out = []
    for batch, steps in shapes:
        r = pgd_overhead(device, batch, steps, reps)
        say(
            f"   mnist-cnn, batch {batch}, {steps} steps: torchattacks"
            f" {r['torchattacks_img_steps_per_s']:.0f} image-steps/s, hotbench"
            f" {r['hotbench_img_steps_per_s']:.0f}: overhead {r['overhead_pct']:+.1f}% (target"
            f" < 10%); {r['overhead_cold_starts_pct']:+.1f}% when the random starts are drawn"
            f" anew; {r['hotbench_gflops']:.0f} GFLOP/s"
        )
        out.append(r)
    return out


def section_judge(device: torch.device, q: bool, reps: int, gpu: bool) -> dict[str, Any]:
    r = judge_one_at_a_time(device, 2000 if gpu else (50 if q else 200), reps)
    say(
        f"\n6. judging {r['n']} minimum-norm points one at a time: eager {r['eager_s']:.2f}s,"
        f" one_at_a_time {r['one_at_a_time_s']:.2f}s"
        f" ({'CUDA graph' if r['graph_used'] else 'eager'}); classes"
        f" {'identical' if r['identical'] else 'DIFFERENT'}"
    )
    return r


def section_suite(device: torch.device, q: bool) -> dict[str, Any]:
    r = suite_eval(device, 1 if q else 3, 40 if q else 397, 0.3, 5 if q else 20)
    say(
        f"\n3. suite '{r['suite']}' at eps {r['eps']} on {r['model']} ({r['n_samples']} samples,"
        f" clean {r['clean_acc']:.3f}): naive {r['naive_s']:.1f}s, exact {r['exact_s']:.1f}s"
        f" ({r['speedup_exact']:.1f}x), skip mode {r['skip_s']:.1f}s ({r['speedup_skip']:.1f}x)"
    )
    for p in r["per_attack"]:
        say(
            f"   {p['attack']:<16} adv acc naive {p['naive_adv_acc']:.4f} exact"
            f" {p['exact_adv_acc']:.4f} {'identical' if p['identical'] else 'DIFFERENT'}"
        )
    for w in r["worst_case"]:
        say(
            f"   worst case over {', '.join(w['attacks'])}: naive {w['naive']:.4f} skip"
            f" {w['skip']:.4f} {'identical' if w['identical'] else 'DIFFERENT'}"
        )
    return r


def _wall(args: list[str], env: dict[str, str], repeats: int = 3) -> float:
    """Median wall time of a `hotbench` subprocess (what a user waits for, interpreter start
    included)."""
    exe = str(Path(sys.executable).with_name("hotbench"))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([exe, *args], env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def section_startup() -> dict[str, Any]:
    """How fast hotbench answers what needs no computing: help, a bad option, and `report` on a
    stored workspace whose diagnostic measurements were stored by `attack` (and, for comparison,
    the same report once they are deleted and must be measured again, torch's import included).
    Targets from issue 15: help and errors < 0.5 s, report < 2 s."""
    say("\n5. startup: hotbench --help, a bad option, report on a stored workspace (median of 3)")
    ws = Path(tempfile.mkdtemp(prefix="hotbench-bench-startup-"))
    env = {**os.environ, "HOTBENCH_HOME": str(ws)}
    exe = str(Path(sys.executable).with_name("hotbench"))
    try:
        for args in (
            ["train", "--act", "tanh", "--temp", "50", "--epochs", "5", "-q"],
            ["train", "--act", "none", "--temp", "1", "--epochs", "5", "-q"],
            ["attack", "--method", "fgsm", "--method", "pgd", "--on", "both", "--eval-temp", "1"]
            + ["--n-samples", "100", "--steps", "10", "-q"],
        ):
            subprocess.run([exe, *args], env=env, capture_output=True, check=True)
        out = {
            "help_s": _wall(["--help"], env),
            "bad_option_s": _wall(["attack", "--method", "nope"], env),
            "report_s": _wall(["report"], env),
        }
        for m in ws.glob("runs/*/diagnosis/measurements.json"):
            m.unlink()
        out["report_unmeasured_s"] = _wall(["report"], env, repeats=1)
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    out["within_targets"] = (
        out["help_s"] < 0.5 and out["bad_option_s"] < 0.5 and out["report_s"] < 2.0
    )
    say(
        f"   --help {out['help_s']:.2f}s, bad option {out['bad_option_s']:.2f}s (targets < 0.5s);"
        f" report {out['report_s']:.2f}s (target < 2s; {out['report_unmeasured_s']:.2f}s when"
        " the measurements are not stored)"
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
