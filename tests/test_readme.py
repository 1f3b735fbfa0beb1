"""README's front page says what docs/reproduction.md measured, the pip path uses the command every
message gives, and LICENSE and CITATION.cff agree with pyproject.toml (issue 26)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import hotbench
from hotbench import stats
from hotbench.install import PIP_TORCHATTACKS

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
PYPROJECT = (REPO / "pyproject.toml").read_text(encoding="utf-8")

# README row -> (defense, act, train T) of the reproduction's MNIST table, all at eval T = 1
MODELS = {
    "softmax (no output activation)": ("none", "none", "1"),
    "tanh, trained at T = 1": ("temperature", "tanh", "1"),
    "tanh, trained at T = 10": ("temperature", "tanh", "10"),
    "tanh, trained at T = 50": ("temperature", "tanh", "50"),
    "tanh, trained at T = 100": ("temperature", "tanh", "100"),
    "sigmoid, trained at T = 100": ("temperature", "sigmoid", "100"),
    "PGD-AT control (Madry et al., ε=0.1)": ("pgd-at", "none", "1"),
}


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    """The first Markdown table of `text`: header and body rows."""
    lines = text[text.index("\n| ") + 1 :].split("\n\n")[0].splitlines()
    split = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    return split[0], split[2:]


def _mnist() -> dict[tuple[str, str, str], dict[str, str]]:
    doc = (REPO / "docs" / "reproduction.md").read_text(encoding="utf-8")
    head, rows = _table(doc[doc.index("## MNIST") : doc.index("## Fashion-MNIST")])
    out = {}
    for row in rows:
        d = dict(zip(head, row, strict=True))
        if d["eval T"] == "1":
            out[(d["defense"], d["act"].rstrip(" *"), d["train T"])] = d
    return out


def _value_and_n(cell: str, n: int) -> tuple[float, int]:
    """An accuracy cell of either form (`0.733 ±0.028`, `0.733 [.70,.76]`, `... n=200`)."""
    value = float(re.match(r"\d\.\d{3}", cell).group(0))
    m = re.search(r"n=(\d+)", cell)
    return value, int(m.group(1)) if m else n


def _shown(value: float, n: int, with_n: bool) -> str:
    text = stats.fmt_acc(value, stats.interval(round(value * n), n))
    return text + (f" n={n}" if with_n else "")


def test_the_headline_table_is_the_reproductions_numbers_with_intervals():
    section = README[README.index("## Results") : README.index("## What the report looks like")]
    head, rows = _table(section)
    assert [r[0] for r in rows] == list(MODELS)
    mnist = _mnist()
    for row in rows:
        d = mnist[MODELS[row[0]]]
        n = int(d["n"])
        for col, source in (
            ("clean", "clean"),
            ("PGD ε=0.3 (the paper's attack)", "pgd ε=0.3"),
            ("worst case ε=0.3", "robust ε=0.3"),
        ):
            value, size = _value_and_n(d[source], n)
            assert row[head.index(col)] == _shown(value, size, size != n), (row[0], col)


def test_the_pip_path_gives_the_command_every_message_gives():
    section = README[README.index("## Install") : README.index("## Cite")]
    commands = [line.split("#")[0].strip() for line in section.splitlines()]
    assert "pip install ." in commands and PIP_TORCHATTACKS in commands


def test_license_and_citation_agree_with_pyproject():
    assert 'license = { text = "MIT" }' in PYPROJECT
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT"
    assert cff["version"] == hotbench.__version__
    assert f'\nversion = "{hotbench.__version__}"\n' in PYPROJECT
    assert cff["authors"] and cff["title"].startswith("hotbench")
    [paper] = cff["references"]
    assert "arXiv:2202.07342" in str(paper["identifiers"])
    assert "## Cite" in README and "CITATION.cff" in README and "2202.07342" in README


def test_the_randomized_defenses_section_states_the_defaults_it_runs_with():
    """Issue 25: README has a "Randomized defenses" section, and the K and M it names are
    hotbench's defaults (hotbench.draws), with the zoo module its example trains."""
    from hotbench.draws import DEFAULT_DRAWS, DEFAULT_EOT

    start = README.index("\n## Randomized defenses\n")
    section = README[start : README.index("\n## ", start + 1)]
    text = " ".join(section.split())
    assert f"`--eot K` separate forward passes (default {DEFAULT_EOT};" in text
    assert f"`--draws M` draws (default {DEFAULT_DRAWS})" in text
    module = re.search(r"--arch (examples\.zoo\.\w+):build", section)
    assert module and (REPO / (module.group(1).replace(".", "/") + ".py")).is_file()
