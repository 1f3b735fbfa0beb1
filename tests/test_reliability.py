"""Hostile inputs and faults (issue 17): each case gets one line on stderr naming the problem (and
the path), exit code 2, no traceback, and nothing partial left that a later run would trust.

Faults are real where the machine allows it: a read-only bind mount (root) or chmod (others) for a
read-only workspace, a small tmpfs (root) for a full disk, and always a fake full disk (os.write
raising ENOSPC) that runs everywhere. docs/reliability.md lists the cases and how to re-run them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hotbench.checked_files import _json_checksum, read_json_checked
from hotbench.cli import app
from hotbench.config import AttackConfig
from hotbench.reports.records import SCHEMA_VERSION

from .conftest import NONE1, TANH50

runner = CliRunner()
ATTACK_FAST = ["--steps", "2", "--n-samples", "20", "--device", "cpu", "-q"]


def one_line_error(result, *needles: str) -> str:
    """The error line of a handled failure (exit 2, one line, no traceback) containing `needles`."""
    err = result.stderr.strip()
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [ln for ln in err.splitlines() if not ln.startswith("warning: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def run_dirs(ws: Path) -> list[Path]:
    """Run folders a failed command left behind (the run locks live in runs/.locks, hidden)."""
    runs = ws / "runs"
    return [d for d in runs.iterdir() if not d.name.startswith(".")] if runs.is_dir() else []


def resign(path: Path, mutate) -> None:
    """Edit a stored JSON and give it a valid checksum again: what a careless script would do."""
    doc = json.loads(path.read_text())
    mutate(doc)
    doc["checksum"] = _json_checksum(doc)
    path.write_text(json.dumps(doc))


def attack(ws: Path, *extra: str):
    return runner.invoke(app, ["attack", "-w", str(ws), *ATTACK_FAST, *extra])


# ---- read-only storage ---------------------------------------------------------------------------
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make `path` read-only for real: a read-only bind mount as root (root ignores permission
    bits), chmod otherwise."""
    if IS_ROOT:
        try:
            subprocess.run(
                ["mount", "--bind", str(path), str(path)], check=True, capture_output=True
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"cannot bind-mount here (a container without CAP_SYS_ADMIN?): {exc}")
        try:
            subprocess.run(
                ["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True
            )
            yield
        finally:
            subprocess.run(["umount", str(path)], check=True, capture_output=True)
        return
    modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if p.is_dir()}
    for p in modes:
        p.chmod(stat.S_IMODE(modes[p]) & ~0o222)
    try:
        yield
    finally:
        for p, m in modes.items():
            p.chmod(stat.S_IMODE(m))


def test_read_only_workspace_attack_and_diagnose_fail_in_one_line_report_and_ls_work(
    trained_ws,
) -> None:
    root = trained_ws.root
    assert attack(root, "--run", TANH50.run_id).exit_code == 0  # one stored result to report
    with read_only(root):
        one_line_error(
            attack(root, "--run", TANH50.run_id, "--eps", "0.1"),
            "cannot write",
            ".lock",
            "Read-only file system" if IS_ROOT else "Permission denied",
            "writable workspace",
        )
        result = runner.invoke(
            app, ["diagnose", "-w", str(root), "--run", TANH50.run_id, "--device", "cpu", "-q"]
        )
        one_line_error(result, "cannot write", str(root))
        assert attack(root, "--run", TANH50.run_id).exit_code == 0  # stored: read, not written
        assert runner.invoke(app, ["report", "-w", str(root)]).exit_code == 0
        assert runner.invoke(app, ["ls", "-w", str(root)]).exit_code == 0


# ---- a full disk ---------------------------------------------------------------------------------
@pytest.fixture
def disk_full(monkeypatch):
    """Every byte hotbench writes goes through os.write (hotbench.files): make the disk full."""

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)


def test_disk_full_during_train_is_one_line_and_leaves_nothing_trusted(tmp_path, disk_full):
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["train", "--epochs", "1", "--device", "cpu", "-q", "-w", str(ws)])
    one_line_error(result, "cannot write", "model.safetensors", "No space left on device")
    assert not list(ws.rglob("run.json")) and temp_files(ws) == []
    assert run_dirs(ws) == [], "a failed training left an empty run folder"
    # what is left (runs/.locks) is not a trained model: report says so, in one line
    one_line_error(runner.invoke(app, ["report", "-w", str(ws)]), "has no trained models")


def test_disk_full_during_attack_is_one_line_and_leaves_nothing_trusted(trained_ws, disk_full):
    result = attack(trained_ws.root, "--run", TANH50.run_id)
    one_line_error(result, "cannot write", "attacks", "No space left on device")
    assert trained_ws.load_results(TANH50.run_id) == [] and temp_files(trained_ws.root) == []


def test_disk_full_during_report_output(trained_ws, tmp_path, monkeypatch):
    assert attack(trained_ws.root, "--run", TANH50.run_id).exit_code == 0

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    out = tmp_path / "out" / "r.json"
    result = runner.invoke(
        app, ["report", "-w", str(trained_ws.root), "-f", "json", "-o", str(out)]
    )
    one_line_error(result, f"cannot write '{out}'", "No space left on device", "free some space")
    assert not out.exists() and temp_files(tmp_path / "out") == []


