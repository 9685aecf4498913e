"""The Fire module of SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with
50x fewer parameters and <0.5MB model size", sec. 3.2, fig. 1, table 1).

``squeeze 1x1 conv (s) -> ReLU``, then ``expand 1x1 conv (e1) -> ReLU`` and ``expand 3x3 conv
(e3) -> ReLU`` side by side, concatenated as ``[e1, e3]``. Every conv has a bias and there is
no norm (torchvision's ``Fire``).

Widths: the stage's ``channels`` is the output width ``e1 + e3``, split evenly (the paper's
``pct3x3 = 0.5``, sec. 5.2): ``e3 = channels // 2`` and ``e1`` the rest, the 1x1 half first
in the concatenation; the squeeze width is ``channels / bottleneck`` (the paper's squeeze ratio
``SR = 1 / bottleneck``; SqueezeNet uses SR = 0.125, i.e. ``bottleneck = 8``).
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, Spec
from search_spaces.errors import GenomeError
from search_spaces.genome import Stage
from search_spaces.layers import CONCAT, ConvSpec, Graph, GraphBuilder, Plan

__all__ = ["FireSpec", "FireType"]


@dataclass(frozen=True)
class FireSpec(Spec):
    """A resolved Fire module (``stride`` is always 1).

    Attributes:
        squeeze: Squeeze width ``s1x1``.
        expand1: ``e1x1``, the first ``expand1`` output channels.
        expand3: ``e3x3``, the last ``expand3`` output channels (``cout = expand1 + expand3``).
        kernel: Kernel size of the wide expand conv (3).
        act: Activation name.
        padding: ``symmetric`` or ``same``.
    """

    squeeze: int
    expand1: int
    expand3: int
    kernel: int
    act: str
    padding: str
    drop_path: float = DROP_PATH


class FireType(BlockType):
    """The ``fire`` block type: ``squeeze -> concat(expand1x1, expand3x3)``."""

    stage_fields = ("kernel", "bottleneck", "act")

    def resolve(self, stage: Stage, ctx: BlockContext) -> FireSpec:
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 for a fire stage (pool stages downsample), got {ctx.stride}",
                              "stride")
        if ctx.cout < 2:
            raise GenomeError(f"channels must be at least 2 for a fire stage (two expand halves), got {ctx.cout}",
                              "channels")
        expand3 = ctx.cout // 2
        squeeze = max(1, round(ctx.cout / stage.bottleneck))
        return FireSpec(kind="fire", cin=ctx.cin, cout=ctx.cout, stride=1, squeeze=squeeze,
                        expand1=ctx.cout - expand3, expand3=expand3, kernel=stage.kernel, act=ctx.act,
                        padding=ctx.quirks.padding, drop_path=ctx.drop_path)

    def plan(self, spec: FireSpec) -> Graph:
        def conv(cin: int, cout: int, kernel: int) -> Plan:  # torchvision's conv + ReLU pair, under one name
            return Plan((("conv", ConvSpec(cin, cout, kernel, act=spec.act, bias=True, padding=spec.padding)),))

        g = GraphBuilder()
        squeezed = g("squeeze", conv(spec.cin, spec.squeeze, 1), g.input())
        g("cat", CONCAT, g("expand1x1", conv(spec.squeeze, spec.expand1, 1), squeezed),
          g("expand3x3", conv(spec.squeeze, spec.expand3, spec.kernel), squeezed))
        return g.graph()


BLOCKS.register("fire", FireType())
