"""Squeeze-and-excitation (Hu et al. 2018, "Squeeze-and-Excitation Networks", eq. 2-4) and its width rule.

The SE bottleneck width is ``ratio`` times a base width, rounded. Which base (the block's
input, middle or output width, ``Quirks.se_base``) a block may use is the block type's to
say (:meth:`search_spaces.blocks.BlockType.se_width`); the roundings are here, by name
(:data:`SE_ROUNDINGS`), one per family of reference code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.layers.activations import make_act
from search_spaces.layers.base import Cost, Size
from search_spaces.layers.conv import ConvSpec
from search_spaces.rounding import make_divisible

__all__ = ["SE_ROUNDINGS", "SESpec", "SqueezeExcite", "se_channels"]


def _truncate(base: int, ratio: float, divisor: int) -> int:
    """The MBConv family's rounding: truncate, then optionally round to a multiple of ``divisor``.

    EfficientNet / MnasNet TF code (``efficientnet_model.py``, ``MBConvBlock``):
    ``max(1, int(input_filters * se_ratio))`` (``divisor`` 1). torchvision MobileNetV3
    (``mobilenetv3.py``, ``SqueezeExcitation``): ``_make_divisible(expanded // 4, 8)``,
    the truncated width rounded with the 90% guard (``divisor`` 8).
    """
    raw = int(base * ratio)
    return max(1, raw) if divisor == 1 else make_divisible(raw, divisor)


def _round(base: int, ratio: float, divisor: int) -> int:
    """The residual family's rounding: round to nearest, or to a multiple of ``divisor`` without a guard.

    pycls (``pycls/models/anynet.py``, ``BottleneckTransform``): ``w_se = int(round(w_in *
    se_r))``, as timm's RegNet (``int(round(in_chs * se_ratio))``); ``divisor`` 1. timm's
    ``SEModule`` (``timm/layers/squeeze_excite.py``, SE-ResNet / SE-ResNeXt):
    ``make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.)`` (``divisor`` 8).
    """
    if divisor > 1:
        return make_divisible(base * ratio, divisor, round_limit=0.0)
    return max(1, int(round(base * ratio)))


#: SE width rounding by name: ``(base, ratio, divisor) -> width``. Block types name theirs
#: (``BlockType.se_rounding``); ``divisor`` is ``Quirks.se_divisor``.
SE_ROUNDINGS: dict[str, Callable[[int, float, int], int]] = {"truncate": _truncate, "round": _round}


def se_channels(base: int, ratio: float, divisor: int = 1, rounding: str = "truncate") -> int:
    """Width of the SE bottleneck: ``ratio`` of ``base`` rounded by the :data:`SE_ROUNDINGS` entry ``rounding``.

    Args:
        base: The width SE is a ratio of (a block's input, middle or output width).
        ratio: The SE ratio (``Stage.se``), 0 < ratio < 1.
        divisor: ``Quirks.se_divisor``: 1, or the multiple the width is rounded to.
        rounding: ``truncate`` (TF EfficientNet / MnasNet, torchvision MobileNetV3) or
            ``round`` (pycls RegNet, timm SE-ResNet).
    """
    return SE_ROUNDINGS[rounding](base, ratio, divisor)


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
