"""Squeeze-and-excitation (Hu et al. 2018, "Squeeze-and-Excitation Networks", eq. 2-4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.layers.activations import make_act
from search_spaces.layers.base import Cost, Size
from search_spaces.layers.conv import ConvSpec
from search_spaces.rounding import make_divisible

__all__ = ["SESpec", "SqueezeExcite", "se_channels"]


def se_channels(base: int, ratio: float, divisor: int = 1) -> int:
    """Width of the SE bottleneck.

    EfficientNet / MnasNet TF code: ``max(1, int(input_filters * se_ratio))`` (``divisor=1``),
    where the base is the block's *input* width, not its expanded width.
    torchvision MobileNetV3: ``_make_divisible(expanded // 4, 8)`` (``divisor=8``, base =
    expanded width).
    """
    raw = int(base * ratio)
    return max(1, raw) if divisor == 1 else make_divisible(raw, divisor)


class SqueezeExcite(nn.Module):
    """Global average pool -> 1x1 reduce -> act -> 1x1 expand -> gate -> rescale the input."""

    def __init__(self, channels: int, reduced: int, act: str, gate: str) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = make_act(act, inplace=True)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = make_act(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.expand(self.act(self.reduce(scale)))
        return x * self.gate(scale)


@dataclass(frozen=True)
class SESpec:
    """A resolved squeeze-excitation layer over ``channels`` squeezed to ``reduced``."""

    channels: int
    reduced: int
    act: str
    gate: str

    def build(self) -> SqueezeExcite:
        """A fresh :class:`SqueezeExcite`."""
        return SqueezeExcite(self.channels, self.reduced, self.act, self.gate)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        """Two biased 1x1 convs on the pooled 1x1 map; the output keeps the input size."""
        reduce, _ = ConvSpec(self.channels, self.reduced, bias=True).cost((1, 1))
        expand, _ = ConvSpec(self.reduced, self.channels, bias=True).cost((1, 1))
        return reduce + expand, size
