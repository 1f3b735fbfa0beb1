"""Datasets as in-memory tensors.

All datasets that hotbench targets fit in memory (CIFAR-10's test set is 120 MB as float32), so they are held
as tensors in [0, 1] with no DataLoader: no worker start-up, no per-item Python, and exact reproducibility.
Normalisation lives inside the model (torchattacks' and RobustBench's convention), never here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import HotbenchError
from .registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    channels: int
    size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    default_arch: str
    default_epochs: int
    needs_files: bool
    loader: Callable[[Path | None, bool], "Dataset"]


@dataclass
class Split:
    x: torch.Tensor  # float32, (N, C, H, W), values in [0, 1]
    y: torch.Tensor  # int64, (N,)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def head(self, n: int | None) -> "Split":
        return self if n is None else Split(self.x[:n], self.y[:n])


@dataclass
class Dataset:
    spec: DatasetSpec
    train: Split
    test: Split


DATASETS: Registry[DatasetSpec] = Registry("dataset")

DIGITS_TEST_SIZE = 397  # the split of ../shared/paper.md's table: 1400 train, 397 test, stratified


def _digits(data_dir: Path | None, download: bool) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=0)
    spec = DATASETS.get("digits")
    return Dataset(spec, Split(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
                   Split(torch.from_numpy(x_te), torch.from_numpy(y_te)))


def _missing(name: str, root: Path, fix_extra: str = "") -> HotbenchError:
    return HotbenchError(
        f"{name} files not found under '{root}'",
        f"pass --data-dir pointing at the folder that holds the dataset's folder{fix_extra}, or add --download",
    )


def _torchvision(name: str, cls_name: str) -> Callable[[Path | None, bool], Dataset]:
    def load(data_dir: Path | None, download: bool) -> Dataset:
        import torchvision.datasets as tvd

        root = Path(data_dir) if data_dir is not None else default_data_dir()
        cls = getattr(tvd, cls_name)
        if cls_name == "CIFAR10":
            cls = _cifar10_class()
        splits = []
        for train in (True, False):
            try:
                ds = cls(root=str(root), train=train, download=download)
            except RuntimeError as exc:  # torchvision: "Dataset not found..."
                if download:
                    raise HotbenchError(f"could not download {name} into '{root}': {exc}",
                                        "check the network or place the files there by hand") from None
                raise _missing(name, root) from None
            except OSError as exc:
                raise HotbenchError(f"could not read {name} under '{root}': {exc}",
                                    "re-download it with --download or fix the files") from None
            data = ds.data
            data = torch.as_tensor(np.asarray(data))
            if data.ndim == 3:  # (N, H, W) grey
                data = data[:, None]
            else:  # (N, H, W, C)
                data = data.permute(0, 3, 1, 2)
            x = data.float().div_(255.0).contiguous()
            y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
            splits.append(Split(x, y))
        return Dataset(DATASETS.get(name), splits[0], splits[1])

    return load


def _cifar10_class():
    import torchvision.datasets as tvd

    class CIFAR10(tvd.CIFAR10):
        """torchvision's CIFAR-10, with the integrity check reduced to file presence.

        torchvision compares the MD5 of each batch file on every load (about a second for 170 MB) and so
        cannot read small files in the real pickled-batch format; the download itself is still checked
        against torchvision's archive checksum.
        """

        def _check_integrity(self) -> bool:
            base = Path(self.root) / self.base_folder
            return all((base / fname).is_file() for fname, _ in self.train_list + self.test_list)

    return CIFAR10


def default_data_dir() -> Path:
    return Path(os.environ.get("HOTBENCH_DATA", "./data"))


DATASETS.add("digits", DatasetSpec("digits", 1, 8, 10, (0.0,), (1.0,), "digits-cnn", 40, False, _digits))
DATASETS.add("mnist", DatasetSpec("mnist", 1, 28, 10, (0.1307,), (0.3081,), "mnist-cnn", 5, True,
                                  _torchvision("mnist", "MNIST")))
DATASETS.add("fashion-mnist", DatasetSpec("fashion-mnist", 1, 28, 10, (0.2860,), (0.3530,), "mnist-cnn", 10,
                                          True, _torchvision("fashion-mnist", "FashionMNIST")))
DATASETS.add("cifar10", DatasetSpec("cifar10", 3, 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                                    "cifar-vgg", 30, True, _torchvision("cifar10", "CIFAR10")))


_CACHE: dict[tuple[str, str], Dataset] = {}


def load_dataset(name: str, data_dir: Path | str | None = None, download: bool = False) -> Dataset:
    """Load (and memoise per process) a registered dataset."""
    spec = DATASETS.get(name)
    key = (name, str(data_dir))
    if key not in _CACHE:
        _CACHE[key] = spec.loader(Path(data_dir) if data_dir is not None else None, download)
    return _CACHE[key]
