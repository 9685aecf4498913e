"""Visual Attention Network blocks (Guo et al. 2022, "Visual Attention Network", sec. 3, fig. 3).

- ``van``: two residual sub-blocks, each scaled by a layer scale (init 1e-2) before the
  addition (fig. 3d; the official ``Block``):

  1. ``BN -> attention -> layer scale``, where attention is ``1x1 conv -> GELU -> LKA ->
     1x1 conv`` plus its own input (the code's ``SpatialAttention`` shortcut), and Large
     Kernel Attention (sec. 3.2, eq. 1-2) is ``x * conv1x1(dw-d-conv 7x7, dilation 3
     (dw-conv 5x5 (x)))``: a 21x21 receptive field from a 5x5 depthwise conv, a 7x7
     depthwise conv with dilation 3 and a 1x1 conv, multiplied with the input;
  2. ``BN -> 1x1 conv to r*C -> 3x3 depthwise conv -> GELU -> 1x1 conv to C -> layer
     scale`` (the convolutional feed-forward network, "CFF"), ``r`` = the stage's ``expand``
     (the paper's MLP ratio, table 2: 8, 8, 4, 4).

  Every conv has a bias; the norm is the network's (``batchnorm``).
- ``van_embed``: the overlapping patch embedding that opens stages 2-4, ``k x k conv (bias),
  stride s, padding k // 2 -> BN`` (k = 3, s = 2; the first stage's 7x7/4 one is the
  genome's stem).
- ``van_norm``: the LayerNorm (eps 1e-6) that closes every stage in the code, over the
  channels of every position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from search_spaces.blocks.base import BLOCKS, BlockContext, BlockType, ChainBlock, ChainBlockType, Plan, plan_cost
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ActSpec, ConvSpec, Cost, LayerScaleSpec, NormSpec, Size
from search_spaces.layers.channel_norm import layer_norm

__all__ = [
    "LAYER_SCALE_INIT", "LKA", "LKASpec", "VANBlock", "VANModule", "VANNorm", "VANSpec", "VANStageSpec", "van_plans",
]

#: Initial value of both layer scales of a VAN block (the official code's ``layer_scale_init_value``).
LAYER_SCALE_INIT = 1e-2
#: Epsilon of the LayerNorm closing each stage (the official ``van_b*`` definitions).
STAGE_NORM_EPS = 1e-6


class LKA(nn.Module):
    """Large Kernel Attention (Guo et al. 2022, eq. 1-2): ``x * conv1(conv_spatial(conv0(x)))``."""

    def __init__(self, spec: LKASpec) -> None:
        super().__init__()
        self.conv0 = spec.local().build()
        self.conv_spatial = spec.spatial().build()
        self.conv1 = spec.channel().build()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv1(self.conv_spatial(self.conv0(x)))


@dataclass(frozen=True)
class LKASpec:
    """A resolved LKA over ``channels``: ``kernel`` dw conv, ``dilated_kernel`` dw conv with ``dilation``, 1x1 conv.

    The defaults decompose a 21x21 convolution as the paper does (K = 21, d = 3: a
    ``(2d - 1)``-square local conv and a ``ceil(K / d)``-square dilated conv).
    """

    channels: int
    kernel: int = 5
    dilated_kernel: int = 7
    dilation: int = 3

    def local(self) -> ConvSpec:
        """The depthwise conv (spatial local convolution)."""
        return ConvSpec(self.channels, self.channels, self.kernel, groups=self.channels, bias=True)

    def spatial(self) -> ConvSpec:
        """The depthwise dilated conv (spatial long-range convolution)."""
        return ConvSpec(self.channels, self.channels, self.dilated_kernel, groups=self.channels, bias=True,
                        dilation=self.dilation)

    def channel(self) -> ConvSpec:
        """The 1x1 conv (channel convolution)."""
        return ConvSpec(self.channels, self.channels, 1, bias=True)

    def build(self) -> LKA:
        return LKA(self)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        total = Cost()
        for conv in (self.local(), self.spatial(), self.channel()):
            part, size = conv.cost(size)
            total = total + part
        return total, size


@dataclass(frozen=True)
class AttentionSpec:
    """The code's ``SpatialAttention``: ``1x1 conv -> act -> LKA -> 1x1 conv`` plus its own input."""

    channels: int
    act: str

    def plan(self) -> Plan:
        c = self.channels
        return Plan((("proj_1", ConvSpec(c, c, 1, bias=True)), ("act", ActSpec(self.act)), ("lka", LKASpec(c)),
                     ("proj_2", ConvSpec(c, c, 1, bias=True))), residual=True)

    def build(self) -> ChainBlock:
        return ChainBlock(self.plan())

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return plan_cost(self.plan(), size)


