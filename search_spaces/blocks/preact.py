"""Pre-activation residual blocks of ResNet v2 (He et al. 2016, "Identity Mappings in Deep
Residual Networks", fig. 1(b) and 4(e), "full pre-activation").

Every conv is preceded by ``norm -> act`` instead of followed by it, and nothing follows the
addition: the shortcut path is a clean identity from block to block (the paper's point).

- ``preact_bottleneck``: ``norm -> act -> 1x1 conv -> norm -> act -> 3x3 group conv (stride)
  [-> SE] -> norm -> act -> 1x1 conv [-> SE]``;
- ``preact_basic``: ``norm -> act -> 3x3 conv (stride) -> norm -> act -> 3x3 conv [-> SE]``.

Shortcut, exactly as timm's ``PreActBottleneck`` / ``PreActBasic``
(``timm/models/resnetv2.py``): the identity, or, when the width or the resolution changes,
a bare 1x1 conv with the stride (no norm: ``DownsampleConv(preact=True)``) applied to the
*pre-activated* input ``act(norm(x))``, which the first conv reads too (the paper's fig. 5 /
appendix: "the shortcut ... after the pre-activation"). The network around these blocks is
the paper's too: a stem conv with no norm or activation (``Stem(norm=False, act="identity")``)
and a final ``norm -> act`` on the last block's output before pooling (a ``norm_act`` stage).

Widths, group width and SE are the bottleneck block's rules
(:func:`~search_spaces.blocks.bottleneck.bottleneck_widths`, ``bottleneck_se``): timm's
``resnetv2_*`` has neither groups nor SE, so those are the natural extension, not a reference.
"""

from __future__ import annotations

import torch

from search_spaces.blocks.base import BLOCKS, BlockContext, ChainBlock, ChainBlockType, Plan, drop_path
from search_spaces.blocks.basic import basic_spec
from search_spaces.blocks.bottleneck import BottleneckSpec, bottleneck_se, bottleneck_widths
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ActSpec, ConvSpec, NormSpec, Primitive, SESpec

__all__ = ["PREACT", "PreActBasic", "PreActBlock", "PreActBottleneck"]

#: Layer names of the pre-activation of a block's input; the projection shortcut reads their output.
PREACT = ("norm1", "act1")


def _norm_act(channels: int, norm: Norm, act: str, n: int) -> list[tuple[str, Primitive]]:
    return [(f"norm{n}", NormSpec(channels, norm)), (f"act{n}", ActSpec(act))]


class PreActBlock(ChainBlock):
    """A pre-activation residual block: ``act(norm(x))`` feeds both the branch and a projection.

    Children are the plan's layers (``norm1``, ``act1``, ``conv1``, ...) and ``shortcut``;
    there is no ``post_act``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.norm1(x))
        out = pre
        for name in self._body[len(PREACT):]:
            out = self._modules[name](out)
        if not self.residual:
            return out
        shortcut = self.shortcut(pre) if "shortcut" in self._modules else x
        return drop_path(out, self.drop_rate, self.training) + shortcut


class _PreActType(ChainBlockType):
    """Shared build and plan tail of the two pre-activation blocks."""

    def build(self, spec: BottleneckSpec) -> PreActBlock:  # type: ignore[override]
        return PreActBlock(self.plan(spec))

    @staticmethod
    def finish(spec: BottleneckSpec, layers: list[tuple[str, Primitive]]) -> Plan:
        """The plan of ``layers`` with the bare projection shortcut and no post-addition activation."""
        shortcut = ConvSpec(spec.cin, spec.cout, 1, spec.stride, padding=spec.padding) if spec.projection else None
        return Plan(tuple(layers), spec.residual or spec.projection, spec.drop_path, shortcut=shortcut)


class PreActBottleneck(_PreActType):
    """ResNet v2 bottleneck (timm ``PreActBottleneck``): 1x1, 3x3 (stride, groups), 1x1, each pre-activated."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> BottleneckSpec:  # type: ignore[override]
        mid, groups = bottleneck_widths(ctx.cout, stage.bottleneck, stage.group_width)
        reshape = ctx.cin != ctx.cout or ctx.stride != 1
        se, se_out = bottleneck_se(stage, ctx, mid)
        return BottleneckSpec(
            kind="preact_bottleneck", cin=ctx.cin, cout=ctx.cout, stride=ctx.stride, kernel=stage.kernel, mid=mid,
            groups=groups, se=se, act=ctx.act, se_act=ctx.quirks.se_act or ctx.act, se_gate=ctx.quirks.se_gate,
            residual=stage.skip and not reshape, projection=stage.skip and reshape, drop_path=ctx.drop_path,
            norm=ctx.norm, padding=ctx.quirks.padding, se_out=se_out,
        )

    def plan(self, spec: BottleneckSpec) -> Plan:  # type: ignore[override]
        m, pad, norm, act = spec.mid, spec.padding, spec.norm, spec.act
        layers = _norm_act(spec.cin, norm, act, 1) + [("conv1", ConvSpec(spec.cin, m, 1, padding=pad))]
        layers += _norm_act(m, norm, act, 2)
        layers.append(("conv2", ConvSpec(m, m, spec.kernel, spec.stride, groups=spec.groups, padding=pad)))
        if spec.se and not spec.se_out:
            layers.append(("se", SESpec(m, spec.se, spec.se_act, spec.se_gate)))
        layers += _norm_act(m, norm, act, 3) + [("conv3", ConvSpec(m, spec.cout, 1, padding=pad))]
        if spec.se and spec.se_out:
            layers.append(("se", SESpec(spec.cout, spec.se, spec.se_act, spec.se_gate)))
        return self.finish(spec, layers)


class PreActBasic(_PreActType):
    """ResNet v2 basic block (timm ``PreActBasic``): two pre-activated 3x3 convs."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> BottleneckSpec:  # type: ignore[override]
        return basic_spec("preact_basic", stage, ctx)

    def plan(self, spec: BottleneckSpec) -> Plan:  # type: ignore[override]
        pad, norm, act, c = spec.padding, spec.norm, spec.act, spec.cout
        layers = _norm_act(spec.cin, norm, act, 1) + [("conv1", ConvSpec(spec.cin, c, spec.kernel, spec.stride,
                                                                         padding=pad))]
        layers += _norm_act(c, norm, act, 2) + [("conv2", ConvSpec(c, c, spec.kernel, padding=pad))]
        if spec.se:  # over the output width, as the post-activation basic block
            layers.append(("se", SESpec(c, spec.se, spec.se_act, spec.se_gate)))
        return self.finish(spec, layers)


BLOCKS.register("preact_bottleneck", PreActBottleneck())
BLOCKS.register("preact_basic", PreActBasic())
