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

The channel split and the shuffle are plan combinators
(:class:`~search_spaces.layers.ChannelSplit`, :class:`~search_spaces.layers.ChannelShuffle`).
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, Spec
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import (
    ADD,
    CONCAT,
    ActSpec,
    ChannelShuffle,
    ChannelSplit,
    ConvSpec,
    Graph,
    GraphBuilder,
    Plan,
    PoolSpec,
    channel_shuffle,
)

__all__ = ["ShuffleSpec", "ShuffleV1Type", "ShuffleV2Type", "channel_shuffle"]


@dataclass(frozen=True)
class ShuffleSpec(Spec):
    """A resolved ShuffleNet (v1 or v2) unit.

    Attributes:
        kernel: Kernel size of the depthwise conv(s).
        mid: Bottleneck width (v1: ``cout / 4``; v2: ``cout / 2``, each branch's width).
        groups: Groups of v1's pointwise convs (``g``); 1 for v2.
        first_groups: Groups of v1's first pointwise conv (1 right after the stem).
        act: Activation name.
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
    """

    kernel: int
    mid: int
    groups: int
    first_groups: int
    act: str
    norm: Norm
    padding: str
    drop_path: float = DROP_PATH


#: ShuffleNet V2's channel split and its shuffle of the two halves (fig. 3c).
FIRST_HALF, SECOND_HALF, SHUFFLE_HALVES = ChannelSplit(2, 0), ChannelSplit(2, 1), ChannelShuffle(2)


def _check_divisible(value: int, by: int, what: str, field_name: str) -> None:
    if value % by:
        raise GenomeError(f"{field_name}: {what} {value} must be divisible by {by}", field_name)


class ShuffleV1Type(BlockType):
    """The ``shuffle_v1`` block type (Zhang et al. 2018, fig. 2b/c, table 1)."""

    stage_fields = ("kernel", "groups", "act")

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

    def plan(self, spec: ShuffleSpec) -> Graph:
        """``relu(x + branch(x))``, or ``concat(avgpool(x), relu(branch(x)))`` when the unit downsamples (fig. 2b/c)."""
        out = spec.cout - spec.cin if spec.stride > 1 else spec.cout
        pad, norm = spec.padding, spec.norm
        shuffle = (("shuffle", ChannelShuffle(spec.groups)),) if spec.groups > 1 else ()
        branch = Plan((
            ("conv1", ConvSpec(spec.cin, spec.mid, 1, groups=spec.first_groups, norm=norm, act=spec.act, padding=pad)),
            *shuffle,
            ("dw", ConvSpec(spec.mid, spec.mid, spec.kernel, spec.stride, groups=spec.mid, norm=norm, padding=pad)),
            ("conv2", ConvSpec(spec.mid, out, 1, groups=spec.groups, norm=norm, padding=pad)),
        ))
        g = GraphBuilder()
        x = g.input()
        b = g("branch", branch, x)
        if spec.stride == 1:
            g("act", ActSpec(spec.act, inplace=False), g("add", ADD, x, b))
        else:
            shortcut = g("shortcut", PoolSpec("avg", 3, spec.stride, pad), x)
            g("cat", CONCAT, shortcut, g("act", ActSpec(spec.act, inplace=False), b))
        return g.graph()


class ShuffleV2Type(BlockType):
    """The ``shuffle_v2`` block type (Ma et al. 2018, fig. 3c/d, table 5)."""

    stage_fields = ("kernel", "act")

    def resolve(self, stage: Stage, ctx: BlockContext) -> ShuffleSpec:
        _check_divisible(ctx.cout, 2, "the output width", "channels")
        if ctx.stride == 1 and ctx.cin != ctx.cout:
            raise GenomeError(f"channels: a stride-1 shuffle_v2 unit keeps half its input, so it needs {ctx.cin} "
                              f"channels, got {ctx.cout}", "channels")
        return ShuffleSpec(kind="shuffle_v2", cin=ctx.cin, cout=ctx.cout, stride=ctx.stride, kernel=stage.kernel,
                           mid=ctx.cout // 2, groups=1, first_groups=1, act=ctx.act, norm=ctx.norm,
                           padding=ctx.quirks.padding, drop_path=ctx.drop_path)

    def plan(self, spec: ShuffleSpec) -> Graph:
        """``shuffle(concat(left(x), right(x)), 2)``; at stride 1 ``left`` keeps the first half and ``right`` reads
        the second (fig. 3c/d)."""
        b, pad, norm, act = spec.mid, spec.padding, spec.norm, spec.act
        split = spec.stride == 1
        right = Plan((
            *((("split", SECOND_HALF),) if split else ()),  # at stride 1 it reads the second half
            ("conv1", ConvSpec(b if split else spec.cin, b, 1, norm=norm, act=act, padding=pad)),
            ("dw", ConvSpec(b, b, spec.kernel, spec.stride, groups=b, norm=norm, padding=pad)),
            ("conv2", ConvSpec(b, b, 1, norm=norm, act=act, padding=pad)),
        ))
        g = GraphBuilder()
        x = g.input()
        if split:
            kept = g("split", FIRST_HALF, x)
        else:
            kept = g("left", Plan((
                ("dw", ConvSpec(spec.cin, spec.cin, spec.kernel, spec.stride, groups=spec.cin, norm=norm, padding=pad)),
                ("conv", ConvSpec(spec.cin, b, 1, norm=norm, act=act, padding=pad)),
            )), x)
        g("shuffle", SHUFFLE_HALVES, g("cat", CONCAT, kept, g("right", right, x)))
        return g.graph()


BLOCKS.register("shuffle_v1", ShuffleV1Type())
BLOCKS.register("shuffle_v2", ShuffleV2Type())
