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

from dataclasses import dataclass, field

import torch

from search_spaces.blocks.base import BLOCKS, BlockContext, ChainBlock, ChainBlockType, Plan, plan_cost
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ActSpec, ConvSpec, Cost, NormSpec, PoolSpec, Size

__all__ = ["DenseLayer", "DenseLayerType", "DenseSpec", "NormActType", "PreActSpec", "TransitionType"]


@dataclass(frozen=True)
class DenseSpec:
    """A resolved dense layer.

    Attributes:
        kind: ``dense``.
        cin: Input channels (the dense block's input plus every earlier layer's output).
        growth: ``k``, the channels this layer appends.
        mid: Width of the 1x1 bottleneck conv (DenseNet-BC: ``4k``).
        cout: ``cin + growth``.
        stride: Always 1.
        kernel: Kernel size of the spatial conv (3).
        act: Activation name.
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
        drop_path: Unused (dense layers have no residual branch); excluded from equality.
    """

    kind: str
    cin: int
    growth: int
    mid: int
    cout: int
    stride: int
    kernel: int
    act: str
    norm: Norm
    padding: str
    drop_path: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class PreActSpec:
    """A resolved pre-activation stage block: ``transition`` or ``norm_act``.

    Attributes:
        kind: Registered block type.
        cin: Input channels.
        cout: Output channels (``cin`` for ``norm_act``).
        stride: Average-pooling stride of a transition (its window is ``stride x stride``);
            1 for ``norm_act``.
        act: Activation name.
        norm: Norm settings.
        padding: ``symmetric`` or ``same`` (of the 1x1 conv; irrelevant for its size).
        drop_path: Unused; excluded from equality.
    """

    kind: str
    cin: int
    cout: int
    stride: int
    act: str
    norm: Norm
    padding: str
    drop_path: float = field(default=0.0, compare=False)


def _norm_act(channels: int, norm: Norm, act: str, suffix: str = "") -> tuple[tuple[str, object], ...]:
    return ((f"norm{suffix}", NormSpec(channels, norm)), (f"act{suffix}", ActSpec(act)))


class DenseLayer(ChainBlock):
    """``concat(x, H(x))``: the plan's layers compute the ``k`` new maps, the input is kept in front."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, super().forward(x)], 1)


class DenseLayerType(ChainBlockType):
    """The ``dense`` block type: a DenseNet-BC bottleneck layer with concatenation."""

    fresh_blocks = 1 << 30  # every layer of a dense block reads a wider input: resolve each one

    def resolve(self, stage: Stage, ctx: BlockContext) -> DenseSpec:  # type: ignore[override]
        if stage.growth < 1:
            raise GenomeError(f"growth must be a positive growth rate for a dense stage, got {stage.growth}",
                              "growth")
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 for a dense stage (transitions downsample), got {ctx.stride}",
                              "stride")
        k = max(1, round(stage.growth * ctx.width_mult))
        mid = ctx.round(stage.mid_channels * ctx.width_mult) if stage.mid_channels else max(1, round(stage.expand * k))
        return DenseSpec(kind="dense", cin=ctx.cin, growth=k, mid=mid, cout=ctx.cin + k, stride=1,
                         kernel=stage.kernel, act=ctx.act, norm=ctx.norm, padding=ctx.quirks.padding,
                         drop_path=ctx.drop_path)

    def plan(self, spec: DenseSpec) -> Plan:  # type: ignore[override]
        """The new-feature branch ``H``; the block's output is its input concatenated with ``H``'s."""
        return Plan(_norm_act(spec.cin, spec.norm, spec.act, "1") + (
            ("conv1", ConvSpec(spec.cin, spec.mid, 1, padding=spec.padding)),
        ) + _norm_act(spec.mid, spec.norm, spec.act, "2") + (
            ("conv2", ConvSpec(spec.mid, spec.growth, spec.kernel, padding=spec.padding)),
        ))

    def build(self, spec: DenseSpec) -> DenseLayer:  # type: ignore[override]
        return DenseLayer(self.plan(spec))

    def cost(self, spec: DenseSpec, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        return plan_cost(self.plan(spec), size)  # concatenation moves no weights and no MACs


class TransitionType(ChainBlockType):
    """The ``transition`` block type: ``BN -> ReLU -> 1x1 conv -> avg pool`` between dense blocks."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> PreActSpec:  # type: ignore[override]
        return PreActSpec(kind="transition", cin=ctx.cin, cout=ctx.cout, stride=ctx.stride, act=ctx.act,
                          norm=ctx.norm, padding=ctx.quirks.padding, drop_path=ctx.drop_path)

    def plan(self, spec: PreActSpec) -> Plan:  # type: ignore[override]
        layers = _norm_act(spec.cin, spec.norm, spec.act) + (
            ("conv", ConvSpec(spec.cin, spec.cout, 1, padding=spec.padding)),
        )
        if spec.stride > 1:  # a stride x stride window: torchvision's AvgPool2d(2, 2)
            layers += (("pool", PoolSpec("avg", spec.stride, spec.stride, "valid")),)
        return Plan(layers)


class NormActType(ChainBlockType):
    """The ``norm_act`` block type: norm and activation on the features (torchvision DenseNet's ``norm5`` + ReLU)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> PreActSpec:  # type: ignore[override]
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 for a norm_act stage, got {ctx.stride}", "stride")
        return PreActSpec(kind="norm_act", cin=ctx.cin, cout=ctx.cin, stride=1, act=ctx.act, norm=ctx.norm,
                          padding=ctx.quirks.padding, drop_path=ctx.drop_path)

    def plan(self, spec: PreActSpec) -> Plan:  # type: ignore[override]
        return Plan(_norm_act(spec.cin, spec.norm, spec.act))


BLOCKS.register("dense", DenseLayerType())
BLOCKS.register("transition", TransitionType())
BLOCKS.register("norm_act", NormActType())
