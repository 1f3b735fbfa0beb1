"""A targeted attack's targets: torchattacks' own choice of target class, made on the host, and
handed to the tracked model so that it keeps the first point that reaches the target.

The targets are stored per sample, so the report shows targeted success. Where the target was never
reached, the attack's own final point is judged as usual: it still counts in the untargeted worst
case where it misclassified.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from ..config import AttackConfig
from .spec import check_targeted
from .tracking import Tracked


def _host_targets(atk: Any, mode: str, inputs: torch.Tensor, labels: torch.Tensor | None = None):
    """torchattacks' own choice of target (least-likely: the k-th smallest output among the other
    classes; random: one `torch.rand([1])` draw per sample from the global generator), computed on
    the host.

    torchattacks 3.5.1 loops over the samples on the attack's device: on a GPU every iteration
    reads and writes single elements, so choosing the targets of one batch of 2,500 MNIST images
    took about 2 s, against 0.06 s for the whole untargeted FGSM unit (measured on an H100, issue
    18). The same loop over host copies makes the same choices, in the same order, from the same
    random draws, in milliseconds."""
    outputs = atk.get_output_with_eval_nograd(inputs).cpu()
    labels = outputs.argmax(1) if labels is None else labels.cpu()
    n_classes = outputs.shape[-1]
    target = torch.zeros_like(labels)
    for i in range(labels.shape[0]):
        others = list(range(n_classes))
        others.remove(int(labels[i]))
        if mode == "random":
            t = int(len(others) * torch.rand([1]))
        else:
            t = int(torch.kthvalue(outputs[i][others], atk._kth_min).indices)
        target[i] = others[t]
    return target.long().to(atk.device)


def set_target_mode(atk: Any, cfg: AttackConfig, tracked: Tracked) -> None:
    """Put the attack in its targeted mode and let `tracked` see the targets it chooses."""
    if check_targeted(cfg.method, cfg.targeted) is None:
        return
    if cfg.targeted == "random":
        atk.set_mode_targeted_random(quiet=True)
    else:
        atk.set_mode_targeted_least_likely(quiet=True)
    atk._target_map_function = functools.partial(_host_targets, atk, cfg.targeted)
    choose = atk.get_target_label

    def get_target_label(inputs, labels=None):
        target = choose(inputs, labels)
        if inputs.shape == tracked.x0.shape:
            tracked.target = target.detach().to(tracked.y.device)
        return target

    atk.get_target_label = get_target_label
