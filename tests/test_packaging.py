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


def _borrowed_site(tmp_path: Path) -> Path:
    """This environment's packages as a folder of links, without torchattacks (and the partial
    robustbench its wheel brings): what `pip install` of hotbench's wheel gives, since torchattacks
    is installed apart, with --no-deps (README, "Install")."""
    site = Path(sysconfig.get_paths()["purelib"])
    borrowed = tmp_path / "borrowed"
    borrowed.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("torchattacks", "robustbench", "hotbench", "__editable__")):
            continue
        (borrowed / entry.name).symlink_to(entry)
    return borrowed


@pytest.mark.slow
def test_installed_wheel_runs_a_preset_from_another_directory(tmp_path):
    """The README's pip path in a fresh venv outside the repository: the wheel, then
    `pip install --no-deps torchattacks==3.5.1`; before that, doctor and every missing-torchattacks
    message give that command (not `make setup`, which means nothing outside a checkout). The
    wheel's other dependencies (torch, ...) are borrowed from this environment through a .pth line:
    quick to set up. torchattacks comes from the package registry, as a user's does."""
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
    # after the venv's own site-packages: what is installed into the venv wins
    Path(site, "_borrowed_deps.pth").write_text(f"{_borrowed_site(tmp_path)}\n")
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q"]
    subprocess.run([*pip, wheel], check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HOTBENCH_HOME")}

    def hotbench(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [venv / "bin" / "hotbench", *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    where = subprocess.run(
        [py, "-c", "import hotbench; print(hotbench.__file__)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(site), where  # not the checkout
    listed = hotbench("presets")
    assert listed.returncode == 0 and "ci-smoke" in listed.stdout, listed.stderr
    # without torchattacks: doctor says what to run here
    doctor = hotbench("doctor")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "pip install --no-deps torchattacks==3.5.1" in doctor.stdout
    assert "make setup" not in doctor.stdout
    subprocess.run([*pip, "torchattacks==3.5.1"], check=True, capture_output=True, timeout=600)
    assert hotbench("doctor").returncode == 0
    done = hotbench("run", "quick", "--device", "cpu", "--quiet", "--format", "json", timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (elsewhere / "hotbench-runs").is_dir()  # the default workspace, in the current directory
    assert '"adv_acc"' in done.stdout
