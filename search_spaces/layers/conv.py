"""Convolution + norm + activation: the one conv factory every block uses.

TensorFlow "SAME" padding (output ``ceil(in / stride)``, extra zero on the bottom/right)
differs from PyTorch's symmetric padding only for strided convolutions and even kernels, so
only those pad dynamically; stride-1 odd kernels use the equivalent static padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from search_spaces.genome import Norm
from search_spaces.layers.activations import make_act
from search_spaces.layers.base import Cost, Size
from search_spaces.layers.norms import NORMS, make_norm

__all__ = ["Conv2dSame", "ConvNormAct", "ConvSpec", "conv_out_size", "pair", "same_pad"]


def same_pad(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Total TensorFlow SAME padding along one axis (the extra element goes bottom/right)."""
    return max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


def conv_out_size(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Output length of a convolution (or pooling) along one axis.

    Args:
        size: Input length.
        kernel: Kernel size (odd).
        stride: Stride.
        padding: ``symmetric`` (pad ``(kernel - 1) // 2 * dilation`` on both sides),
            ``same`` (TensorFlow: output ``ceil(size / stride)``) or ``valid`` (no padding).
        dilation: Dilation.
    """
    if padding == "same":
        return math.ceil(size / stride)
    pad = 0 if padding == "valid" else (kernel - 1) // 2 * dilation
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def pair(kernel: int | tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` of a square (int) or rectangular (pair) kernel."""
    return (kernel, kernel) if isinstance(kernel, int) else kernel


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's dynamic, possibly asymmetric SAME padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        pad_h = same_pad(ih, self.kernel_size[0], self.stride[0], self.dilation[0])
        pad_w = same_pad(iw, self.kernel_size[1], self.stride[1], self.dilation[1])
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvNormAct(nn.Module):
    """``conv -> norm -> act``; absent parts are identities so ``forward`` is one straight line."""

    def __init__(self, conv: nn.Conv2d, norm: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv = conv
        self.bn = norm
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


@dataclass(frozen=True)
class ConvSpec:
    """A resolved convolution with optional norm and activation.

    Attributes:
        cin: Input channels.
        cout: Output channels.
        kernel: Kernel size (odd), or ``(height, width)`` for a rectangular kernel
            (the 1x7 / 7x1 convolutions of the NASNet op table).
        stride: Stride, or ``(height, width)`` strides (TF's 1x7 conv strides only along width).
        groups: Groups (``cin`` for a depthwise conv).
        norm: Norm settings, or ``None`` for no norm.
        act: Activation name, empty for none.
        bias: Whether the conv has a bias (never with a norm in our blocks).
        padding: ``symmetric``, ``same`` or ``valid``.
        dilation: Dilation.
    """

    cin: int
    cout: int
    kernel: int | tuple[int, int] = 1
    stride: int | tuple[int, int] = 1
    groups: int = 1
    norm: Norm | None = None
    act: str = ""
    bias: bool = False
    padding: str = "symmetric"
    dilation: int = 1

    def build(self) -> ConvNormAct:
        """A fresh :class:`ConvNormAct` for this spec."""
        (sh, sw), (kh, kw) = pair(self.stride), pair(self.kernel)
        # TF SAME is static and symmetric only for stride 1 and an odd kernel; else pad per input, maybe unevenly
        dynamic = self.padding == "same" and (sh > 1 or sw > 1 or kh % 2 == 0 or kw % 2 == 0)
        conv_cls = Conv2dSame if dynamic else nn.Conv2d
        pad = (0, 0) if dynamic or self.padding == "valid" else ((kh - 1) // 2 * self.dilation, (kw - 1) // 2 * self.dilation)
        conv = conv_cls(self.cin, self.cout, (kh, kw), (sh, sw), pad, self.dilation, self.groups, self.bias)
        norm = make_norm(self.cout, self.norm) if self.norm is not None else nn.Identity()
        return ConvNormAct(conv, norm, make_act(self.act, inplace=self.norm is not None))

    def cost(self, size: Size) -> tuple[Cost, Size]:
        """Params, MACs and output elements at input ``size``; and the output size."""
        kernel, stride = self.kernel, self.stride
        if type(kernel) is int and type(stride) is int:  # the common square case, computed once for both axes
            kh = kw = kernel
            h = conv_out_size(size[0], kernel, stride, self.padding, self.dilation)
            w = h if size[1] == size[0] else conv_out_size(size[1], kernel, stride, self.padding, self.dilation)
        else:
            (kh, kw), (sh, sw) = pair(kernel), pair(stride)
            h = conv_out_size(size[0], kh, sh, self.padding, self.dilation)
            w = conv_out_size(size[1], kw, sw, self.padding, self.dilation)
        weights = self.cout * (self.cin // self.groups) * kh * kw
        params = weights + (self.cout if self.bias else 0)
        if self.norm is not None:
            params += NORMS.get(self.norm.name).params_per_channel * self.cout
        return Cost(params, weights * h * w, self.cout * h * w), (h, w)
