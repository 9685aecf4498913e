"""What a training-free proxy may touch on a model, and how everything is put back.

A proxy scores the network it is given and must leave it exactly as it found it: a
search scores, then trains or measures, the same module. The pitfalls the papers' code
leaves to the caller are handled here once:

- train/eval flags: proxies switch modes (:func:`batch_statistics_mode`, ``eval``);
  every module's flag is restored.
- batch-norm running statistics: a forward pass in train mode updates them; every
  buffer is restored bit for bit.
- ``requires_grad``: proxies differentiate every conv/linear weight, frozen or not;
  the flags are restored.
- ``.grad``: proxies take gradients with :func:`torch.autograd.grad`, which never writes
  ``.grad``; the tensors found there (usually ``None``) are put back anyway.

Parameters are not snapshotted: no proxy writes them (synflow's absolute, float64
weights live in a separate dict, see :func:`nas.zero_cost.proxies.synflow`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["WEIGHT_LAYERS", "batch_statistics_mode", "preserved", "weight_layers"]

#: Layers whose weights the gradient proxies score (as zero-cost-nas's ``get_layer_metric_array``
#: and ZiCo's ``getgrad``: convolutions and fully connected layers; norms and biases are not scored).
WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every conv/linear layer of ``model``, in module order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]


def batch_statistics_mode(model: nn.Module) -> None:
    """Batch norm in train mode (batch statistics), every other module in eval mode.

    The papers score freshly built networks in train mode, so batch norm normalises with
    the batch's statistics. Their benchmark networks have no dropout or drop-path; ours
    may, and a random mask would make the score random, so those run in eval mode.
    """
    for module in model.modules():
        module.training = isinstance(module, _BatchNorm)


@contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, anything may change modes, buffers and ``requires_grad``; on exit all is restored.

    Inside, every parameter has ``requires_grad=True`` so any weight can be differentiated.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = list(model.parameters())
    flags = [(p, p.requires_grad, p.grad) for p in params]
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        for p in params:
            p.requires_grad_(True)
        yield model
    finally:
        for module, training in modes:
            module.training = training
        for p, requires_grad, grad in flags:
            p.grad = grad
            p.requires_grad_(requires_grad)
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])