@pytest.mark.skipif(not IS_ROOT, reason="mounting a tmpfs needs root")
def test_real_full_tmpfs_during_train(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        os.truncate(filler, filler.stat().st_size - 16384)  # less than one set of weights
        ws = mnt / "ws"
        result = runner.invoke(
            app, ["train", "--epochs", "1", "--device", "cpu", "-q", "-w", str(ws)]
        )
        one_line_error(result, "cannot write", str(ws), "No space left on device")
        assert not list(ws.rglob("run.json")) and temp_files(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True, capture_output=True)


# ---- outputs: -o and --plot (issue 15 "Outputs", issue 17 item 6) --------------------------------
@pytest.fixture
def reported_ws(trained_ws):
    assert attack(trained_ws.root, "--run", TANH50.run_id).exit_code == 0
    return trained_ws


def report(ws, *args: str):
    return runner.invoke(app, ["report", "-w", str(ws.root), *args])


def test_output_dash_is_stdout(reported_ws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = report(reported_ws, "-f", "json", "-o", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"]
    assert not (tmp_path / "-").exists()


def test_report_and_baseline_never_share_stdout(reported_ws, tmp_path):
    """`--save-baseline -` with the report also on stdout would interleave two documents on one
    stream (a JSON reader sees neither): refused before any work; with the report in a file the
    baseline alone is stdout."""
    for args in (["--save-baseline", "-"], ["-o", "-", "--save-baseline", "-"]):
        one_line_error(report(reported_ws, "-f", "json", *args), "both go to stdout", "-o FILE")
    result = report(reported_ws, "-o", str(tmp_path / "r.txt"), "--save-baseline", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["schema_version"] == SCHEMA_VERSION
    assert (tmp_path / "r.txt").read_text()


def test_output_to_a_directory_is_refused(reported_ws, tmp_path):
    one_line_error(report(reported_ws, "-o", str(tmp_path)), "is a directory", "pass a file path")
    assert tmp_path.is_dir()


def test_output_under_a_file_is_refused(reported_ws, tmp_path):
    f = tmp_path / "plain"
    f.write_text("x")
    one_line_error(report(reported_ws, "-o", str(f / "x.json")), "cannot write", "Not a directory")
    assert f.read_text() == "x"


def test_output_to_a_fifo_is_refused(reported_ws, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_line_error(report(reported_ws, "-o", str(fifo)), "is a FIFO, not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.skipif(not IS_ROOT, reason="mknod needs root (the case: -o /dev/null run as root)")
def test_output_to_a_device_as_root_keeps_the_device(reported_ws, tmp_path):
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null
    link = tmp_path / "null-link"
    link.symlink_to(null)
    for target in (null, link):
        one_line_error(report(reported_ws, "-o", str(target)), "is a device, not a regular file")
        assert stat.S_ISCHR(null.stat().st_mode)


def test_output_through_a_symlink_writes_the_target_and_keeps_the_link(reported_ws, tmp_path):
    target = tmp_path / "real" / "report.md"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    assert report(reported_ws, "-f", "markdown", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("|") or "ε" in target.read_text()
    dangling = tmp_path / "dangling.md"
    dangling.symlink_to(tmp_path / "new.md")
    assert report(reported_ws, "-f", "markdown", "-o", str(dangling)).exit_code == 0
    assert dangling.is_symlink() and (tmp_path / "new.md").is_file()


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_created_files_respect_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        ws = tmp_path / "ws"
        assert (
            runner.invoke(
                app, ["train", "--epochs", "1", "--device", "cpu", "-q", "-w", str(ws)]
            ).exit_code
            == 0
        )
        assert attack(ws).exit_code == 0
        out, png = tmp_path / "r.json", tmp_path / "p.png"
        result = runner.invoke(
            app, ["report", "-w", str(ws), "-f", "json", "-o", str(out), "--plot", str(png)]
        )
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
    files = [out, png, *ws.rglob("run.json"), *ws.rglob("*.safetensors"), *ws.rglob("attacks/*")]
    assert len(files) >= 5
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {
        f.name: oct(mode) for f in files
    }


def test_replacing_an_output_keeps_its_mode(reported_ws, tmp_path):
    out = tmp_path / "r.txt"
    out.write_text("old")
    out.chmod(0o640)
    assert report(reported_ws, "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() != "old"


def test_outputs_on_read_only_storage_are_one_line(reported_ws, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        one_line_error(report(reported_ws, "-o", str(ro / "r.txt")), "cannot write", str(ro))
        one_line_error(report(reported_ws, "--plot", str(ro / "p.png")), "cannot write", str(ro))
    assert list(ro.iterdir()) == []


# ---- seeds, alias bombs, method parameters -------------------------------------------------------
BIG = str(2**64)


@pytest.mark.parametrize(
    "args, bound",
    [
        (["train", "--seed", BIG, "--epochs", "1"], "less than or equal to 4294967295"),
        (["train", "--seed", "-1", "--epochs", "1"], "greater than or equal to 0"),
        (["attack", "--seed", BIG], "less than or equal to 4294967295"),
    ],
    ids=["train-2**64", "train-negative", "attack-2**64"],
)
def test_seed_out_of_range_is_one_line_and_creates_nothing(args, bound, tmp_path, trained_ws):
    ws = trained_ws.root if args[0] == "attack" else tmp_path / "fresh"
    before = sorted(p.relative_to(ws) for p in ws.rglob("*")) if ws.exists() else None
    result = runner.invoke(app, [*args, "-w", str(ws), "--device", "cpu", "-q"])
    one_line_error(result, "'seed'", bound)
    after = sorted(p.relative_to(ws) for p in ws.rglob("*")) if ws.exists() else None
    assert after == before


PRESET = """\
train:
  datasets: [digits]
  acts: [tanh]
  temps: [1]
  epochs: {epochs}
  seed: {seed}
attack:
  n_samples: 20
  attacks:
    - method: {method}
      params: {params}
"""


def run_preset(tmp_path: Path, text: str):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    ws = tmp_path / "ws-preset"
    return runner.invoke(app, ["run", str(p), "-w", str(ws), "--device", "cpu", "-q"]), ws


def test_preset_seed_out_of_range(tmp_path):
    text = PRESET.format(epochs=1, seed=2**64, method="fgsm", params="{}")
    result, ws = run_preset(tmp_path, text)
    one_line_error(result, "p.yaml", "train.seed", "less than or equal to 4294967295")
    assert not ws.exists()


def alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines)


def test_yaml_alias_bomb_is_bounded_and_its_message_short(tmp_path):
    text = "bomb:\n" + "\n".join("  " + ln for ln in alias_bomb(9).splitlines()) + "\n"
    text += PRESET.format(epochs="*a9", seed=0, method="fgsm", params="{}")
    assert len(text.encode()) < 2000
    result, _ = run_preset(tmp_path, text)
    line = one_line_error(result, "p.yaml", "too large", "expands to more than")
    assert len(line) < 300


def test_wrongly_typed_large_value_is_quoted_short(tmp_path):
    """A value of the wrong type that is far too large to print (a 3,000-number list where epochs
    wants one integer; well under the size and alias bounds) is named by its key and quoted as a
    bounded excerpt. (This test used to build an indented alias block that made the YAML itself
    invalid, so it passed on the syntax error without ever reaching the type check.)"""
    big = "[" + ", ".join(str(i) for i in range(3000)) + "]"
    text = PRESET.format(epochs=big, seed=0, method="fgsm", params="{}")
    result, ws = run_preset(tmp_path, text)
    line = one_line_error(result, "p.yaml", "train.epochs", "[0, 1, 2", "...")
    assert len(line) < 400 and "2999" not in line
    assert not ws.exists()


@pytest.mark.parametrize(
    "method, param, problem",
    [
        ("cw", "c=abc", "must be a number"),
        ("cw", "lr=-1", "must be > 0"),
        ("cw", "c=.nan", "must be a finite number"),
        ("cw", "kappa=-1", "must be >= 0"),
        ("square", "n_queries=-5", "must be >= 1"),
        ("square", "n_queries=2.5", "must be an integer"),
        ("square", "p_init=1.5", "must be <= 1"),
        ("apgd", "loss=hinge", "must be one of: ce, dlr"),
        ("apgd", "rho=true", "must be a number"),
        ("pgd", "random_start=maybe", "must be true or false"),
        ("transfer", "surrogate_temp=0", "must be > 0"),
        ("transfer", "surrogate_act=tahn", "must be one of"),
    ],
)
def test_method_parameters_are_typed_and_ranged_in_the_cli(trained_ws, method, param, problem):
    before = sorted(trained_ws.root.rglob("*"))
    result = attack(trained_ws.root, "--method", method, "--param", param)
    one_line_error(result, f"'{param.split('=')[0]}'", f"'{method}'", problem)
    assert sorted(trained_ws.root.rglob("*")) == before


def test_an_exponent_float_is_a_number_on_the_command_line_and_in_presets(trained_ws, tmp_path):
    """`--param push=1e-4` (deepfool's default, as the help writes it) and `c: 1e-2` in a preset are
    numbers: YAML 1.1 read them as strings and the check said "must be a number"."""
    result = attack(trained_ws.root, "--method", "deepfool", "--param", "push=1e-4")
    assert result.exit_code == 0, result.output
    text = PRESET.format(epochs=1, seed=0, method="cw", params="{c: 1e-2}")
    result, _ = run_preset(tmp_path, text)
    assert result.exit_code == 0, result.output


def test_a_bad_parameter_value_names_a_valid_one_in_its_fix(trained_ws):
    result = attack(trained_ws.root, "--method", "deepfool", "--param", "push=-1")
    one_line_error(result, "'push'", "must be >= 0", "--param push=0.0001")


def test_user_text_in_an_error_is_echoed_as_typed_never_as_an_emoji(trained_ws, tmp_path):
    """rich turns ':b:' into an emoji: an arch 'a:b:c' was echoed as 'a\U0001f171c'."""
    result = runner.invoke(app, ["train", "--arch", "a:b:c", "-w", str(tmp_path / "ws"), "-q"])
    one_line_error(result, "arch 'a:b:c' is not MODULE:CALLABLE")
    result = attack(trained_ws.root, "--method", "cw", "--param", "x:smile:y=1")
    assert (
        result.exit_code == 2 and "x:smile:y" in result.output and "\U0001f604" not in result.output
    )


def test_method_parameters_are_typed_and_ranged_in_presets(tmp_path):
    text = PRESET.format(epochs=1, seed=0, method="cw", params="{c: .nan}")
    result, ws = run_preset(tmp_path, text)
    one_line_error(result, "p.yaml", "attack.attacks[0]", "'c'", "finite")
    assert not ws.exists()


def test_every_parameter_of_every_attack_has_a_rule():
    from hotbench.attacks.spec import ATTACKS, check_params

    for name, spec in ATTACKS.items():
        for key, default in spec.defaults.items():
            check_params(name, {key: default})  # the default is valid
            for bad in ([1], float("nan"), "not-a-value" if not isinstance(default, str) else 3):
                with pytest.raises(Exception, match=key):
                    check_params(name, {key: bad})


def test_an_option_the_attack_does_not_use_is_refused_not_ignored(trained_ws):
    """`--method fgsm --alpha 0.1` ignored --alpha without a word: FGSM steps eps once."""
    from hotbench.evaluate.suites import AttackRequest

    before = sorted(trained_ws.runs.rglob("*.json"))
    args = ["attack", "-w", str(trained_ws.root), "--n-samples", "10", "-q", "--method", "fgsm"]
    result = runner.invoke(app, [*args, "--alpha", "0.1"])
    assert result.exit_code == 2, result.output
    assert result.output == (
        "error: fgsm takes no step size (--alpha): it steps eps once. drop --alpha\n"
    )
    result = runner.invoke(app, [*args, "--steps", "10"])
    assert result.exit_code == 2 and "fgsm takes no iteration count (--steps)" in result.output
    assert sorted(trained_ws.runs.rglob("*.json")) == before  # nothing attacked
    # among several methods, it applies to those that take it
    assert AttackRequest(methods=["fgsm", "pgd"], steps=10, alpha=0.1).configs()


def test_every_attack_says_why_it_takes_no_step_option():
    """Each attack declares in its spec which of --steps and --alpha it uses; one that does not
    use one says how it steps instead (the reason in the refusal)."""
    import re

    from hotbench.attacks.spec import ATTACKS, check_options
    from hotbench.errors import HotbenchError

    for name, spec in ATTACKS.items():
        if spec.uses_steps and spec.uses_alpha:
            check_options([name], {"steps": 10, "alpha": 0.1})
            continue
        assert spec.schedule, name
        with pytest.raises(HotbenchError, match=re.escape(spec.schedule)):
            check_options([name], {"steps": 10, "alpha": 0.1})


# ---- diagnose, inconsistent results, messages ----------------------------------------------------
def test_diagnose_eps_without_probe_on_a_model_without_results(trained_ws):
    result = runner.invoke(
        app,
        [
            "diagnose",
            "-w",
            str(trained_ws.root),
            "--run",
            TANH50.run_id,
            "--eps",
            "0.3",
            "--no-probe",
            "--device",
            "cpu",
            "-q",
        ],
    )
    one_line_error(result, TANH50.run_id, "no attack result", "drop --no-probe")


def _two_results(ws) -> list[Path]:
    assert (
        attack(ws.root, "--run", TANH50.run_id, "--method", "fgsm", "--method", "pgd").exit_code
        == 0
    )
    return sorted((ws.run_dir(TANH50.run_id) / "attacks").glob("*.json"))


def test_result_with_inconsistent_lists_is_skipped_by_name_and_the_others_kept(trained_ws):
    bad, good = _two_results(trained_ws)
    resign(bad, lambda d: d["per_sample"]["adv_pred"].pop())
    result = runner.invoke(app, ["report", "-w", str(trained_ws.root), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert f"skipped result file '{bad}'" in result.stderr
    assert "different lengths" in result.stderr and f"delete '{bad}'" in result.stderr
    ids = {r["attack_id"] for r in json.loads(result.stdout)["records"]}
    assert ids == {good.stem}
    diag = runner.invoke(
        app, ["diagnose", "-w", str(trained_ws.root), "--run", TANH50.run_id, "--no-probe", "-q"]
    )
    assert diag.exit_code == 0, diag.output
    assert f"skipped result file '{bad}'" in diag.stderr


def test_result_with_unknown_method_names_the_file(trained_ws):
    bad, _ = _two_results(trained_ws)
    resign(bad, lambda d: d["config"].update(method="pgdx"))
    result = runner.invoke(app, ["report", "-w", str(trained_ws.root)])
    assert result.exit_code == 0
    assert (
        f"skipped result file '{bad}'" in result.stderr and "unknown attack 'pgdx'" in result.stderr
    )


def test_corrupt_result_fix_deletes_that_file_not_the_folder(trained_ws):
    bad, _ = _two_results(trained_ws)
    bad.write_text(bad.read_text()[:-40])
    result = attack(trained_ws.root, "--run", TANH50.run_id, "--method", "fgsm", "--method", "pgd")
    line = one_line_error(result, str(bad), "unreadable or truncated")
    assert f"delete '{bad}'" in line and f"delete '{bad.parent}'" not in line


def test_resigned_run_json_with_wrong_types_names_the_file(trained_ws):
    path = trained_ws.run_dir(TANH50.run_id) / "run.json"
    resign(path, lambda d: d["config"].update(temp="hot"))
    result = runner.invoke(app, ["ls", "-w", str(trained_ws.root)])
    one_line_error(result, str(path), "not a valid run record", "'temp'")


def test_pickle_refusal_names_the_call_and_never_advises_weights_only_false(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, path)
    result = runner.invoke(app, ["import-weights", str(path), "-w", str(tmp_path / "ws"), "-q"])
    line = one_line_error(result, "refused to load", "could run code")
    assert "system" in line, line
    assert "weights_only=False" not in line and "weights_only" not in line.replace(
        "weights_only=True", ""
    )


# ---- quieter gaps --------------------------------------------------------------------------------
def test_empty_hotbench_home_is_the_default_workspace_not_the_current_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOTBENCH_HOME", "")
    result = runner.invoke(app, ["train", "--epochs", "1", "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hotbench-runs" / "runs").is_dir() and not (tmp_path / "runs").exists()


def test_empty_workspace_path_is_refused_in_python():
    from hotbench.errors import HotbenchError
    from hotbench.store import Workspace

    with pytest.raises(HotbenchError, match="workspace path is empty"):
        Workspace("")


def test_weights_of_another_dtype_are_converted_with_a_word(tmp_path, trained_ws):
    from safetensors.torch import load_file, save_file

    state = load_file(str(trained_ws.run_dir(TANH50.run_id) / "model.safetensors"))
    path = tmp_path / "w64.safetensors"
    save_file({k: v.double() for k, v in state.items()}, str(path))
    ws = tmp_path / "ws"
    result = runner.invoke(
        app, ["import-weights", str(path), "--temp", "50", "-w", str(ws), "--device", "cpu", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "float64" in result.stderr and "float32" in result.stderr
    run_id = result.stdout.strip()
    doc = read_json_checked(ws / "runs" / run_id / "run.json")
    assert doc["provenance"]["imported"]["dtype"] == "float64"


def test_nan_weights_are_never_attacked(trained_ws):
    from hotbench.store import Workspace

    ws = Workspace(trained_ws.root)
    record = ws.load_record(NONE1.run_id)
    model = ws.load_model(record)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    ws.save_run(record.config, model, record.doc["metrics"], record.doc["provenance"])
    result = attack(trained_ws.root, "--run", NONE1.run_id)
    one_line_error(result, "NaN or infinite", "model.safetensors")
    assert ws.load_results(NONE1.run_id) == []


def test_training_that_diverges_stores_nothing(tmp_path):
    ws = tmp_path / "ws"
    result = runner.invoke(
        app, ["train", "--epochs", "2", "--lr", "1e30", "--device", "cpu", "-q", "-w", str(ws)]
    )
    one_line_error(result, "diverged", "--lr")
    assert not list(ws.rglob("run.json"))
    assert run_dirs(ws) == [], "a failed training left an empty run folder"


def test_attack_config_checks_params_from_python_too():
    with pytest.raises(Exception, match="'c'"):
        AttackConfig(method="cw", params={"c": float("nan")})


# ---- issue 29: numbers the data or float32 cannot hold --------------------------------------
def test_n_train_beyond_the_training_set_is_refused_not_ignored(tmp_path):
    ws = tmp_path / "ws"
    result = runner.invoke(
        app, ["train", "--n-train", "99999999999999999999", "--epochs", "1", "-q", "-w", str(ws)]
    )
    one_line_error(result, "n-train 99999999999999999999", "training set (1400)", "--n-train 1400")
    assert not list(ws.rglob("run.json"))


@pytest.mark.parametrize("temp", ["1e-320", "1e39"])
def test_temperature_float32_cannot_hold_is_a_temperature_error(tmp_path, temp):
    """1e-320 read as divergence advice ('lower --lr') after a training; 1e39 trained a model that
    divides by inf."""
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["train", "--temp", temp, "--epochs", "1", "-q", "-w", str(ws)])
    line = one_line_error(result, "temperature", "float32", repr(float(temp)))
    assert "--lr" not in line
    assert not ws.exists()


# ---- issue 29: users' broken networks, checked with one batch before training ------------------
NET = """\
import math, sys
import torch
from torch import nn

{top}


class Net(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.fc = nn.Linear(math.prod(input_shape), num_classes)
        self.bn = nn.BatchNorm1d(num_classes)  # used by the bodies that say so

    def forward(self, x):
        z = self.fc(x.flatten(1))
{body}
        return z


def build(input_shape, num_classes):
    return Net(input_shape, num_classes)


class Fixed(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :10]


def no_params(input_shape, num_classes):
    return Fixed()  # the right shape, but no weights: nothing to train
"""


@pytest.fixture
def user_net(tmp_path, monkeypatch, request):
    """Write a user's module (a name of its own per test: modules are cached) into the current
    folder; returns a function (top, body) -> the module's name."""
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def make(top: str = "", body: str = "") -> str:
        name = f"usernet_{request.node.name.split('[')[0][5:40]}_{len(names)}"
        name = "".join(c if c.isalnum() else "_" for c in name)
        (tmp_path / f"{name}.py").write_text(NET.format(top=top, body=body))
        names.append(name)
        return name

    yield make
    for n in names:
        sys.modules.pop(n, None)


def _train(ws: Path, arch: str, *extra: str):
    return runner.invoke(
        app,
        ["train", "--arch", arch, "--epochs", "1", "-q", "-w", str(ws), "--device", "cpu", *extra],
    )


@pytest.mark.parametrize(
    "body,extra,words",
    [
        ("        if self.training:\n            return z, z", [], ["training mode", "tuple"]),
        ("        z = z.reshape(2, 10)", ["--batch-size", "64"], ["batch of 64", "raised"]),
        (
            "        if self.training:\n            z = z.detach()",
            [],
            ["training mode", "no gradient"],
        ),
    ],
    ids=["tuple-in-training", "fails-at-64", "detached"],
)
def test_broken_network_is_one_line_before_training(user_net, tmp_path, body, extra, words):
    ws = tmp_path / "ws"
    result = _train(ws, f"{user_net(body=body)}:build", *extra)
    one_line_error(result, *words)
    assert not ws.exists() or not list(ws.rglob("run.json"))


def test_network_without_parameters_is_one_line(user_net, tmp_path):
    ws = tmp_path / "ws"
    one_line_error(_train(ws, f"{user_net()}:no_params"), "no parameters")
    assert not ws.exists() or not list(ws.rglob("run.json"))


def test_last_partial_batch_of_one_is_checked_too(user_net, tmp_path):
    """BatchNorm cannot train on a batch of one: 65 images in batches of 64 leave one."""
    name = user_net(body="        z = self.bn(z)")
    result = _train(tmp_path / "ws", f"{name}:build", "--n-train", "65", "--batch-size", "64")
    one_line_error(result, "batch of 1", "training mode")


def test_printing_module_keeps_stdout_for_the_run_id(user_net, tmp_path):
    from safetensors.torch import save_file

    quiet = user_net()
    loud = user_net(top='print("hello from the module")', body='        print("forward!")')
    import importlib

    net = importlib.import_module(quiet).build((1, 8, 8), 10)
    save_file(dict(net.state_dict()), str(tmp_path / "w.safetensors"))  # the same keys as loud's
    result = runner.invoke(
        app,
        ["import-weights", str(tmp_path / "w.safetensors"), "--arch", f"{loud}:build"]
        + ["--act", "none", "-w", str(tmp_path / "ws"), "--device", "cpu", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("digits-none-T1-import-"), result.stdout
    assert len(result.stdout.splitlines()) == 1, result.stdout
    assert "hello from the module" in result.stderr and "forward!" in result.stderr
    train = _train(tmp_path / "ws2", f"{loud}:build")
    assert train.exit_code == 0 and train.stdout == "", train.stdout


@pytest.mark.parametrize("where", ["import", "forward"])
def test_sys_exit_in_a_users_module_is_an_error_not_success(user_net, tmp_path, where):
    """sys.exit(0) at import ended hotbench with exit 0, having stored nothing."""
    if where == "import":
        name = user_net(top="sys.exit(0)")
    else:
        name = user_net(body="        sys.exit(0)")
    ws = tmp_path / "ws"
    line = one_line_error(_train(ws, f"{name}:build"), "sys.exit(0)")
    # at import it was wrapped in itself: "... raised HotbenchError: arch ... called sys.exit(0)"
    assert line.count("sys.exit") == 1 and "HotbenchError" not in line, line
    assert not ws.exists() or not list(ws.rglob("run.json"))


def test_preset_with_a_broken_network_names_the_file_before_training(user_net, tmp_path):
    name = user_net(body="        if self.training:\n            return z, z")
    text = PRESET.format(epochs=1, seed=0, method="fgsm", params="{}").replace(
        "  epochs: 1\n", f"  epochs: 1\n  arch: {name}:build\n"
    )
    result, ws = run_preset(tmp_path, text)
    one_line_error(result, "p.yaml", "training mode", "tuple")
    assert not ws.exists() or not list(ws.rglob("run.json"))


# ---- issue 29: terminal escape sequences and Click's usage errors --------------------------------
CLEAR = "\x1b[2J\x1b[H"  # clears the screen when echoed raw


def _no_raw_escapes(result) -> None:
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\x9b" not in stream, repr(stream)


def test_escape_sequences_in_an_argument_are_shown_escaped(tmp_path):
    result = runner.invoke(app, ["train", "--dataset", f"mn{CLEAR}ist", "-w", str(tmp_path)])
    line = one_line_error(result, "\\x1b[2J\\x1b[H")
    _no_raw_escapes(result)
    assert "unknown dataset" in line


def test_escape_sequences_in_a_file_name_are_shown_escaped(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / f"my{CLEAR}.yaml"), "-w", str(tmp_path)])
    one_line_error(result, "my\\x1b[2J\\x1b[H.yaml", "not found")
    _no_raw_escapes(result)


def test_escape_sequences_in_a_preset_value_are_shown_escaped(tmp_path):
    text = PRESET.format(epochs=1, seed=0, method="fgsm", params="{}").replace(
        "acts: [tanh]", 'acts: ["tanh\\e[2J\\e[H"]'
    )
    result, _ = run_preset(tmp_path, text)
    one_line_error(result, "p.yaml", "\\x1b[2J")
    _no_raw_escapes(result)


def test_escape_sequences_in_a_warning_are_shown_escaped(trained_ws):
    import shutil

    shutil.copytree(trained_ws.run_dir(NONE1.run_id), trained_ws.runs / f"copy{CLEAR}")
    result = runner.invoke(app, ["ls", "-w", str(trained_ws.root)])
    assert result.exit_code == 0, result.output
    assert "skipped run folder" in result.stderr and "copy\\x1b[2J\\x1b[H" in result.stderr
    _no_raw_escapes(result)


def test_every_console_shows_control_characters_escaped_in_text_and_tables():
    import io

    from rich.table import Table
    from rich.text import Text

    from hotbench.progress import new_console, plain_text

    table = Table("name")
    table.add_row(f"cell{CLEAR}\u202eevil")
    table.add_row(Text("text\x9b31m"))  # a Text is measured raw: its escaped form may be cut
    buf = io.StringIO()
    console = new_console(file=buf, force_terminal=True, width=60)
    console.print(f"line{CLEAR}\rover", table, highlight=False)
    out = buf.getvalue() + plain_text(table, 60)
    assert CLEAR not in out and "\r" not in out and "\x9b" not in out and "\u202e" not in out
    assert "line\\x1b[2J\\x1b[H\\rover" in out
    assert "cell\\x1b[2J\\x1b[H\\u202eevil" in out and "text\\x9b" in out


@pytest.mark.parametrize(
    "args,words",
    [
        (["train", "--epochs", "abc"], ["'--epochs'", "'abc'", "a whole number"]),
        (["train", "--lr", "fast"], ["'--lr'", "'fast'", "a number, e.g. --lr 0.001"]),
        (["attack", "--eps", "0.1", "--eps", "abc"], ["'--eps'", "'abc'", "a number"]),
        (["attack", "--steps=1.5"], ["'--steps'", "'1.5'", "a whole number"]),
        (["train", "--epoch", "3"], ["--epoch", "--epochs", "hotbench train -h"]),
        (["run"], ["preset", "hotbench run -h"]),
        (["report", "--format"], ["--format", "requires an argument"]),
        (["train", "--epochs", f"4{CLEAR}"], ["'--epochs'", "4\\x1b[2J"]),
    ],
    ids=["int", "float", "list", "int-given-float", "unknown-option", "missing", "no-value", "esc"],
)
def test_clicks_usage_errors_are_one_line_with_the_fix(args, words, tmp_path):
    result = runner.invoke(app, [*args])
    line = one_line_error(result, *words)
    assert "Usage:" not in result.output and "Try '" not in result.output
    assert ". " in line.removeprefix("error: "), line  # the problem, then the fix
    _no_raw_escapes(result)


@pytest.mark.parametrize("prog", ["python -m hotbench.cli", "python -m hotbench", "hotbench"])
def test_usage_errors_name_a_command_that_runs_whatever_the_program_name(prog):
    """Under `python -m hotbench.cli` the fix read "`hotbench -m hotbench.cli train -h`", a command
    that does not run: the program's name was split into words and its first replaced."""
    result = runner.invoke(app, ["train", "--epochs", "abc"], prog_name=prog)
    line = one_line_error(result, "'abc' is not a whole number")
    assert "`hotbench train -h`" in line, line
    result = runner.invoke(app, ["report", "--bogus"], prog_name=prog)
    assert "see `hotbench report -h`" in one_line_error(result, "--bogus")


def test_bare_hotbench_still_shows_its_help():
    result = runner.invoke(app, [])
    assert "Usage:" in result.output and "Commands" in result.output


# ---- issue 29: outputs never replace what hotbench stored, nor an input of the same command -----
def _stored_files(ws) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in ws.runs.rglob("*") if p.is_file()}


def _refused_output(ws, *args: str, needles=()) -> None:
    before = _stored_files(ws)
    result = report(ws, *args)
    one_line_error(result, *needles)
    assert _stored_files(ws) == before, "a stored file was replaced"


def test_report_output_onto_a_stored_run_json_is_refused(reported_ws):
    path = reported_ws.run_dir(TANH50.run_id) / "run.json"
    _refused_output(reported_ws, "-f", "json", "-o", str(path), needles=[str(path), "stored"])
    assert report(reported_ws).exit_code == 0  # the run is still reported


def test_save_baseline_onto_a_stored_result_is_refused(reported_ws):
    (path,) = (reported_ws.run_dir(TANH50.run_id) / "attacks").glob("*.json")
    _refused_output(reported_ws, "--save-baseline", str(path), needles=[str(path)])


def test_output_through_a_link_into_the_runs_or_under_another_workspace_is_refused(
    reported_ws, tmp_path
):
    link = tmp_path / "innocent.json"
    link.symlink_to(reported_ws.run_dir(NONE1.run_id) / "run.json")
    _refused_output(reported_ws, "-f", "json", "-o", str(link), needles=[str(link)])
    _refused_output(reported_ws, "--plot", str(reported_ws.runs / "acc.png"))
    other = tmp_path / "other"
    shutil.copytree(reported_ws.root, other)
    new = other / "runs" / TANH50.run_id / "report.json"  # a new file inside another's run folder
    _refused_output(reported_ws, "-f", "json", "-o", str(new), needles=[str(new)])
    assert not new.exists()
    beside = reported_ws.root / "report.json"  # the workspace's own folder, outside its runs
    assert report(reported_ws, "-f", "json", "-o", str(beside)).exit_code == 0


def test_output_onto_an_input_of_the_same_command_is_refused(reported_ws, tmp_path):
    baseline = tmp_path / "b.json"
    assert report(reported_ws, "--save-baseline", str(baseline)).exit_code == 0
    kept = baseline.read_bytes()
    args = ["--baseline", str(baseline), "-f", "json", "-o", str(baseline)]
    _refused_output(reported_ws, *args, needles=[str(baseline), "--baseline"])
    assert baseline.read_bytes() == kept
    preset = tmp_path / "p.yaml"
    preset.write_text(PRESET.format(epochs=1, seed=0, method="fgsm", params="{}"))
    _refused_output(reported_ws, "--preset", str(preset), "-o", str(preset), needles=["--preset"])


# ---- issue 29: what was silently ignored or silently wrong ------------------------------------
@pytest.mark.parametrize("command", [["train", "--epochs", "1"], ["ls"], ["report"]])
def test_empty_workspace_option_is_refused_not_the_current_folder(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    one_line_error(runner.invoke(app, [*command, "-w", ""]), "workspace path is empty")
    assert list(tmp_path.iterdir()) == []


def test_empty_run_filter_is_refused_not_every_model(trained_ws):
    result = runner.invoke(app, ["ls", "-w", str(trained_ws.root), "--run", ""])
    one_line_error(result, "--run", "empty")


def test_tolerance_without_a_baseline_is_refused(reported_ws):
    one_line_error(report(reported_ws, "--tolerance", "0.05"), "--tolerance", "--baseline")
    one_line_error(report(reported_ws, "--direction", "down"), "--direction", "--baseline")


@pytest.mark.parametrize(
    "command,extra,flag",
    [
        ("train", ["--temp", "7"], "--temp"),
        ("train", ["--epochs", "3", "--lr", "0.01"], "--epochs"),
        ("train", ["--dataset", "digits"], "--dataset"),  # even its default, when typed
        ("attack", ["--eps", "0.1"], "--eps"),
        ("attack", ["--method", "fgsm"], "--method"),
        ("report", ["--run", "x"], "--run"),
    ],
)
def test_sweep_options_with_a_preset_are_refused_not_ignored(tmp_path, command, extra, flag):
    preset = tmp_path / "p.yaml"
    preset.write_text(PRESET.format(epochs=1, seed=0, method="fgsm", params="{}"))
    ws = tmp_path / "ws"
    quiet = ["-q"] if command != "report" else []
    result = runner.invoke(app, [command, "--preset", str(preset), *extra, "-w", str(ws), *quiet])
    one_line_error(result, flag, "--preset")
    assert not ws.exists()


def test_a_model_not_attacked_yet_is_listed_with_its_clean_accuracy(reported_ws):
    """NONE1 is trained but has no attack result: the report names it (it was missing)."""
    result = report(reported_ws)
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.stderr.splitlines() if NONE1.run_id in ln)
    assert "no attack result yet" in line and "clean" in line and "n=397" in line, line
    assert f"hotbench attack --run {NONE1.run_id}" in line


def test_the_warning_on_a_model_not_attacked_yet_does_not_say_it_is_missing(reported_ws):
    """The warning said the model "is not in the report" while the report listed it with its clean
    accuracy (a row in csv, markdown, html and latex; the terminal's summary)."""
    result = report(reported_ws, "-f", "csv")
    assert result.exit_code == 0, result.output
    assert NONE1.run_id in result.stdout  # its row
    line = next(ln for ln in result.stderr.splitlines() if NONE1.run_id in ln)
    assert "no attack result yet" in line and "not in the report" not in line, line


# ---- issue 29: FIFOs, devices and over-long names as inputs -----------------------------------
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


def test_fifo_or_device_as_a_preset_is_refused_without_hanging(fifo, tmp_path):
    for path in (fifo, Path("/dev/zero")):
        result = runner.invoke(app, ["run", str(path), "-w", str(tmp_path / "ws")])
        one_line_error(result, str(path), "not a regular file")


def test_fifo_or_device_as_weights_is_refused_without_hanging(fifo, tmp_path):
    for path in (fifo, Path("/dev/zero")):
        result = runner.invoke(app, ["import-weights", str(path), "-w", str(tmp_path / "ws")])
        one_line_error(result, str(path), "not a regular file")


LONG = "x" * 300  # one path component over NAME_MAX (255 bytes)


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "-w", "{tmp}/" + LONG],
        ["train", "--epochs", "1", "-q", "-w", "{tmp}/" + LONG],
        ["report", "-w", "{ws}", "-o", "{tmp}/" + LONG + ".json"],
        ["run", "{tmp}/" + LONG + ".yaml", "-w", "{tmp}/ws2"],
        ["import-weights", "{tmp}/" + LONG + ".safetensors", "-w", "{tmp}/ws2"],
    ],
    ids=["ls-w", "train-w", "report-o", "run", "import-weights"],
)
def test_file_names_too_long_are_one_line(reported_ws, tmp_path, args):
    args = [a.format(tmp=tmp_path, ws=reported_ws.root) for a in args]
    one_line_error(runner.invoke(app, args), "too long")
