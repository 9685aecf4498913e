"""ShuffleNet units and the channel shuffle.

- Channel shuffle (Zhang et al. 2018, "ShuffleNet: An Extremely Efficient Convolutional
  Neural Network for Mobile Devices", sec. 3.1, fig. 1c): reshape the channels to
  ``(g, n)``, transpose to ``(n, g)``, flatten, so every group of the next grouped conv
  sees every group of the previous one (torchvision's ``channel_shuffle``).
- ``shuffle_v1``: the ShuffleNet unit (Zhang et al. 2018, sec. 3.2, fig. 2b/c):
  ``1x1 GConv -> BN -> ReLU -> shuffle -> 3x3 DWConv (stride) -> BN -> 1x1 GConv -> BN``, then
  ``ReLU(x + branch)`` at stride 1, or ``concat(avgpool3x3/2(x), ReLU(branch))`` at stride 2,
  where the branch produces ``cout - cin`` channels. The bottleneck is a quarter of the
  stage's output width (sec. 3.3: "we set the number of bottleneck channels to 1/4 of the
  output channels"), and the first pointwise conv of the first unit after the stem is not
  grouped ("because the number of input channels is relatively small"). ``Stage.groups``
  is ``g``.
- ``shuffle_v2``: the ShuffleNet V2 unit (Ma et al. 2018, "ShuffleNet V2: Practical
  Guidelines for Efficient CNN Architecture Design", sec. 4, fig. 3c/d). At stride 1 the
  input is split in two halves (channel split); one is kept, the other goes through
  ``1x1 conv -> BN -> ReLU -> 3x3 DWConv -> BN -> 1x1 conv -> BN -> ReLU``; at stride 2 both
  branches read the whole input, the left one ``3x3 DWConv/2 -> BN -> 1x1 conv -> BN -> ReLU``.
  The halves are concatenated and shuffled with two groups (torchvision's
  ``InvertedResidual``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from search_spaces.blocks.base import BLOCKS, BlockContext, BlockType, ChainBlock, Plan, plan_cost
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ConvSpec, Cost, PoolSpec, Size, make_act

__all__ = [
    "ChannelShuffle", "ChannelShuffleSpec", "ShuffleSpec", "ShuffleV1Type", "ShuffleV1Unit", "ShuffleV2Type",
    "ShuffleV2Unit", "channel_shuffle",
]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Channel ``c = i * n + j`` of ``groups`` groups of ``n`` moves to ``j * groups + i`` (Zhang et al. 2018, fig. 1c)."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ChannelShuffle(nn.Module):
    """:func:`channel_shuffle` as a module."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


@dataclass(frozen=True)
class ChannelShuffleSpec:
    """A channel shuffle of ``groups`` groups: no parameters, no MACs."""

    groups: int

    def build(self) -> ChannelShuffle:
        return ChannelShuffle(self.groups)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return Cost(), size


@dataclass(frozen=True)
class ShuffleSpec:
    """A resolved ShuffleNet (v1 or v2) unit.

    Attributes:
        kind: ``shuffle_v1`` or ``shuffle_v2``.
        cin: Input channels.
        cout: Output channels.
        stride: Stride of the depthwise conv(s).
        kernel: Kernel size of the depthwise conv(s).
        mid: Bottleneck width (v1: ``cout / 4``; v2: ``cout / 2``, each branch's width).
        groups: Groups of v1's pointwise convs (``g``); 1 for v2.
        first_groups: Groups of v1's first pointwise conv (1 right after the stem).
        act: Activation name.
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
        drop_path: Unused; excluded from equality.
    """

    kind: str
    cin: int
    cout: int
    stride: int
    kernel: int
    mid: int
    groups: int
    first_groups: int
    act: str
    norm: Norm
    padding: str
    drop_path: float = field(default=0.0, compare=False)


def _check_divisible(value: int, by: int, what: str, field_name: str) -> None:
    if value % by:
        raise GenomeError(f"{field_name}: {what} {value} must be divisible by {by}", field_name)


# ---- ShuffleNet v1 -------------------------------------------------------------------------------------------


def v1_branch(spec: ShuffleSpec) -> Plan:
    """The residual branch of a ShuffleNet v1 unit (fig. 2b/c), up to its last norm."""
    out = spec.cout - spec.cin if spec.stride > 1 else spec.cout
    pad, norm = spec.padding, spec.norm
    layers: tuple[tuple[str, object], ...] = (
        ("conv1", ConvSpec(spec.cin, spec.mid, 1, groups=spec.first_groups, norm=norm, act=spec.act, padding=pad)),
    )
    if spec.groups > 1:
        layers += (("shuffle", ChannelShuffleSpec(spec.groups)),)
    layers += (
        ("dw", ConvSpec(spec.mid, spec.mid, spec.kernel, spec.stride, groups=spec.mid, norm=norm, padding=pad)),
        ("conv2", ConvSpec(spec.mid, out, 1, groups=spec.groups, norm=norm, padding=pad)),
    )
    return Plan(layers)


def v1_shortcut(spec: ShuffleSpec) -> PoolSpec:
    """The stride-2 unit's shortcut: 3x3 average pooling with the unit's stride (fig. 2c)."""
    return PoolSpec("avg", 3, spec.stride, spec.padding)


