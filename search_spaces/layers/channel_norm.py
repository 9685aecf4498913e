"""Layers of the ConvNeXt / VAN generation: channel LayerNorm, layer scale, pointwise linear.

- :class:`LayerNorm2d`: LayerNorm over the channels of every position (Ba et al. 2016, as
  ConvNeXt uses it, Liu et al. 2022 sec. 2.6 "Substituting BN with LN"); registered as the
  ``layernorm`` norm, so a genome names it like ``batchnorm``. It also normalises pooled
  ``(N, C)`` features (torchvision ConvNeXt's final norm).
- :class:`LayerScale`: a learnable per-channel scale on a residual branch (Touvron et al.
  2021, "Going deeper with image transformers", sec. 3; ConvNeXt and VAN use it).
- :class:`PointwiseLinear`: a 1x1 convolution stored as a linear layer's ``(cout, cin)``
  matrix, so ConvNeXt's channels-last MLP runs on ``NCHW`` tensors with torchvision's
  parameter shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from search_spaces.genome import Norm
from search_spaces.layers.base import Cost, Size
from search_spaces.layers.norms import NORMS, NormType

__all__ = ["LayerNorm2d", "LayerScale", "LayerScaleSpec", "PointwiseLinear", "PointwiseLinearSpec"]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over dimension 1 (channels) of ``(N, C, H, W)`` or ``(N, C)`` tensors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.movedim(1, -1), self.normalized_shape, self.weight, self.bias, self.eps).movedim(-1, 1)


NORMS.register("layernorm", NormType(lambda c, n: LayerNorm2d(c, eps=n.eps), 2))


class LayerScale(nn.Module):
    """Multiply each channel by a learnable scale initialised to ``init``.

    The parameter is named ``layer_scale`` and shaped ``(C, 1, 1)`` as in torchvision's
    ``CNBlock``, so reference weights load by name.
    """

    def __init__(self, channels: int, init: float) -> None:
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full((channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_scale * x


@dataclass(frozen=True)
class LayerScaleSpec:
    """A :class:`LayerScale` over ``channels`` (``init``: 1e-6 in ConvNeXt, 1e-2 in VAN); no MACs counted."""

    channels: int
    init: float

    def build(self) -> LayerScale:
        return LayerScale(self.channels, self.init)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return Cost(self.channels), size


class PointwiseLinear(nn.Linear):
    """``nn.Linear`` applied to the channels of an ``NCHW`` tensor (a 1x1 conv with a linear's weight)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight[:, :, None, None], self.bias)


@dataclass(frozen=True)
class PointwiseLinearSpec:
    """A :class:`PointwiseLinear` ``cin -> cout`` with bias; MACs as a 1x1 conv (``cin * cout`` per position)."""

    cin: int
    cout: int

    def build(self) -> PointwiseLinear:
        return PointwiseLinear(self.cin, self.cout)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        positions = size[0] * size[1]
        return Cost(self.cin * self.cout + self.cout, self.cin * self.cout * positions, self.cout * positions), size


def layer_norm(eps: float = 1e-6) -> Norm:
    """The ``layernorm`` norm settings (ConvNeXt's and VAN's codes use eps 1e-6)."""
    return Norm(name="layernorm", eps=eps)
