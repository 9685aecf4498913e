"""The cost record and the contract every primitive layer spec fulfils."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import nn

__all__ = ["FREE", "Cost", "Primitive", "Size"]

#: Spatial size (height, width) of a feature map.
Size = tuple[int, int]


@dataclass(frozen=True)
class Cost:
    """Exact cost of a network or a part of it, for one image.

    Attributes:
        params: Every parameter of the built module (norm affine parameters included;
            running statistics are buffers, not parameters).
        macs: Multiply-accumulates of convolutions and linear layers: what the
            EfficientNet, MnasNet and RegNet papers call FLOPs (FlopCounterMode's
            total is twice this).
        activations: Output elements of every convolution and linear layer (the
            RegNet paper's "activations").
    """

    params: int = 0
    macs: int = 0
    activations: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs, self.activations + other.activations)


#: The cost of a layer without parameters or counted MACs (pooling, activations, combinators).
FREE = Cost()


class Primitive(Protocol):
    """A resolved layer description that can both build itself and state its cost.

    Build and cost read the same frozen spec, so they cannot drift apart.
    """

    def build(self) -> nn.Module:
        """Return a freshly initialised module."""
        ...

    def cost(self, size: Size) -> tuple[Cost, Size]:
        """Return the cost at input ``size`` and the output size."""
        ...