class ShuffleV1Unit(nn.Module):
    """``relu(x + branch(x))``, or ``concat(avgpool(x), relu(branch(x)))`` when the unit downsamples."""

    def __init__(self, spec: ShuffleSpec) -> None:
        super().__init__()
        self.branch = ChainBlock(v1_branch(spec))
        self.shortcut = v1_shortcut(spec).build() if spec.stride > 1 else None
        self.act = make_act(spec.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            return self.act(x + self.branch(x))
        return torch.cat([self.shortcut(x), self.act(self.branch(x))], 1)


class ShuffleV1Type(BlockType):
    """The ``shuffle_v1`` block type (Zhang et al. 2018, fig. 2b/c, table 1)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> ShuffleSpec:
        g = stage.groups
        mid = ctx.cout // 4
        after_stem = not isinstance(ctx.previous, ShuffleSpec)  # sec. 3.3: no group conv on 24 input channels
        first = 1 if after_stem else g
        if ctx.stride == 1 and ctx.cin != ctx.cout:
            raise GenomeError(f"channels: a stride-1 shuffle_v1 unit adds its input, so it needs {ctx.cin} "
                              f"channels, got {ctx.cout}", "channels")
        if ctx.stride > 1 and ctx.cout <= ctx.cin:
            raise GenomeError(f"channels: a stride-2 shuffle_v1 unit concatenates its input, so it needs more than "
                              f"{ctx.cin} channels, got {ctx.cout}", "channels")
        _check_divisible(mid, g, "the bottleneck width", "groups")
        _check_divisible(ctx.cin, first, "the input width", "groups")
        _check_divisible(ctx.cout - ctx.cin if ctx.stride > 1 else ctx.cout, g, "the branch width", "groups")
        return ShuffleSpec(kind="shuffle_v1", cin=ctx.cin, cout=ctx.cout, stride=ctx.stride, kernel=stage.kernel,
                           mid=mid, groups=g, first_groups=first, act=ctx.act, norm=ctx.norm,
                           padding=ctx.quirks.padding, drop_path=ctx.drop_path)

    def build(self, spec: ShuffleSpec) -> ShuffleV1Unit:
        return ShuffleV1Unit(spec)

    def cost(self, spec: ShuffleSpec, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        return plan_cost(v1_branch(spec), size)  # the add, the pool and the concat count no MACs


# ---- ShuffleNet v2 -------------------------------------------------------------------------------------------


def v2_branches(spec: ShuffleSpec) -> tuple[Plan | None, Plan]:
    """The left (``None`` at stride 1: the kept half) and right branches of a ShuffleNet V2 unit (fig. 3c/d)."""
    b, pad, norm, act = spec.mid, spec.padding, spec.norm, spec.act
    right_in = spec.cin if spec.stride > 1 else b
    right = Plan((
        ("conv1", ConvSpec(right_in, b, 1, norm=norm, act=act, padding=pad)),
        ("dw", ConvSpec(b, b, spec.kernel, spec.stride, groups=b, norm=norm, padding=pad)),
        ("conv2", ConvSpec(b, b, 1, norm=norm, act=act, padding=pad)),
    ))
    if spec.stride == 1:
        return None, right
    left = Plan((
        ("dw", ConvSpec(spec.cin, spec.cin, spec.kernel, spec.stride, groups=spec.cin, norm=norm, padding=pad)),
        ("conv", ConvSpec(spec.cin, b, 1, norm=norm, act=act, padding=pad)),
    ))
    return left, right


class ShuffleV2Unit(nn.Module):
    """``shuffle(concat(left(x), right(x)), 2)``; at stride 1 ``left`` keeps the first half and ``right`` reads the second."""

    def __init__(self, spec: ShuffleSpec) -> None:
        super().__init__()
        left, right = v2_branches(spec)
        self.left = ChainBlock(left) if left is not None else None
        self.right = ChainBlock(right)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.left is None:
            kept, x = x.chunk(2, dim=1)
            out = torch.cat([kept, self.right(x)], 1)
        else:
            out = torch.cat([self.left(x), self.right(x)], 1)
        return channel_shuffle(out, 2)


class ShuffleV2Type(BlockType):
    """The ``shuffle_v2`` block type (Ma et al. 2018, fig. 3c/d, table 5)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> ShuffleSpec:
        _check_divisible(ctx.cout, 2, "the output width", "channels")
        if ctx.stride == 1 and ctx.cin != ctx.cout:
            raise GenomeError(f"channels: a stride-1 shuffle_v2 unit keeps half its input, so it needs {ctx.cin} "
                              f"channels, got {ctx.cout}", "channels")
        return ShuffleSpec(kind="shuffle_v2", cin=ctx.cin, cout=ctx.cout, stride=ctx.stride, kernel=stage.kernel,
                           mid=ctx.cout // 2, groups=1, first_groups=1, act=ctx.act, norm=ctx.norm,
                           padding=ctx.quirks.padding, drop_path=ctx.drop_path)

    def build(self, spec: ShuffleSpec) -> ShuffleV2Unit:
        return ShuffleV2Unit(spec)

    def cost(self, spec: ShuffleSpec, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        left, right = v2_branches(spec)
        total, out = plan_cost(right, size)
        return (total + plan_cost(left, size)[0] if left is not None else total), out


BLOCKS.register("shuffle_v1", ShuffleV1Type())
BLOCKS.register("shuffle_v2", ShuffleV2Type())
