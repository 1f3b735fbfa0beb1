"""How to install what is missing, said the way that works where hotbench runs.

In a checkout (an editable install, next to the Makefile) the fix is `make setup`, which sets up
.venv as the README says. Installed from a wheel or `pip install .`, there is no Makefile: the
missing piece is torchattacks, which pip does not bring with hotbench because it is installed
apart, with --no-deps (its metadata pins requests~=2.25.1, a release with a known security hole,
and torchvision, neither of which its code imports; README, "Install"). A leaf: imports nothing
from hotbench."""

from __future__ import annotations

from pathlib import Path

TORCHATTACKS = "torchattacks==3.5.1"
PIP_TORCHATTACKS = f"pip install --no-deps {TORCHATTACKS}"


def checkout() -> Path | None:
    """The source checkout this hotbench runs from (it has the Makefile), or None when hotbench
    is an installed package."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if (root / "Makefile").is_file() and pyproject.is_file():
        try:
            if 'name = "hotbench"' in pyproject.read_text(encoding="utf-8"):
                return root
        except (OSError, UnicodeDecodeError):
            return None
    return None


def torchattacks_fix() -> str:
    """The fix for a missing torchattacks: `make setup` in a checkout, the pip command outside."""
    if checkout() is not None:
        return f"run `make setup` (it installs {TORCHATTACKS} with --no-deps)"
    return (
        f"run `{PIP_TORCHATTACKS}` (installed apart, without its dependencies: README, 'Install')"
    )


def setup_fix(package: str) -> str:
    """The fix for another missing package: `make setup`, or pip installing hotbench again."""
    if checkout() is not None:
        return "run `make setup`"
    return f"run `pip install {package}` (or reinstall hotbench)"
