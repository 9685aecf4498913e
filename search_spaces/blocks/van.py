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

from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, PlainSpec, Spec
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import MULTIPLY, ActSpec, ConvSpec, Graph, GraphBuilder, LayerScaleSpec, NormSpec, Plan
from search_spaces.layers.channel_norm import layer_norm

__all__ = ["LAYER_SCALE_INIT", "STAGE_NORM_EPS", "VANBlock", "VANSpec", "large_kernel_attention"]

#: Initial value of both layer scales of a VAN block (the official code's ``layer_scale_init_value``).
LAYER_SCALE_INIT = 1e-2
#: Epsilon of the LayerNorm closing each stage (the official ``van_b*`` definitions).
STAGE_NORM_EPS = 1e-6


def large_kernel_attention(channels: int, kernel: int = 5, dilated_kernel: int = 7, dilation: int = 3) -> Graph:
    """Large Kernel Attention (Guo et al. 2022, eq. 1-2): ``x * conv1(conv_spatial(conv0(x)))``.

    ``conv0`` is the ``kernel`` depthwise conv (spatial local convolution), ``conv_spatial``
    the ``dilated_kernel`` depthwise conv with ``dilation`` (spatial long-range convolution),
    ``conv1`` the 1x1 conv (channel convolution), all with bias. The defaults decompose a
    21x21 convolution as the paper does (K = 21, d = 3: a ``(2d - 1)``-square local conv and
    a ``ceil(K / d)``-square dilated conv).
    """
    c, g = channels, GraphBuilder()
    x = g.input()
    attention = g("conv0", ConvSpec(c, c, kernel, groups=c, bias=True), x)
    attention = g("conv_spatial", ConvSpec(c, c, dilated_kernel, groups=c, bias=True, dilation=dilation), attention)
    attention = g("conv1", ConvSpec(c, c, 1, bias=True), attention)
    g("gate", MULTIPLY, x, attention)
    return g.graph()


def spatial_attention(channels: int, act: str) -> Plan:
    """The code's ``SpatialAttention``: ``1x1 conv -> act -> LKA -> 1x1 conv`` plus its own input."""
    c = channels
    return Plan((("proj_1", ConvSpec(c, c, 1, bias=True)), ("act", ActSpec(act)), ("lka", large_kernel_attention(c)),
                 ("proj_2", ConvSpec(c, c, 1, bias=True))), residual=True)


@dataclass(frozen=True)
class VANSpec(Spec):
    """A resolved VAN block over ``cin`` channels (``cout = cin``, ``stride`` 1).

    Attributes:
        mid: MLP hidden width (``int(C * expand)``).
        act: Activation name (GELU).
        norm: Norm settings (``batchnorm``).
    """

    mid: int
    act: str
    norm: Norm
    drop_path: float = DROP_PATH


class VANBlock(BlockType):
    """The ``van`` block type (see the module docstring); the stage's ``expand`` is the MLP ratio."""

    stage_fields = ("expand", "act")

    def resolve(self, stage: Stage, ctx: BlockContext) -> VANSpec:
        if ctx.stride != 1 or ctx.cin != ctx.cout:
            raise GenomeError(f"stride must be 1 and channels equal the input width ({ctx.cin}) in a van stage, "
                              f"got stride {ctx.stride} and {ctx.cout} channels; change width with a van_embed "
                              f"stage before it", "channels")
        mid = int(ctx.cin * stage.expand)  # the code's int(dim * mlp_ratio)
        return VANSpec("van", ctx.cin, ctx.cout, 1, mid, ctx.act, ctx.norm, ctx.drop_path)

    def plan(self, spec: VANSpec) -> Plan:
        """``x + ls1 * attn(norm1(x))``, then ``x + ls2 * mlp(norm2(x))`` (fig. 3d)."""
        c, mid = spec.cin, spec.mid
        attention = Plan((("norm1", NormSpec(c, spec.norm)), ("attn", spatial_attention(c, spec.act)),
                          ("layer_scale_1", LayerScaleSpec(c, LAYER_SCALE_INIT))),
                         residual=True, drop_path=spec.drop_path)
        mlp = Plan((("norm2", NormSpec(c, spec.norm)), ("fc1", ConvSpec(c, mid, 1, bias=True)),
                    ("dwconv", ConvSpec(mid, mid, 3, groups=mid, bias=True)), ("act", ActSpec(spec.act)),
                    ("fc2", ConvSpec(mid, c, 1, bias=True)), ("layer_scale_2", LayerScaleSpec(c, LAYER_SCALE_INIT))),
                   residual=True, drop_path=spec.drop_path)
        return Plan((("attention", attention), ("mlp", mlp)))


class VANEmbed(BlockType):
    """``van_embed``: overlapping patch embedding, ``k x k conv (bias), stride s, padding k // 2 -> norm``."""

    stage_fields = ("kernel",)

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        return PlainSpec("van_embed", ctx.cin, ctx.cout, ctx.stride, stage.kernel, "", ctx.norm)

    def plan(self, spec: PlainSpec) -> Plan:
        return Plan((("proj", ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=spec.norm, bias=True)),))


class VANNorm(BlockType):
    """``van_norm``: LayerNorm (eps 1e-6) over the channels; keeps width and size (``channels`` not read)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 in a van_norm stage, got {ctx.stride}", "stride")
        return PlainSpec("van_norm", ctx.cin, ctx.cin, 1, 1, "", layer_norm(STAGE_NORM_EPS))

    def plan(self, spec: PlainSpec) -> Plan:
        return Plan((("norm", NormSpec(spec.cin, spec.norm)),))  # type: ignore[arg-type]


BLOCKS.register("van", VANBlock())
BLOCKS.register("van_embed", VANEmbed())
BLOCKS.register("van_norm", VANNorm())
