"""`make bench` must keep running: its smoke mode, end to end, with the JSON it promises on stdout.

Slow (about a minute on 2 cores) and timing-free: it checks that every figure is there and that the
fast paths' numbers equal the naive loop's, never how fast anything was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_quick_smoke_prints_every_figure_as_json():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--quick",
            "--device",
            "cpu",
            "--json",
            "--only",
            "train,pgd,judge,suite",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    fig = json.loads(proc.stdout)  # nothing else on stdout
    assert fig["matmul_gflops"] > 0
    train = fig["train"]
    assert {
        "mnist-cnn channels_last",
        "mnist-cnn contiguous (not used)",
        "cifar-vgg channels_last",
        "cifar-vgg contiguous (not used)",
    } == set(train)
    for r in train.values():
        assert r["images_per_s"] > 0 and r["matmul_gflops"] > 0 and 0 < r["fraction_of_matmul"]
    # The FLOP count is the model's, not the layout's.
    assert (
        train["mnist-cnn channels_last"]["flops_per_image"]
        == train["mnist-cnn contiguous (not used)"]["flops_per_image"]
    )
    (pgd,) = fig["pgd"]  # one batch size on a CPU
    assert pgd["hotbench_img_steps_per_s"] > 0 and pgd["torchattacks_img_steps_per_s"] > 0
    assert pgd["flops_per_image_step"] > 0 and "overhead_cold_starts_pct" in pgd
    # the batch-1 judge gives the classes of the eager loop it replaces
    assert fig["judge"]["identical"] is True
    assert fig["suite"]["all_identical"] is True
    assert all(p["identical"] for p in fig["suite"]["per_attack"])
    assert "run_quick" not in fig
    assert "1. training throughput" in proc.stderr and "worst case over" in proc.stderr


def test_bench_rejects_unknown_section():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--only", "trian"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        proc.returncode == 2
        and "--only takes sections of: train, pgd, judge, suite, preset" in proc.stderr
    )
