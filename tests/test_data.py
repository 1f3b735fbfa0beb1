"""Datasets: the embedded digits split, and torchvision loading on tiny files in the real on-disk
formats."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from hotbench import data as hdata
from hotbench.data import DATASETS, load_dataset
from hotbench.errors import HotbenchError


@pytest.fixture(autouse=True)
def _fresh_cache():
    hdata._CACHE.clear()
    yield
    hdata._CACHE.clear()


def test_digits_split_is_fixed_stratified_and_in_unit_range():
    d = load_dataset("digits")
    assert (len(d.train), len(d.test)) == (1797 - 397, 397)
    assert d.train.x.shape[1:] == (1, 8, 8) and d.train.x.dtype == torch.float32
    assert float(d.train.x.min()) == 0.0 and float(d.train.x.max()) == 1.0
    counts = torch.bincount(d.test.y, minlength=10)
    assert counts.min() >= 38 and counts.max() <= 41  # stratified: ~39.7 per class
    hdata._CACHE.clear()
    again = load_dataset("digits")
    assert torch.equal(again.test.x, d.test.x) and torch.equal(again.test.y, d.test.y)


def _write_idx_images(path: Path, images: np.ndarray) -> None:
    n, h, w = images.shape
    path.write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.astype(np.uint8).tobytes())


def _write_idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">II", 0x801, labels.shape[0]) + labels.astype(np.uint8).tobytes())


def write_tiny_mnist(
    root: Path, folder: str = "MNIST", n_train: int = 12, n_test: int = 6, seed: int = 0
):
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        _write_idx_images(raw / f"{prefix}-images-idx3-ubyte", imgs)
        _write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out[prefix] = (imgs, labels)
    return out


def write_tiny_cifar10(root: Path, per_batch: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        with open(base / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, f)
        batches[name] = (data, labels)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump(
            {
                "label_names": [
                    "airplane",
                    "automobile",
                    "bird",
                    "cat",
                    "deer",
                    "dog",
                    "frog",
                    "horse",
                    "ship",
                    "truck",
                ],
                "num_cases_per_batch": per_batch,
                "num_vis": 3072,
            },
            f,
        )
    return batches


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_idx_files_load_in_unit_range(tmp_path, name, folder):
    written = write_tiny_mnist(tmp_path, folder)
    d = load_dataset(name, tmp_path)
    assert d.train.x.shape == (12, 1, 28, 28) and d.test.x.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(
        d.test.x[:, 0].numpy(), written["t10k"][0] / 255.0, rtol=0, atol=1e-7
    )
    assert d.test.y.tolist() == written["t10k"][1].tolist()
    assert d.spec.default_arch == "mnist-cnn"


def test_cifar10_pickled_batches_load_channels_first(tmp_path):
    batches = write_tiny_cifar10(tmp_path)
    d = load_dataset("cifar10", tmp_path)
    assert d.train.x.shape == (20, 3, 32, 32) and d.test.x.shape == (4, 3, 32, 32)
    data, labels = batches["test_batch"]
    expected = (
        data.reshape(-1, 3, 32, 32) / 255.0
    )  # CIFAR stores each image as R plane, G plane, B plane
    np.testing.assert_allclose(d.test.x.numpy(), expected, atol=1e-7)
    assert d.test.y.tolist() == labels


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_files_name_the_folder_and_the_fix(tmp_path, name):
    with pytest.raises(HotbenchError) as exc:
        load_dataset(name, tmp_path / "empty")
    msg = str(exc.value)
    assert str(tmp_path / "empty") in msg and "--download" in msg and "--data-dir" in msg
    assert "\n" not in msg


def test_unknown_dataset_lists_valid_names_and_suggests():
    with pytest.raises(HotbenchError) as exc:
        load_dataset("mnsit")
    assert "did you mean 'mnist'" in str(exc.value)
    for name in DATASETS.names():
        assert name in str(exc.value)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_cifar10_batch_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tiny_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": _Boom(), "labels": [0]}, f)
    with pytest.raises(HotbenchError, match="refusing to load"):
        load_dataset("cifar10", tmp_path)
    assert not (tmp_path / "pwned").exists()


def _truncate_idx(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-100])


def _bad_magic(p: Path) -> None:
    p.write_bytes(b"\x00\x00\x08\x04" + p.read_bytes()[4:])


def _fewer_labels(p: Path) -> None:
    data = p.read_bytes()
    n = struct.unpack(">I", data[4:8])[0] - 1
    p.write_bytes(data[:4] + struct.pack(">I", n) + data[8:-1])


@pytest.mark.parametrize(
    "name, damage, problem",
    [
        ("train-images-idx3-ubyte", _truncate_idx, "its header announces"),
        ("t10k-labels-idx1-ubyte", _bad_magic, "magic number 00000804, expected 00000801"),
        ("t10k-images-idx3-ubyte", _bad_magic, "magic number 00000804, expected 00000803"),
        ("t10k-labels-idx1-ubyte", _fewer_labels, "holds 6 t10k images but 5 labels"),
    ],
)
def test_corrupt_idx_file_names_the_file_and_the_checksum_to_compare(
    tmp_path, name, damage, problem
):
    write_tiny_mnist(tmp_path, "MNIST")
    path = tmp_path / "MNIST" / "raw" / name
    damage(path)
    with pytest.raises(HotbenchError) as info:
        load_dataset("mnist", tmp_path)
    msg = str(info.value)
    assert problem in msg, msg
    if "holds" not in problem:
        assert f"'{path}'" in msg and "its md5 is" in msg
        assert f"the original's md5 is {hdata.IDX_MD5['MNIST'][name]}" in msg
    assert "\n" not in msg


def test_data_folders_is_the_one_rule_for_where_data_is(tmp_path, monkeypatch):
    """--data-dir first, then the folder a stored run recorded (each once), else the default
    (HOTBENCH_DATA or ./data): the order every caller follows."""
    given, recorded = tmp_path / "given", tmp_path / "recorded"
    assert hdata.data_folders(given, recorded) == [given, recorded]
    assert hdata.data_folders(str(given), given) == [given]
    assert hdata.data_folders(None, recorded) == [recorded]
    monkeypatch.setenv("HOTBENCH_DATA", str(tmp_path / "env"))
    assert hdata.data_folders(None) == [tmp_path / "env"]
    monkeypatch.delenv("HOTBENCH_DATA")
    assert hdata.data_folders(None) == [Path("./data")]


def test_a_stored_run_finds_its_data_where_run_json_recorded_it(tmp_path):
    """The units of work and the executors load a stored run's dataset through data_folders: with
    no --data-dir, from the folder its run.json names; a --data-dir without it falls back there."""
    from hotbench.store import RunRecord
    from hotbench.units import load_run_data

    write_tiny_mnist(tmp_path / "recorded")
    doc = {
        "config": {"dataset": "mnist", "act": "tanh", "temp": 1.0},
        "provenance": {"data": {"dataset": "mnist", "dir": str(tmp_path / "recorded")}},
    }
    record = RunRecord("mnist-tanh-T1-x", tmp_path, doc)
    assert record.recorded_data_dir == tmp_path / "recorded"
    assert len(load_run_data(record).test) > 0
    assert len(load_run_data(record, tmp_path / "empty").test) > 0  # falls back to run.json's
    (tmp_path / "recorded" / "MNIST").rename(tmp_path / "moved")
    hdata._CACHE.clear()  # loaded datasets are memoised per folder
    with pytest.raises(HotbenchError, match="where run mnist-tanh-T1-x was trained"):
        load_run_data(record, tmp_path / "empty")


def test_idx_file_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    """A FIFO where an IDX file should be blocked torchvision's read forever (issue 29)."""
    write_tiny_mnist(tmp_path, "MNIST")
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(HotbenchError, match="not a regular file") as info:
        load_dataset("mnist", tmp_path)
    assert f"'{path}'" in str(info.value)


def test_digits_attacks_run_on_one_cpu_thread(monkeypatch):
    """On 8x8 inputs a second torch thread only adds overhead (DeepFool: 0.1 s of CPU with one
    thread, 3-4 s with two, the same results; issue 24's Cost), so an attack on digits runs with
    the dataset's one thread, and the caller's count is restored after it."""
    from hotbench import units
    from hotbench.config import AttackConfig

    seen = []

    def fake_run_attack(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise KeyboardInterrupt  # stop before the result document is built

    monkeypatch.setattr(units, "run_attack", fake_run_attack)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run = units.LoadedRun("r", None, torch.nn.Linear(1, 1), None)
        cfg = AttackConfig(method="fgsm", n_samples=5).resolved(1.0, 397)
        with pytest.raises(KeyboardInterrupt):
            units.compute_attack(run, load_dataset("digits"), cfg, torch.device("cpu"))
        assert seen == [DATASETS.get("digits").cpu_threads] == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
