"""Classifiers with a temperature-scaled activation on the output layer: y = act(z / T).

The network is trained with cross-entropy on softmax(act(z / T_train)). At a high T_train it learns
logits about T times larger; evaluated at T_eval = 1 the activation saturates and its input gradient
is exactly zero in float32. That is the mechanism under test, so the pre-activation logits z stay
reachable (`logits`), and the temperature used at evaluation is a property of a *view*, never baked
into the weights.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data import DatasetSpec
from .errors import HotbenchError
from .registry import ACTIVATIONS, ARCHS
from .user_arch import import_callable, is_import_path, user_code


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    bounds: tuple[float, float] | None  # the values it saturates at, for the saturation diagnostic


for _act in (
    Activation("none", lambda u: u, None),
    Activation("tanh", torch.tanh, (-1.0, 1.0)),
    Activation("sigmoid", torch.sigmoid, (0.0, 1.0)),
    Activation("softsign", F.softsign, (-1.0, 1.0)),
    Activation("hardtanh", F.hardtanh, (-1.0, 1.0)),
):
    ACTIVATIONS.add(_act.name, _act)


@dataclass(frozen=True)
class Arch:
    """A network body and how it trains fastest.

    `channels_last`: train in NHWC memory layout. oneDNN (CPU) and cuDNN (GPU) run these
    convolutions and the pooling after them faster that way (`make bench`, 2 CPU cores: mnist-cnn
    training 36% -> 53% of the fp32 matmul reference; docs/performance.md). It changes the order of
    float summation, so weights differ from an NCHW run in the last bits (deterministic either way;
    recorded in run.json as `provenance.memory_format`). The 8x8 digits model gains nothing
    measurable and stays NCHW, so its results (and CI's baseline) are unchanged.
    """

    build: Callable[[DatasetSpec], nn.Module]
    channels_last: bool = False
    # hotbench's own bodies take inputs normalised with the dataset's mean and std; a user's module
    # (`--arch MODULE:CALLABLE`) is promised inputs in [0, 1], as RobustBench's models are.
    normalize: bool = True

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def layout_name(fmt: torch.memory_format) -> str:
    """How run.json and `make bench` name a memory layout."""
    return "channels_last" if fmt == torch.channels_last else "contiguous"


# Every body below pools *before* its ReLU. max and ReLU commute (ReLU is monotone), and the
# gradient reaches the same element either way (tests/test_models.py checks both bit for bit), but
# the ReLU and its backward then touch a quarter of the elements: the textbook order's cost, without
# its result.


def digits_cnn(spec: DatasetSpec) -> nn.Module:
    """Small CNN for 8x8 inputs (the embedded digits set)."""
    side = spec.size // 2
    return nn.Sequential(
        nn.Conv2d(spec.channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * side * side, 128),
        nn.ReLU(),
        nn.Linear(128, spec.num_classes),
    )


def mnist_cnn(spec: DatasetSpec) -> nn.Module:
    """The two-conv CNN of PyTorch's MNIST example (the field's standard small MNIST model)."""
    side = (spec.size - 4) // 2
    return nn.Sequential(
        nn.Conv2d(spec.channels, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * side * side, 128),
        nn.ReLU(),
        nn.Linear(128, spec.num_classes),
    )


def cifar_vgg(spec: DatasetSpec) -> nn.Module:
    """VGG-style CNN: three blocks of two 3x3 convolutions with batch norm, then two dense
    layers."""
    layers: list[nn.Module] = []
    c_in = spec.channels
    for c_out in (64, 128, 256):
        layers += [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.MaxPool2d(2),
            nn.ReLU(),
        ]
        c_in = c_out
    side = spec.size // 8
    layers += [
        nn.Flatten(),
        nn.Linear(256 * side * side, 256),
        nn.ReLU(),
        nn.Linear(256, spec.num_classes),
    ]
    return nn.Sequential(*layers)


ARCHS.add("digits-cnn", Arch(digits_cnn))
ARCHS.add("mnist-cnn", Arch(mnist_cnn, channels_last=True))
ARCHS.add("cifar-vgg", Arch(cifar_vgg, channels_last=True))


# ---- users' own architectures: --arch MODULE:CALLABLE --------------------------------------------
def _user_arch(path: str) -> Arch:
    fn = import_callable(path)

    def build(spec: DatasetSpec) -> nn.Module:
        try:
            with user_code(f"arch '{path}'"):
                body = fn(
                    input_shape=(spec.channels, spec.size, spec.size), num_classes=spec.num_classes
                )
        except HotbenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's callable raised
            raise HotbenchError(
                f"arch '{path}' raised {type(exc).__name__}: {exc}".splitlines()[0],
                "it is called as CALLABLE(input_shape=(C, H, W), num_classes=K); fix it",
            ) from None
        if not isinstance(body, nn.Module):
            raise HotbenchError(
                f"arch '{path}' returned a {type(body).__name__}, not a torch.nn.Module",
                "return the network (an nn.Module mapping inputs in [0, 1] to logits)",
            )
        return body

    return Arch(build, channels_last=False, normalize=False)


def get_arch(name: str) -> Arch:
    """A registered arch, or a user's `MODULE:CALLABLE`."""
    return _user_arch(name) if is_import_path(name) else ARCHS.get(name)


