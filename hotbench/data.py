"""Datasets as in-memory tensors.

All datasets that hotbench targets fit in memory (CIFAR-10's test set is 120 MB as float32), so they
are held as tensors in [0, 1] with no DataLoader: no worker start-up, no per-item Python, and exact
reproducibility. Normalisation lives inside the model (torchattacks' and RobustBench's convention),
never here.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HotbenchError
from .files import input_file
from .registry import Registry

if TYPE_CHECKING:  # torch and numpy load with the data, not with the dataset names (DATASETS)
    import torch


@dataclass(frozen=True)
class DatasetSpec:
    """Everything hotbench knows of a dataset, in one registration (`DATASETS.add` below): help,
    `doctor`, configs, presets and reports read it here, so a new dataset touches this file only."""

    name: str
    help: str  # one line: what it is and where it comes from (--help, doctor)
    channels: int
    size: int  # images are size x size
    num_classes: int
    mean: tuple[float, ...]  # the model's input normalisation (inside the model, not the data)
    std: tuple[float, ...]
    default_arch: str
    default_epochs: int
    # the Linf budget of an adversarial defense's inner attack when --train-eps is not given
    train_eps: float
    # (data folder or None, download) -> Dataset; imports what it needs when called
    loader: Callable[[Path | None, bool], Dataset]
    # the files its loader reads, relative to the data folder (`doctor` checks them without
    # loading); empty: embedded in a package, nothing to find
    files: tuple[str, ...] = ()
    # torch threads for attacks and measurements on the CPU (None: the process's, HOTBENCH_THREADS).
    # Tiny inputs make every op a few microseconds, which a second thread only slows down
    # (fork/join per op, and spinning on a busy machine): on the 8x8 digits DeepFool took 0.1 s of
    # CPU with one thread and 3-4 s with two, for the same per-sample results.
    cpu_threads: int | None = None

    @property
    def needs_files(self) -> bool:
        return bool(self.files)


@dataclass
class Split:
    x: torch.Tensor  # float32, (N, C, H, W), values in [0, 1]
    y: torch.Tensor  # int64, (N,)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def head(self, n: int | None) -> Split:
        return self if n is None else Split(self.x[:n], self.y[:n])


@dataclass
class Dataset:
    spec: DatasetSpec
    train: Split
    test: Split


DATASETS: Registry[DatasetSpec] = Registry("dataset")

DIGITS_TEST_SIZE = 397  # the split of ../shared/paper.md's table: 1400 train, 397 test, stratified


def _digits(data_dir: Path | None, download: bool) -> Dataset:
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=0
    )
    spec = DATASETS.get("digits")
    return Dataset(
        spec,
        Split(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
        Split(torch.from_numpy(x_te), torch.from_numpy(y_te)),
    )


def _missing(name: str, root: Path, layout: str) -> HotbenchError:
    """The dataset is not under `root`: name the layout looked for (`layout`, relative to the
    data folder), and spot a --data-dir that names the dataset's own folder (data/MNIST, or
    data/MNIST/raw) instead of the folder that holds it."""
    top = Path(layout).parts[0]
    where = {root: f"is the {top} folder itself", root.parent: f"is inside the {top} folder"}
    for folder, what in where.items():
        if folder.name == top and folder.parent != folder:
            return HotbenchError(
                f"{name} files not found: '{root}' {what} (too deep)",
                f"pass --data-dir '{folder.parent}', the folder that holds {top}/",
            )
    return HotbenchError(
        f"{name} files not found under '{root}' (expected {root / layout})",
        f"pass --data-dir pointing at the folder that holds {top}/, or add --download",
    )


# MD5 of the original, uncompressed IDX files (torchvision's names): what a damaged file is compared
# with in the error message (`md5sum FILE` gives the other side).
IDX_MD5 = {
    "MNIST": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
_IDX_MAGIC = {"images": (0x0803, 3), "labels": (0x0801, 1)}  # unsigned bytes, number of dims


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _idx_count(path: Path, kind: str, cls_name: str) -> int | None:
    """Check one IDX file's magic number, dimensions and size; return its item count (None: no
    such file, left to torchvision's "not found"). torchvision only asserts on these, so a damaged
    file would otherwise end in an AssertionError or a reshape error."""
    if not os.path.lexists(path):
        return None
    input_file(path, f"{cls_name} file")  # a FIFO would block the read, a device never end
    magic, ndim = _IDX_MAGIC[kind]
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(4 + 4 * ndim)
    problem = None
    if len(header) < 4 + 4 * ndim:
        problem = f"{size} bytes, shorter than an IDX header"
    elif int.from_bytes(header[:4], "big") != magic:
        problem = f"magic number {header[:4].hex()}, expected {magic:08x}"
    else:
        dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
        expected = len(header) + math.prod(dims)
        if kind == "images" and dims[1:] != [28, 28]:
            problem = f"images of {dims[1]}x{dims[2]}, expected 28x28"
        elif size != expected:
            problem = f"{size} bytes, its header announces {expected}"
        else:
            return dims[0]
    original = IDX_MD5.get(cls_name, {}).get(path.name)
    compare = f"; the original's md5 is {original}" if original else ""
    raise HotbenchError(
        f"'{path}' is not a valid IDX file ({problem}); its md5 is {_md5(path)}{compare}",
        "replace it with the original file, or delete it and pass --download",
    )


def check_idx_files(root: Path, cls_name: str) -> None:
    """Validate the raw IDX files of MNIST-like datasets under `root` before torchvision reads
    them."""
    raw = root / cls_name / "raw"
    for split in ("train", "t10k"):
        images = _idx_count(raw / f"{split}-images-idx3-ubyte", "images", cls_name)
        labels = _idx_count(raw / f"{split}-labels-idx1-ubyte", "labels", cls_name)
        if images is not None and labels is not None and images != labels:
            raise HotbenchError(
                f"'{raw}' holds {images} {split} images but {labels} labels",
                "replace both files with the originals, or delete them and pass --download",
            )


def _torchvision(name: str, cls_name: str) -> Callable[[Path | None, bool], Dataset]:
    def load(data_dir: Path | None, download: bool) -> Dataset:
        import numpy as np
        import torch
        import torchvision.datasets as tvd

        root = data_folders(data_dir)[0]
        check_idx_files(root, cls_name)
        cls = getattr(tvd, cls_name)
        splits = []
        for train in (True, False):
            try:
                ds = cls(root=str(root), train=train, download=download)
            except RuntimeError as exc:  # torchvision: "Dataset not found..."
                if download:
                    raise HotbenchError(
                        f"could not download {name} into '{root}': {exc}",
                        "check the network or place the files there by hand",
                    ) from None
                raise _missing(name, root, f"{cls_name}/raw/train-images-idx3-ubyte") from None
            except (OSError, AssertionError, ValueError) as exc:
                check_idx_files(root, cls_name)  # names the damaged file if one is (downloaded)
                raise HotbenchError(
                    f"could not read {name} under '{root}': {exc or type(exc).__name__}",
                    "re-download it with --download or fix the files",
                ) from None
            x = torch.as_tensor(np.asarray(ds.data))[:, None].float().div_(255.0)  # (N, 1, H, W)
            y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
            splits.append(Split(x, y))
        return Dataset(DATASETS.get(name), splits[0], splits[1])

    return load


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR-10 ships as pickles. This unpickler admits only what those files hold (numpy arrays,
    lists, dicts, strings), so a crafted data file cannot run code, unlike plain `pickle.load` in
    torchvision.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _cifar10(data_dir: Path | None, download: bool) -> Dataset:
    import numpy as np
    import torch

    root = data_folders(data_dir)[0]
    base = root / "cifar-10-batches-py"
    names = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}
    if download and not all((base / n).is_file() for n in names[True] + names[False]):
        import torchvision.datasets as tvd

        try:  # torchvision fetches the archive and checks its MD5
            tvd.CIFAR10(root=str(root), train=False, download=True)
        except (RuntimeError, OSError) as exc:
            raise HotbenchError(
                f"could not download cifar10 into '{root}': {exc}",
                "check the network or place the files there by hand",
            ) from None
    splits = []
    for train in (True, False):
        xs, ys = [], []
        for name in names[train]:
            path = base / name
            if not path.is_file():
                raise _missing("cifar10", root, "cifar-10-batches-py/data_batch_1")
            try:
                with open(path, "rb") as f:
                    entry = _ArrayUnpickler(f, encoding="latin1").load()
                xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.extend(entry["labels"])
            except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as exc:
                raise HotbenchError(
                    f"cannot read cifar10 batch '{path}' ({exc})", "re-download it with --download"
                ) from None
        x = torch.from_numpy(np.concatenate(xs)).float().div_(255.0)
        splits.append(Split(x, torch.as_tensor(ys, dtype=torch.int64)))
    return Dataset(DATASETS.get("cifar10"), splits[0], splits[1])


def default_data_dir() -> Path:
    return Path(os.environ.get("HOTBENCH_DATA", "./data"))


def data_folders(data_dir: Path | str | None, recorded: Path | str | None = None) -> list[Path]:
    """Where a dataset is looked for, in order: the one rule of every caller (the loaders, doctor,
    the units of work, the executors, the report). `data_dir` (--data-dir, or HOTBENCH_DATA through
    the CLI) when given; then `recorded`, the folder a stored run's run.json names (where it was
    trained: `RunRecord.recorded_data_dir`), so that later commands find it without --data-dir;
    with neither, the default folder (HOTBENCH_DATA or ./data)."""
    folders = [Path(data_dir)] if data_dir is not None else []
    if recorded is not None and Path(recorded) not in folders:
        folders.append(Path(recorded))
    return folders or [default_data_dir()]


def data_source(dataset: str, data_dir: Path | str | None) -> dict[str, Any]:
    """Where a run's data came from, for run.json: the absolute folder of a file-based dataset
    (None for the embedded digits), so that later commands find it without --data-dir."""
    if not DATASETS.get(dataset).needs_files:
        return {"dataset": dataset, "dir": None}
    return {"dataset": dataset, "dir": str(data_folders(data_dir)[0].expanduser().resolve())}


def register(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.add(spec.name, spec)


def _idx_files(folder: str) -> tuple[str, ...]:
    """The raw IDX files torchvision's MNIST-like loaders read (torchvision's layout)."""
    return tuple(
        f"{folder}/raw/{split}-{kind}-idx{dims}-ubyte"
        for split in ("train", "t10k")
        for kind, dims in (("images", 3), ("labels", 1))
    )


register(
    DatasetSpec(
        "digits",
        "scikit-learn's 8x8 digits (1797 images), embedded: no files, no download",
        channels=1,
        size=8,
        num_classes=10,
        mean=(0.0,),
        std=(1.0,),
        default_arch="digits-cnn",
        default_epochs=40,
        # choice: 8x8 digits have 17 grey levels; 0.1 (1.6 levels) keeps clean accuracy ~0.99
        train_eps=0.1,
        loader=_digits,
        cpu_threads=1,
    )
)
register(
    DatasetSpec(
        "mnist",
        "MNIST 28x28 handwritten digits (torchvision layout under --data-dir)",
        channels=1,
        size=28,
        num_classes=10,
        mean=(0.1307,),
        std=(0.3081,),
        default_arch="mnist-cnn",
        default_epochs=5,
        train_eps=0.1,  # choice: trains in minutes on 2 CPUs; Madry et al.'s 0.3 needs 40 steps
        loader=_torchvision("mnist", "MNIST"),
        files=_idx_files("MNIST"),
    )
)
register(
    DatasetSpec(
        "fashion-mnist",
        "Fashion-MNIST 28x28 clothing images (torchvision layout under --data-dir)",
        channels=1,
        size=28,
        num_classes=10,
        mean=(0.2860,),
        std=(0.3530,),
        default_arch="mnist-cnn",
        default_epochs=10,
        train_eps=0.1,  # choice: as MNIST
        loader=_torchvision("fashion-mnist", "FashionMNIST"),
        files=_idx_files("FashionMNIST"),
    )
)
register(
    DatasetSpec(
        "cifar10",
        "CIFAR-10 32x32 colour images (the python batches under --data-dir)",
        channels=3,
        size=32,
        num_classes=10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        default_arch="cifar-vgg",
        default_epochs=30,
        train_eps=8 / 255,  # Madry et al. 2018 (CIFAR-10)
        loader=_cifar10,
        files=tuple(
            f"cifar-10-batches-py/{name}"
            for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        ),
    )
)


_CACHE: dict[tuple[str, str], Dataset] = {}


def load_dataset(name: str, data_dir: Path | str | None = None, download: bool = False) -> Dataset:
    """Load (and memoise per process) a registered dataset."""
    spec = DATASETS.get(name)
    key = (name, str(data_dir))
    if key not in _CACHE:
        _CACHE[key] = spec.loader(Path(data_dir) if data_dir is not None else None, download)
    return _CACHE[key]
