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
(:func:`~search_spaces.blocks.bottleneck.bottleneck_widths`, the residual family's SE rule):
timm's ``resnetv2_*`` has neither groups nor SE, so those are the natural extension, not a
reference.

The plan is a :class:`~search_spaces.layers.Graph`, since the shortcut reads the
pre-activated input rather than the block's input.
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS
from search_spaces.blocks.basic import BasicFamily
from search_spaces.blocks.bottleneck import Bottleneck, BottleneckSpec
from search_spaces.genome import Norm
from search_spaces.layers import ADD, ActSpec, ConvSpec, DropPath, Graph, GraphBuilder, NormSpec

__all__ = ["PreActBasic", "PreActBottleneck", "preactivated_conv"]


def preactivated_conv(g: GraphBuilder, n: int, h: int, conv: ConvSpec, norm: Norm, act: str) -> tuple[int, int]:
    """Add ``norm{n} -> act{n} -> conv{n}`` reading value ``h``; return the activated input and the conv's output.

    The pre-activation composite function of ResNet v2 (He et al. 2016b, fig. 4e) and of
    DenseNet's layers (Huang et al. 2017, sec. 3, "BN-ReLU-Conv").
    """
    activated = g(f"act{n}", ActSpec(act), g(f"norm{n}", NormSpec(conv.cin, norm), h))
    return activated, g(f"conv{n}", conv, activated)


def _finish(g: GraphBuilder, spec: BottleneckSpec, branch: int, pre: int) -> Graph:
    """Add the shortcut: the block's input, or a bare 1x1 conv with the stride of the pre-activated input
    ``pre``, added to the (stochastically dropped) ``branch``; nothing follows the addition."""
    if spec.residual or spec.projection:
        pad = spec.padding
        shortcut = g("shortcut", ConvSpec(spec.cin, spec.cout, 1, spec.stride, padding=pad), pre) if (
            spec.projection) else g.input()
        g("add", ADD, g("drop_path", DropPath(spec.drop_path), branch), shortcut)
    return g.graph()


class PreActBottleneck(Bottleneck):
    """ResNet v2 bottleneck (timm ``PreActBottleneck``): 1x1, 3x3 (stride, groups), 1x1, each pre-activated;
    the bottleneck block's fields and spec."""

    def plan(self, spec: BottleneckSpec) -> Graph:
        m, pad, norm, act, g = spec.mid, spec.padding, spec.norm, spec.act, GraphBuilder()
        pre, h = preactivated_conv(g, 1, g.input(), ConvSpec(spec.cin, m, 1, padding=pad), norm, act)
        _, h = preactivated_conv(g, 2, h, ConvSpec(m, m, spec.kernel, spec.stride, groups=spec.groups, padding=pad),
                                 norm, act)
        if spec.se and not spec.se_out:
            h = g("se", spec.se_spec(), h)
        _, h = preactivated_conv(g, 3, h, ConvSpec(m, spec.cout, 1, padding=pad), norm, act)
        if spec.se and spec.se_out:
            h = g("se", spec.se_spec(), h)
        return _finish(g, spec, h, pre)


class PreActBasic(BasicFamily):
    """ResNet v2 basic block (timm ``PreActBasic``): two pre-activated 3x3 convs, SE over the output."""

    def plan(self, spec: BottleneckSpec) -> Graph:
        c, pad, norm, act, g = spec.cout, spec.padding, spec.norm, spec.act, GraphBuilder()
        pre, h = preactivated_conv(g, 1, g.input(), ConvSpec(spec.cin, c, spec.kernel, spec.stride, padding=pad),
                                   norm, act)
        _, h = preactivated_conv(g, 2, h, ConvSpec(c, c, spec.kernel, padding=pad), norm, act)
        if spec.se:  # over the output width, as the post-activation basic block
            h = g("se", spec.se_spec(), h)
        return _finish(g, spec, h, pre)


BLOCKS.register("preact_bottleneck", PreActBottleneck())
BLOCKS.register("preact_basic", PreActBasic())