def arch_source(name: str) -> dict[str, Any] | None:
    """Where a user's arch comes from and the SHA-256 of its source file, for run.json: the import
    path names the code, the hash says whether it is the same code (None for hotbench's own)."""
    if not is_import_path(name):
        return None
    fn = import_callable(name)
    try:
        file = inspect.getsourcefile(fn) or inspect.getfile(fn)
    except TypeError:
        file = None
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest() if file else None
    return {"import_path": name, "file": file, "sha256": digest}


class HotNet(nn.Module):
    """Normalisation -> body -> logits z -> act(z / T). Inputs are in [0, 1]."""

    def __init__(
        self,
        body: nn.Module,
        act: str,
        train_temp: float,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> None:
        super().__init__()
        self.body = body
        self.act = ACTIVATIONS.get(act)
        self.train_temp = float(train_temp)
        self.user_arch: str | None = None  # a user's MODULE:CALLABLE: its forward is user code
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activation logits z."""
        if self.user_arch is None:
            return self.body((x - self.mean) / self.std)
        with user_code(f"arch '{self.user_arch}': its forward"):  # prints to stderr
            return self.body((x - self.mean) / self.std)

    def head(self, z: torch.Tensor, temp: float) -> torch.Tensor:
        return self.act.fn(z / temp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output at the training temperature (what training minimises cross-entropy on)."""
        return self.head(self.logits(x), self.train_temp)

    def deployed(self, temp: float | None = None) -> OutputView:
        return OutputView(self, self.train_temp if temp is None else temp)


class OutputView(nn.Module):
    """The deployed model: act(z / T_eval). The attacks of the paper follow this output's
    gradient."""

    def __init__(self, net: HotNet, temp: float) -> None:
        super().__init__()
        self.net = net
        self.temp = float(temp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.head(self.net.logits(x), self.temp)


class LogitView(nn.Module):
    """z / T_train: the output activation removed, at the scale the network was trained at.

    Cross-entropy on this neither vanishes (no saturated activation) nor saturates the softmax (the
    1/T undoes the learnt logit scale): Carlini and Wagner's attack on defensive distillation.
    """

    def __init__(self, net: HotNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(x) / self.net.train_temp


def build_model(spec: DatasetSpec, arch: str, act: str, train_temp: float) -> HotNet:
    """The network `arch` for the dataset `spec`, under hotbench's act(z / T) head."""
    a = get_arch(arch)
    body = a.build(spec)
    if a.normalize:
        net = HotNet(body, act, train_temp, spec.mean, spec.std)
    else:
        net = HotNet(body, act, train_temp, (0.0,) * spec.channels, (1.0,) * spec.channels)
    net.user_arch = arch if is_import_path(arch) else None
    return net


def _sample(spec: DatasetSpec, n: int) -> torch.Tensor:
    return torch.rand(
        n, spec.channels, spec.size, spec.size, generator=torch.Generator().manual_seed(0)
    )


def _logits_of(net: HotNet, arch: str, spec: DatasetSpec, n: int, training: bool) -> torch.Tensor:
    """The logits of a batch of `n` in training or evaluation mode, or the one-line error saying
    why the network cannot give them."""
    mode = " in training mode" if training else ""
    net.train(training)
    try:
        with torch.set_grad_enabled(training):
            z = net.logits(_sample(spec, n))
    except HotbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's forward raised
        raise HotbenchError(
            f"arch '{arch}': forward{mode} on a batch of {n} ([{n}, {spec.channels}, {spec.size},"
            f" {spec.size}]) raised {type(exc).__name__}: {exc}".splitlines()[0],
            "make the module accept the dataset's input shape at any batch size (--batch-size"
            " and the last, smaller batch of an epoch)",
        ) from None
    if not isinstance(z, torch.Tensor) or tuple(z.shape) != (n, spec.num_classes):
        got = list(z.shape) if isinstance(z, torch.Tensor) else f"a {type(z).__name__}"
        raise HotbenchError(
            f"arch '{arch}' outputs {got}{mode} for a batch of {n}, expected [{n},"
            f" {spec.num_classes}] ([batch, classes] logits for {spec.name})",
            "return one logit tensor per batch in both modes, with no softmax or activation"
            " (hotbench adds act(z / T))",
        )
    return z


def train_batch_sizes(n_train: int, batch_size: int) -> list[int]:
    """The batch sizes one epoch feeds the network: full batches, and a smaller last one if the
    training set does not divide."""
    sizes = [min(batch_size, n_train)]
    if n_train > batch_size and n_train % batch_size:
        sizes.append(n_train % batch_size)
    return sizes


def check_model(
    spec: DatasetSpec,
    arch: str,
    act: str,
    train_temp: float,
    train_batches: Sequence[int] = (),
) -> HotNet:
    """Build the model and run a batch through it, so that a user's broken network fails here, in
    one line, before anything is trained or stored: an output that is not [batch, classes].

    A user's network (MODULE:CALLABLE) is also run in training mode at each size in
    `train_batches` (`train_batch_sizes`), with a backward pass: one that answers a tuple when
    training (an auxiliary head), fails at the training batch size or on a last batch of one
    (BatchNorm), has no parameters, or whose output no gradient flows back from, would otherwise
    fail mid-training with a traceback. The model comes back in evaluation mode, its gradients
    cleared (its weights are those of a fresh build)."""
    net = build_model(spec, arch, act, train_temp)
    _logits_of(net, arch, spec, 2, training=False)
    if is_import_path(arch) and train_batches:
        params = [p for p in net.body.parameters() if p.requires_grad]
        if not params:
            raise HotbenchError(
                f"arch '{arch}' has no parameters to train", "return a network with weights"
            )
        for n in dict.fromkeys(train_batches):
            z = _logits_of(net, arch, spec, n, training=True)
            if not z.requires_grad:
                raise HotbenchError(
                    f"arch '{arch}': no gradient flows from its output to its parameters in"
                    " training mode (detached, or computed under no_grad)",
                    "return logits computed from the network's weights, with autograd on",
                )
            try:
                with user_code(f"arch '{arch}': its backward"):
                    z.float().logsumexp(1).mean().backward()
            except HotbenchError:
                raise
            except Exception as exc:  # noqa: BLE001 - a custom autograd function raised
                raise HotbenchError(
                    f"arch '{arch}': backward on a batch of {n} raised {type(exc).__name__}:"
                    f" {exc}".splitlines()[0],
                    "make the network differentiable",
                ) from None
            _logits_of(net, arch, spec, n, training=False)
        net.zero_grad(set_to_none=True)
    return net.eval()


def predict(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Argmax predictions; ties (saturated outputs at exactly the bound) go to the lowest index, as
    torch does.

    Inference only (no graph kept), so the batch can be as large as memory allows: 1024 on CPU
    (larger gains nothing on a few cores), 8192 on an accelerator, where small batches leave it
    idle."""
    device = next(model.parameters()).device
    if batch_size is None:
        batch_size = 1024 if device.type == "cpu" else 8192
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch_size):
            out.append(model(x[i : i + batch_size].to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)
