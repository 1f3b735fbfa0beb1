"""The Python API: `import hotbench` is cheap, and the example of docs/python-api.md runs as
written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import hotbench

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_cheap_and_lists_the_api():
    code = "import sys, hotbench; print([m for m in ('torch', 'hotbench.api') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in ("train", "attack", "run", "diagnose", "report", "load_results"):
        assert name in hotbench.__all__ and callable(getattr(hotbench, name))
        assert getattr(hotbench, name).__doc__


def test_docs_example_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "docs" / "python-api.md").read_text()
    example = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "docs/python-api.md", "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out
    ws = tmp_path / "hotbench-api-demo"
    # the two models, the undefended reference and the transfer surrogate diagnose trained
    assert len(list((ws / "runs").glob("[!.]*"))) == 4  # run folders; locks are in .locks
    verdicts = re.findall(
        r"^digits-tanh-T([\d.]+)-\w+ (robust|not robust|incomplete) masking (\w+(?: \w+)?) ",
        out,
        re.M,
    )
    assert {t: (r, m) for t, r, m in verdicts}["50"] == ("not robust", "detected")
    assert "| dataset | defense | act |" in out and "results," in out
