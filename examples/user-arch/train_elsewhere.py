"""The same network trained by the user's own loop (plain PyTorch), saved as safetensors: what a
user brings to `hotbench import-weights`. Usage: python train_elsewhere.py OUT.safetensors DATA_DIR
[N_TRAIN]"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from my_nets.resnet import build
from safetensors.torch import save_file
from torchvision.datasets import MNIST


def main() -> None:
    out, data_dir = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 60000
    ds = MNIST(data_dir, train=True)
    x = ds.data[:n, None].float() / 255
    y = ds.targets[:n]
    torch.manual_seed(0)
    net = build(input_shape=(1, 28, 28), num_classes=10)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for i in range(0, len(y), 128):  # one epoch
        loss = F.cross_entropy(net(x[i : i + 128]), y[i : i + 128])
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, out)


if __name__ == "__main__":
    main()
