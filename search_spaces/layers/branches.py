"""Multi-branch layers: a :class:`Fork` runs its layers, then concatenates its branches.

Inception modules (Szegedy et al. 2015, fig. 2b; Szegedy et al. 2016, figs. 5-7) are a fork
of parallel branches; Inception v3's widest module also forks *inside* a branch (a 1x1 conv
feeding a 1x3 and a 3x1 conv whose outputs are concatenated, fig. 7), so a fork's branches
may be forks themselves. Build and cost read the same :class:`Fork`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from search_spaces.layers.base import Cost, Primitive, Size

__all__ = ["AvgPoolPadSpec", "Fork", "ForkModule", "fork_cost"]


@dataclass(frozen=True)
class Fork:
    """``layers`` in sequence, then (if any) ``branches`` applied to their output and concatenated.

    Attributes:
        layers: Named primitive layers applied first.
        branches: Sub-forks whose outputs are concatenated along the channels.
    """

    layers: tuple[tuple[str, Primitive], ...] = ()
    branches: tuple[Fork, ...] = ()


class ForkModule(nn.Module):
    """A built :class:`Fork`: children are its layer names, then ``branch1``, ``branch2``..."""

    def __init__(self, fork: Fork) -> None:
        super().__init__()
        for name, layer in fork.layers:
            self.add_module(name, layer.build())
        self._layers = tuple(name for name, _ in fork.layers)
        self._branches = tuple(f"branch{i}" for i in range(1, len(fork.branches) + 1))
        for name, branch in zip(self._branches, fork.branches):
            self.add_module(name, ForkModule(branch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self._layers:
            x = self._modules[name](x)
        if not self._branches:
            return x
        return torch.cat([self._modules[name](x) for name in self._branches], 1)


def fork_cost(fork: Fork, size: Size) -> tuple[Cost, Size]:
    """Exact cost of a fork at input ``size`` and its output size (every branch must agree on it)."""
    total, out = Cost(), size
    for _, layer in fork.layers:
        part, out = layer.cost(out)
        total = total + part
    if not fork.branches:
        return total, out
    sizes = set()
    for branch in fork.branches:
        part, branch_out = fork_cost(branch, out)
        total, sizes = total + part, sizes | {branch_out}
    if len(sizes) != 1:
        raise ValueError(f"branches of a fork disagree on their output size: {sorted(sizes)}")
    return total, sizes.pop()


class _AvgPoolPad(nn.Module):
    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel, 1, (self.kernel - 1) // 2)


@dataclass(frozen=True)
class AvgPoolPadSpec:
    """Stride-1 ``k x k`` average pooling whose zero padding counts in the average.

    PyTorch's default ``count_include_pad=True``, as torchvision's Inception v3 pools its
    pool branch (``F.avg_pool2d(x, 3, 1, 1)``); no parameters, no MACs counted.
    """

    kernel: int = 3

    def build(self) -> nn.Module:
        return _AvgPoolPad(self.kernel)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return Cost(), size
