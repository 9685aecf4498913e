"""Primitives of a classifier head: global pooling, linear layers, dropout."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from search_spaces.layers.activations import make_act
from search_spaces.layers.base import FREE, Cost, Size

__all__ = ["ActSpec", "DropoutSpec", "GlobalPoolSpec", "LinearSpec"]


@dataclass(frozen=True)
class GlobalPoolSpec:
    """Global average pooling to a flat ``(N, C)`` tensor; no parameters, no MACs counted."""

    def build(self) -> nn.Module:
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return FREE, (1, 1)


@dataclass(frozen=True)
class LinearSpec:
    """A fully connected layer ``cin -> cout``."""

    cin: int
    cout: int
    bias: bool = True

    def build(self) -> nn.Linear:
        return nn.Linear(self.cin, self.cout, bias=self.bias)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        params = self.cin * self.cout + (self.cout if self.bias else 0)
        return Cost(params, self.cin * self.cout, self.cout), size


@dataclass(frozen=True)
class ActSpec:
    """A standalone activation (after a linear layer, or before a conv in pre-activation ops).

    Attributes:
        name: Activation name.
        inplace: Whether it may overwrite its input; must be false where the input
            feeds other layers too (a cell's hidden states feed several ops).
    """

    name: str
    inplace: bool = True

    def build(self) -> nn.Module:
        return make_act(self.name, inplace=self.inplace)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return FREE, size


@dataclass(frozen=True)
class DropoutSpec:
    """Dropout before the classifier (Srivastava et al. 2014)."""

    rate: float

    def build(self) -> nn.Module:
        return nn.Dropout(self.rate) if self.rate > 0 else nn.Identity()

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return FREE, size
