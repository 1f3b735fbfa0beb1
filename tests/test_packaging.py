"""The package a person installs: a wheel built from this tree carries its presets (package data),
and installed into a fresh virtual environment outside the repository it runs a preset by name from
another directory. An editable install hides a missing data file (the checkout is next to the code),
so only a real wheel proves it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from hotbench.sweep.preset_files import PRESET_DIR

REPO = Path(__file__).resolve().parents[1]


def build_wheel(tmp_path: Path) -> Path:
    """`pip wheel` of a clean copy of the sources (no build/ or egg-info left in the checkout),
    offline: no build isolation, the setuptools already installed with torch builds it."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (src / name).write_bytes((REPO / name).read_bytes())
    subprocess.run(
        ["cp", "-r", str(REPO / "hotbench"), str(src / "hotbench")], check=True, timeout=60
    )
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("hotbench-*.whl")
    return wheel


def test_wheel_contains_the_presets_and_the_schema(tmp_path):
    shipped = {f"hotbench/presets/{p.name}" for p in PRESET_DIR.glob("*.yaml")}
    assert {"hotbench/presets/quick.yaml", "hotbench/presets/ci-smoke.yaml"} <= shipped
    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    assert shipped <= names
    assert "hotbench/schemas/results.schema.json" in names


@pytest.mark.slow
def test_installed_wheel_runs_a_preset_from_another_directory(tmp_path):
    """Fresh venv outside the repository; hotbench from the wheel, its dependencies (torch, ...)
    borrowed from this environment through a .pth line: offline and quick to set up."""
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # appended after the venv's own site-packages: the wheel's hotbench wins over the editable one
    # (whose .pth finder is not processed from a plain path line)
    Path(site, "_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HOTBENCH_HOME")}
    where = subprocess.run(
        [py, "-c", "import hotbench; print(hotbench.__file__)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(site), where  # not the checkout
    hotbench = venv / "bin" / "hotbench"
    listed = subprocess.run(
        [hotbench, "presets"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0 and "ci-smoke" in listed.stdout, listed.stderr
    done = subprocess.run(
        [hotbench, "run", "ci-smoke", "--device", "cpu", "--quiet", "--format", "json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (elsewhere / "hotbench-runs").is_dir()  # the default workspace, in the current directory
    assert '"adv_acc"' in done.stdout
