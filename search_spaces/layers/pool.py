"""Spatial pooling and the factorized reduction of NASNet-style cells.

Pooling has no parameters and, like ``FlopCounterMode``, no counted MACs; its output size
follows the same padding rules as convolutions (:func:`conv_out_size`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from search_spaces.genome import Norm
from search_spaces.layers.activations import make_act
from search_spaces.layers.base import FREE, Cost, Size
from search_spaces.layers.conv import conv_out_size, same_pad
from search_spaces.layers.norms import NORMS, make_norm

__all__ = ["AvgPoolPadSpec", "FactorizedReduce", "FactorizedReduceSpec", "PoolSame", "PoolSpec"]

POOL_KINDS = ("max", "avg")


class PoolSame(nn.Module):
    """Pooling with TensorFlow's dynamic SAME padding (strided, or with an even window).

    As timm's ``MaxPool2dSame`` / ``AvgPool2dSame``: max pooling pads with ``-inf``;
    average pooling pads with zeros that *are* counted in the average (the padding is
    explicit, so ``count_include_pad`` no longer sees it).
    """

    def __init__(self, kind: str, kernel: int, stride: int) -> None:
        super().__init__()
        self.kind, self.kernel, self.stride = kind, kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = same_pad(x.shape[-2], self.kernel, self.stride, 1)
        pad_w = same_pad(x.shape[-1], self.kernel, self.stride, 1)
        value = float("-inf") if self.kind == "max" else 0.0
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=value)
        if self.kind == "max":
            return F.max_pool2d(x, self.kernel, self.stride)
        return F.avg_pool2d(x, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"{self.kind}, kernel_size={self.kernel}, stride={self.stride}"


@dataclass(frozen=True)
class PoolSpec:
    """A ``kernel x kernel`` max or average pooling.

    Attributes:
        kind: ``max`` or ``avg``.
        kernel: Window size (odd).
        stride: Stride.
        padding: ``symmetric``, ``same`` or ``valid``. Symmetric average pooling does not
            count the padding (TF "SAME" pooling at stride 1, timm's ``count_include_pad=False``).
        ceil_mode: Round the output size up, so a last partial window still yields an
            output (Caffe's pooling, kept by torchvision's SqueezeNet); ``symmetric`` or
            ``valid`` padding only.
    """

    kind: str
    kernel: int
    stride: int = 1
    padding: str = "symmetric"
    ceil_mode: bool = False

    def build(self) -> nn.Module:
        if self.padding == "same" and (self.stride > 1 or self.kernel % 2 == 0):  # uneven TF padding
            return PoolSame(self.kind, self.kernel, self.stride)
        pad = 0 if self.padding == "valid" else (self.kernel - 1) // 2
        if self.kind == "max":
            return nn.MaxPool2d(self.kernel, self.stride, pad, ceil_mode=self.ceil_mode)
        return nn.AvgPool2d(self.kernel, self.stride, pad, ceil_mode=self.ceil_mode, count_include_pad=False)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        if self.ceil_mode:
            return FREE, (self._ceil_out(size[0]), self._ceil_out(size[1]))
        return FREE, (conv_out_size(size[0], self.kernel, self.stride, self.padding),
                        conv_out_size(size[1], self.kernel, self.stride, self.padding))

    def _ceil_out(self, size: int) -> int:
        """PyTorch's ``ceil_mode`` output length: round up, but no window may start in the right padding."""
        pad = 0 if self.padding == "valid" else (self.kernel - 1) // 2
        out = -(-(size + 2 * pad - self.kernel) // self.stride) + 1
        return out - 1 if (out - 1) * self.stride >= size + pad else out


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
        return FREE, size


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing every other pixel (Zoph et al. 2018, NASNet code).

    ``[act ->] concat(conv1x1(x[::2, ::2]), conv1x1(shift(x)[::2, ::2])) -> norm``, where
    ``shift`` drops the first row and column and zero-pads the last: the two paths see
    the even and the odd pixels.
    """

    def __init__(self, spec: FactorizedReduceSpec) -> None:
        super().__init__()
        half = spec.cout // 2
        self.act = make_act(spec.act, inplace=False) if spec.act else nn.Identity()
        self.conv_1 = nn.Conv2d(spec.cin, half, 1, bias=False)
        self.conv_2 = nn.Conv2d(spec.cin, spec.cout - half, 1, bias=False)
        self.bn = make_norm(spec.cout, spec.norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x[:, :, ::2, ::2]), self.conv_2(shifted[:, :, ::2, ::2])], 1))


@dataclass(frozen=True)
class FactorizedReduceSpec:
    """A :class:`FactorizedReduce` from ``cin`` to ``cout`` channels at stride 2.

    Attributes:
        cin: Input channels.
        cout: Output channels (split ``cout // 2`` and the rest between the two paths).
        norm: Norm settings.
        act: Activation before the paths (TF applies ReLU when reducing a cell's previous
            input, none when reducing an output state); empty for none.
    """

    cin: int
    cout: int
    norm: Norm
    act: str = ""

    def build(self) -> FactorizedReduce:
        return FactorizedReduce(self)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        h, w = (size[0] + 1) // 2, (size[1] + 1) // 2
        params = self.cin * self.cout + NORMS.get(self.norm.name).params_per_channel * self.cout
        return Cost(params, self.cin * self.cout * h * w, self.cout * h * w), (h, w)
