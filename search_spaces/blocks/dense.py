"""DenseNet blocks (Huang et al. 2017, "Densely Connected Convolutional Networks", sec. 3 and table 1).

- ``dense``: one dense layer of DenseNet-BC, ``BN -> ReLU -> 1x1 conv (4k) -> BN -> ReLU ->
  3x3 conv (k)``, whose ``k`` new feature maps are *concatenated* to its input instead of
  added (eq. 2, ``x_l = H_l([x_0, ..., x_{l-1}])``). A stage of ``depth`` dense layers is a
  dense block: layer ``l`` reads ``cin + l * k`` channels and the block outputs
  ``cin + depth * k``. Concatenating once per layer equals torchvision's single
  concatenation of all earlier outputs (``_DenseBlock``), channel for channel.
- ``transition``: ``BN -> ReLU -> 1x1 conv -> 2x2 average pooling`` (stride 2) between
  dense blocks; the stage's ``channels`` is its output width (DenseNet-BC's compression
  ``theta = 0.5`` halves the width: torchvision's ``num_features // 2``).
- ``norm_act``: a norm and the activation on the last dense block's output; torchvision's
  DenseNet ends its features with ``norm5`` and applies ReLU before pooling.

Widths: a dense stage reads its growth rate ``k`` from ``Stage.growth`` (scaled by the
network's width multiplier, rounded to an integer, not to the channel divisor: DenseNet-BC
uses k = 12), its bottleneck width from ``Stage.mid_channels`` or else ``expand * k``
(DenseNet-BC: 4k); its ``channels`` is ignored, since the width follows from the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, PlainSpec, Spec
from search_spaces.blocks.preact import preactivated_conv
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import CONCAT, ActSpec, ConvSpec, Graph, GraphBuilder, NormSpec, Plan, PoolSpec

__all__ = ["DenseLayerType", "DenseSpec", "NormActType", "TransitionType"]


@dataclass(frozen=True)
class DenseSpec(Spec):
    """A resolved dense layer (``cin``: the dense block's input plus every earlier layer's output;
    ``cout = cin + growth``; ``stride`` is 1).

    Attributes:
        growth: ``k``, the channels this layer appends.
        mid: Width of the 1x1 bottleneck conv (DenseNet-BC: ``4k``).
        kernel: Kernel size of the spatial conv (3).
        act: Activation name.
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
    """

    growth: int
    mid: int
    kernel: int
    act: str
    norm: Norm
    padding: str
    drop_path: float = DROP_PATH


def _norm_act(channels: int, norm: Norm, act: str) -> tuple[tuple[str, object], ...]:
    return (("norm", NormSpec(channels, norm)), ("act", ActSpec(act)))


class DenseLayerType(BlockType):
    """The ``dense`` block type: a DenseNet-BC bottleneck layer ``H`` whose output is ``concat(x, H(x))``."""

    fresh_blocks = 1 << 30  # every layer of a dense block reads a wider input: resolve each one
    stage_fields = ("kernel", "expand", "mid_channels", "growth", "act")

    def resolve(self, stage: Stage, ctx: BlockContext) -> DenseSpec:
        if stage.growth < 1:
            raise GenomeError(f"growth must be a positive growth rate for a dense stage, got {stage.growth}",
                              "growth")
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 for a dense stage (transitions downsample), got {ctx.stride}",
                              "stride")
        k = max(1, round(stage.growth * ctx.width_mult))
        mid = ctx.round(stage.mid_channels * ctx.width_mult) if stage.mid_channels else max(1, round(stage.expand * k))
        return DenseSpec(kind="dense", cin=ctx.cin, cout=ctx.cin + k, stride=1, growth=k, mid=mid,
                         kernel=stage.kernel, act=ctx.act, norm=ctx.norm, padding=ctx.quirks.padding,
                         drop_path=ctx.drop_path)

    def plan(self, spec: DenseSpec) -> Graph:
        """``BN -> ReLU -> 1x1 conv -> BN -> ReLU -> k x k conv``, its ``k`` maps concatenated after the input's
        (eq. 2)."""
        g, pad, norm, act = GraphBuilder(), spec.padding, spec.norm, spec.act
        x = g.input()
        _, h = preactivated_conv(g, 1, x, ConvSpec(spec.cin, spec.mid, 1, padding=pad), norm, act)
        _, h = preactivated_conv(g, 2, h, ConvSpec(spec.mid, spec.growth, spec.kernel, padding=pad), norm, act)
        g("cat", CONCAT, x, h)
        return g.graph()


class TransitionType(BlockType):
    """The ``transition`` block type: ``BN -> ReLU -> 1x1 conv -> avg pool`` between dense blocks."""

    stage_fields = ("act",)

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        return PlainSpec("transition", ctx.cin, ctx.cout, ctx.stride, 1, ctx.act, ctx.norm, ctx.quirks.padding)

    def plan(self, spec: PlainSpec) -> Plan:
        layers = _norm_act(spec.cin, spec.norm, spec.act) + (  # type: ignore[arg-type]
            ("conv", ConvSpec(spec.cin, spec.cout, 1, padding=spec.padding)),
        )
        if spec.stride > 1:  # a stride x stride window: torchvision's AvgPool2d(2, 2)
            layers += (("pool", PoolSpec("avg", spec.stride, spec.stride, "valid")),)
        return Plan(layers)


class NormActType(BlockType):
    """The ``norm_act`` block type: norm and activation on the features (torchvision DenseNet's ``norm5`` + ReLU)."""

    stage_fields = ("act",)

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 for a norm_act stage, got {ctx.stride}", "stride")
        return PlainSpec("norm_act", ctx.cin, ctx.cin, 1, 1, ctx.act, ctx.norm, ctx.quirks.padding)

    def plan(self, spec: PlainSpec) -> Plan:
        return Plan(_norm_act(spec.cin, spec.norm, spec.act))  # type: ignore[arg-type]


BLOCKS.register("dense", DenseLayerType())
BLOCKS.register("transition", TransitionType())
BLOCKS.register("norm_act", NormActType())
