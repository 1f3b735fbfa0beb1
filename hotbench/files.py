"""Writing files: atomically, with the user's umask, and with one-line errors when the disk says no.

Every file hotbench writes (weights, run.json, attack results, diagnoses, reports, plots, baselines)
goes through `atomic_write_bytes`: the bytes go to a temporary file in the destination's folder, are
synced, and the file is renamed into place. A reader sees the old file or the new one, never half of
one, and a failure (disk full, read-only storage, a folder that is a file) removes the temporary
file and becomes a `HotbenchError` naming the path: nothing partial is ever trusted later.

`write_output` is the same for a path a user typed (`report -o`, `--plot`, `--save-baseline`): `-`
is stdout, a symlink is followed and its target written (the link stays a link), and anything that
is not a regular file or a new path (a folder, /dev/null, a FIFO) is refused before anything is
written, so that `-o /dev/null` run as root never replaces the device with a regular file.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path

from .errors import HotbenchError

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_DENIED = (errno.EROFS, errno.EACCES, errno.EPERM)


def write_error(path: Path | str, exc: OSError, fix: str | None = None) -> HotbenchError:
    """The one-line error for an OSError met while writing `path` (the fix depends on the cause)."""
    reason = exc.strerror or type(exc).__name__
    if fix is None:
        if exc.errno in _FULL:
            fix = "free some space there (or write elsewhere) and run the same command again"
        elif exc.errno in _DENIED:
            fix = "write to a location you can write to (check its permissions and mount)"
        elif exc.errno == errno.ENOTDIR:
            fix = "a part of that path is a file, not a folder: fix the path"
        else:
            fix = "check that path and run the same command again"
    return HotbenchError(f"cannot write '{path}' ({reason})", fix)


def umask() -> int:
    """The process's umask (read by setting it and setting it back: the only portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_all(fd: int, data: bytes) -> None:
    # os.write, not a buffered file object: one place where every byte hotbench writes passes, which
    # also lets the tests fake a full disk by patching os.write
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write_bytes(path: Path | str, data: bytes, fix: str | None = None) -> None:
    """Write `data` to `path` by a rename, with the mode a plain `open(path, "w")` would give: an
    existing file keeps its mode, a new one gets 0666 & ~umask (mkstemp alone would give 0600).

    Any OSError (disk full, read-only, a parent that is a file) leaves no temporary file behind and
    is raised as a HotbenchError naming `path`; `fix` replaces the generic advice."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~umask()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            _write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise write_error(path, exc, fix) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


NAME_FIX = "use a shorter path: each folder and file name at most 255 bytes"


def input_file(path: Path | str, what: str, missing_fix: str = "check the path") -> Path:
    """A file a command will read, checked before it is opened: a FIFO blocks the read until
    someone writes to it (a hang), a device such as /dev/zero never ends (a MemoryError), a folder
    is no file, and a name over 255 bytes is the system's ENAMETOOLONG traceback otherwise."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise HotbenchError(f"{what} '{path}' not found", missing_fix) from None
    except OSError as exc:
        fix = NAME_FIX if exc.errno == errno.ENAMETOOLONG else "check the path and its permissions"
        raise HotbenchError(f"cannot read {what} '{path}' ({exc.strerror})", fix) from None
    if not stat.S_ISREG(st.st_mode):
        raise HotbenchError(
            f"{what} '{path}' is {_kind(st.st_mode)}, not a regular file", "pass a file"
        )
    return path


def output_target(path: Path | str) -> Path | None:
    """Where `write_output` will write `path` (None: stdout), or the one-line error if it must not.

    Called before any work, so that a bad `-o` fails in a second rather than after the report."""
    if str(path) == "-":
        return None
    path = Path(path)
    if str(path) == "":
        raise HotbenchError("the output path is empty", "pass a file path, or - for stdout")
    try:
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
        st = target.stat()
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise write_error(
            path, exc, NAME_FIX if exc.errno == errno.ENAMETOOLONG else None
        ) from None
    if not stat.S_ISREG(st.st_mode):
        what = f"'{path}'" + (f" (a link to '{target}')" if target != path else "")
        raise HotbenchError(
            f"{what} is {_kind(st.st_mode)}, not a regular file: refusing to replace it",
            "pass a file path (an existing file is replaced, a new one created), or - for stdout",
        )
    return target


def _stored_tree(real: Path, workspace: Path | None) -> Path | None:
    """The folder of hotbench's stored files that `real` (a resolved path) lies in, if any: the
    workspace's runs/, or any run folder (it holds a run.json) or runs/ (it holds the run locks) of
    another workspace."""
    if workspace is not None:
        runs = Path(os.path.realpath(Path(workspace) / "runs"))
        if real == runs or runs in real.parents:
            return runs
    for folder in real.parents:
        if (folder / "run.json").is_file() or (folder / ".locks").is_dir():
            return folder
    return None


def check_outputs(
    outputs: dict[str, Path | str | None],
    inputs: dict[str, Path | str | None] | None = None,
    workspace: Path | str | None = None,
) -> None:
    """Refuse, before any work, an output (by option name) that would replace what hotbench stored
    (a run.json, a result, weights: anything under a workspace's runs/) or a file the same command
    reads (`report --baseline b.json -o b.json` replaced the baseline it gated against). Links
    are followed: the file written is what counts."""
    given = {k: str(v) for k, v in (inputs or {}).items() if v is not None and str(v) != "-"}
    for option, path in outputs.items():
        target = None if path is None else output_target(path)
        if target is None:
            continue
        real = Path(os.path.realpath(target))
        where = f"'{path}'" + (
            f" (a link to '{real}')" if real != Path(os.path.abspath(path)) else ""
        )
        if (tree := _stored_tree(real, Path(workspace) if workspace else None)) is not None:
            raise HotbenchError(
                f"{option} {where} is inside '{tree}', where hotbench keeps what it stored:"
                " writing there would replace a stored file",
                "write the output outside the workspace's runs/ folder",
            )
        for other, source in given.items():
            if Path(os.path.realpath(source)) == real:
                raise HotbenchError(
                    f"{option} {where} is the file {other} reads in the same command: writing it"
                    " would replace it",
                    f"write {option} to another file",
                )


def write_output(path: Path | str, data: bytes) -> None:
    """Write a user-named output: `-` to stdout, a symlink's target in place of the link, a regular
    or new file atomically (see `output_target` for what is refused)."""
    target = output_target(path)
    if target is None:
        sys.stdout.flush()  # text already printed goes first
        if hasattr(sys.stdout, "buffer"):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data.decode())
        sys.stdout.flush()
        return
    atomic_write_bytes(target, data)