@dataclass(frozen=True)
class VANSpec:
    """A resolved VAN block over ``cin`` channels with MLP width ``mid``; ``drop_path`` excluded from equality."""

    kind: str
    cin: int
    cout: int
    stride: int
    mid: int
    act: str
    norm: Norm
    drop_path: float = field(compare=False)


def van_plans(spec: VANSpec) -> tuple[Plan, Plan]:
    """Pure: the attention and feed-forward sub-blocks of a VAN block."""
    c, mid = spec.cin, spec.mid
    attention = Plan((("norm1", NormSpec(c, spec.norm)), ("attn", AttentionSpec(c, spec.act)),
                      ("layer_scale_1", LayerScaleSpec(c, LAYER_SCALE_INIT))),
                     residual=True, drop_path=spec.drop_path)
    mlp = Plan((("norm2", NormSpec(c, spec.norm)), ("fc1", ConvSpec(c, mid, 1, bias=True)),
                ("dwconv", ConvSpec(mid, mid, 3, groups=mid, bias=True)), ("act", ActSpec(spec.act)),
                ("fc2", ConvSpec(mid, c, 1, bias=True)), ("layer_scale_2", LayerScaleSpec(c, LAYER_SCALE_INIT))),
               residual=True, drop_path=spec.drop_path)
    return attention, mlp


class VANModule(nn.Module):
    """A built VAN block: ``x + ls1 * attn(norm1(x))``, then ``x + ls2 * mlp(norm2(x))``."""

    def __init__(self, spec: VANSpec) -> None:
        super().__init__()
        attention, mlp = van_plans(spec)
        self.attention = ChainBlock(attention)
        self.mlp = ChainBlock(mlp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attention(x))


class VANBlock(BlockType):
    """The ``van`` block type (see the module docstring); the stage's ``expand`` is the MLP ratio."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> VANSpec:
        if ctx.stride != 1 or ctx.cin != ctx.cout:
            raise GenomeError(f"stride must be 1 and channels equal the input width ({ctx.cin}) in a van stage, "
                              f"got stride {ctx.stride} and {ctx.cout} channels; change width with a van_embed "
                              f"stage before it", "channels")
        mid = int(ctx.cin * stage.expand)  # the code's int(dim * mlp_ratio)
        return VANSpec("van", ctx.cin, ctx.cout, 1, mid, ctx.act, ctx.norm, ctx.drop_path)

    def build(self, spec: VANSpec) -> VANModule:
        return VANModule(spec)

    def cost(self, spec: VANSpec, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        attention, mlp = van_plans(spec)
        first, size = plan_cost(attention, size)
        second, size = plan_cost(mlp, size)
        return first + second, size


@dataclass(frozen=True)
class VANStageSpec:
    """A resolved ``van_embed`` (conv ``kernel``/``stride`` + norm) or ``van_norm`` (LayerNorm) stage."""

    kind: str
    cin: int
    cout: int
    stride: int
    kernel: int
    norm: Norm
    drop_path: float = field(default=0.0, compare=False)


class VANEmbed(ChainBlockType):
    """``van_embed``: overlapping patch embedding, ``k x k conv (bias), stride s, padding k // 2 -> norm``."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> VANStageSpec:
        return VANStageSpec("van_embed", ctx.cin, ctx.cout, ctx.stride, stage.kernel, ctx.norm)

    def plan(self, spec: VANStageSpec) -> Plan:
        return Plan((("proj", ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=spec.norm, bias=True)),))


class VANNorm(ChainBlockType):
    """``van_norm``: LayerNorm (eps 1e-6) over the channels; keeps width and size (``channels`` ignored)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> VANStageSpec:
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 in a van_norm stage, got {ctx.stride}", "stride")
        return VANStageSpec("van_norm", ctx.cin, ctx.cin, 1, 1, layer_norm(STAGE_NORM_EPS))

    def plan(self, spec: VANStageSpec) -> Plan:
        return Plan((("norm", NormSpec(spec.cin, spec.norm)),))


BLOCKS.register("van", VANBlock())
BLOCKS.register("van_embed", VANEmbed())
BLOCKS.register("van_norm", VANNorm())
