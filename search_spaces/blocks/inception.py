"""Inception modules: parallel conv branches concatenated (GoogLeNet and Inception v3).

Every conv is torchvision's ``BasicConv2d``: conv (no bias) -> norm -> ReLU (the stage's
activation). A stage's ``branches`` lists the convs' widths in the order below; the module
outputs the concatenation, so the stage's ``channels`` must equal the sum of its branch
outputs (checked at width multiplier 1).

- ``inception_v1`` (Szegedy et al. 2015, "Going Deeper with Convolutions", fig. 2b and
  table 1): ``branches = (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)``; branches
  1x1 | 1x1 -> 3x3 | 1x1 -> "5x5" | 3x3/1 max pool -> 1x1. The stage's ``kernel`` is the
  "5x5" branch's kernel: torchvision uses 3 (a known deviation, pytorch/vision#906).
- Inception v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture", figs. 5-7,
  table 1; torchvision's ``InceptionA``..``InceptionE``, avg pools counting their padding):

  - ``inception_a`` (fig. 5, 5x5 kept as in the code): ``(b1, b5_1, b5_2, b3_1, b3_2, b3_3, pool)``;
    1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1.
  - ``inception_b`` (grid reduction, fig. 10): ``(b3, b3dbl_1, b3dbl_2, b3dbl_3)``;
    3x3/s | 1x1 -> 3x3 -> 3x3/s | 3x3/s max pool (all unpadded where strided).
  - ``inception_c`` (fig. 6, n = 7): ``(b1, b7_1, b7_2, b7_3, d_1, d_2, d_3, d_4, d_5, pool)``;
    1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg pool -> 1x1.
  - ``inception_d`` (grid reduction): ``(b3_1, b3_2, b7_1, b7_2, b7_3, b7_4)``;
    1x1 -> 3x3/s | 1x1 -> 1x7 -> 7x1 -> 3x3/s | 3x3/s max pool.
  - ``inception_e`` (fig. 7): ``(b1, b3_1, b3_2, d_1, d_2, d_3, pool)``; 1x1 | 1x1 -> (1x3 |
    3x1) | 1x1 -> 3x3 -> (1x3 | 3x1) | avg pool -> 1x1, the inner pairs concatenated.

Two plain stage types complete the networks: ``inception_conv`` (one ``BasicConv2d``,
``k x k``, padded to keep the size) and ``inception_conv_valid`` (unpadded, as most of
Inception v3's stem convs), and ``inception_pool``, an unpadded ``k x k`` max pool rounding
its output size down (Inception v3's stem pools). GoogLeNet's ceil-mode max pools are
``pool_ceil`` stages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from search_spaces.blocks.base import BLOCKS, BlockContext, BlockType, ChainBlockType, Plan
from search_spaces.blocks.pool import PoolStageSpec
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import AvgPoolPadSpec, ConvSpec, Cost, Fork, ForkModule, PoolSpec, Size, fork_cost

__all__ = ["MODULES", "InceptionConv", "InceptionModule", "InceptionPool", "InceptionSpec", "inception_fork"]


@dataclass(frozen=True)
class InceptionSpec:
    """A resolved Inception module.

    Attributes:
        kind: The module type (``inception_v1``, ``inception_a``..``inception_e``).
        cin: Input channels.
        cout: Output channels (the concatenated branch outputs).
        stride: 1, or 2 for the grid-reduction modules.
        kernel: The "5x5" branch kernel of ``inception_v1``.
        branches: The convs' widths.
        act: Activation name.
        norm: Norm settings.
        drop_path: Unused (no residual); excluded from equality.
    """

    kind: str
    cin: int
    cout: int
    stride: int
    kernel: int
    branches: tuple[int, ...]
    act: str
    norm: Norm
    drop_path: float = field(default=0.0, compare=False)


Conv = Callable[..., tuple[str, ConvSpec]]


def _convs(spec: InceptionSpec) -> Conv:
    """A ``BasicConv2d`` factory for ``spec``: ``conv(name, cin, cout, kernel, stride=1, padding=...)``."""
    def conv(name: str, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
             padding: str = "symmetric") -> tuple[str, ConvSpec]:
        return name, ConvSpec(cin, cout, kernel, stride, norm=spec.norm, act=spec.act, padding=padding)
    return conv


def _v1(s: InceptionSpec, conv: Conv) -> tuple[Fork, ...]:
    b1, r3, b3, r5, b5, proj = s.branches
    return (Fork((conv("conv", s.cin, b1, 1),)),
            Fork((conv("reduce", s.cin, r3, 1), conv("conv", r3, b3, 3))),
            Fork((conv("reduce", s.cin, r5, 1), conv("conv", r5, b5, s.kernel))),
            Fork((("pool", PoolSpec("max", 3, 1)), conv("conv", s.cin, proj, 1))))


def _a(s: InceptionSpec, conv: Conv) -> tuple[Fork, ...]:
    b1, r5, b5, r3, b3a, b3b, proj = s.branches
    return (Fork((conv("conv", s.cin, b1, 1),)),
            Fork((conv("reduce", s.cin, r5, 1), conv("conv", r5, b5, 5))),
            Fork((conv("reduce", s.cin, r3, 1), conv("conv1", r3, b3a, 3), conv("conv2", b3a, b3b, 3))),
            Fork((("pool", AvgPoolPadSpec(3)), conv("conv", s.cin, proj, 1))))


def _b(s: InceptionSpec, conv: Conv) -> tuple[Fork, ...]:
    b3, r3, b3a, b3b = s.branches
    return (Fork((conv("conv", s.cin, b3, 3, s.stride, "valid"),)),
            Fork((conv("reduce", s.cin, r3, 1), conv("conv1", r3, b3a, 3),
                  conv("conv2", b3a, b3b, 3, s.stride, "valid"))),
            Fork((("pool", PoolSpec("max", 3, s.stride, "valid")),)))


def _c(s: InceptionSpec, conv: Conv) -> tuple[Fork, ...]:
    b1, r7, b7a, b7b, d1, d2, d3, d4, d5, proj = s.branches
    return (Fork((conv("conv", s.cin, b1, 1),)),
            Fork((conv("reduce", s.cin, r7, 1), conv("conv1", r7, b7a, (1, 7)), conv("conv2", b7a, b7b, (7, 1)))),
            Fork((conv("reduce", s.cin, d1, 1), conv("conv1", d1, d2, (7, 1)), conv("conv2", d2, d3, (1, 7)),
                  conv("conv3", d3, d4, (7, 1)), conv("conv4", d4, d5, (1, 7)))),
            Fork((("pool", AvgPoolPadSpec(3)), conv("conv", s.cin, proj, 1))))


def _d(s: InceptionSpec, conv: Conv) -> tuple[Fork, ...]:
    r3, b3, r7, b7a, b7b, b7c = s.branches
    return (Fork((conv("reduce", s.cin, r3, 1), conv("conv", r3, b3, 3, s.stride, "valid"))),
            Fork((conv("reduce", s.cin, r7, 1), conv("conv1", r7, b7a, (1, 7)), conv("conv2", b7a, b7b, (7, 1)),
                  conv("conv3", b7b, b7c, 3, s.stride, "valid"))),
            Fork((("pool", PoolSpec("max", 3, s.stride, "valid")),)))


def _e(s: InceptionSpec, conv: Conv) -> tuple[Fork, ...]:
    b1, r3, b3, d1, d2, d3, proj = s.branches

    def pair(cin: int, cout: int) -> tuple[Fork, Fork]:
        return Fork((conv("conv", cin, cout, (1, 3)),)), Fork((conv("conv", cin, cout, (3, 1)),))

    return (Fork((conv("conv", s.cin, b1, 1),)),
            Fork((conv("reduce", s.cin, r3, 1),), pair(r3, b3)),
            Fork((conv("reduce", s.cin, d1, 1), conv("conv", d1, d2, 3)), pair(d2, d3)),
            Fork((("pool", AvgPoolPadSpec(3)), conv("conv", s.cin, proj, 1))))


#: Module type -> (number of branch widths, output width from (cin, widths), branches).
MODULES: dict[str, tuple[int, Callable[[int, tuple[int, ...]], int],
                         Callable[[InceptionSpec, Conv], tuple[Fork, ...]]]] = {
    "inception_v1": (6, lambda cin, w: w[0] + w[2] + w[4] + w[5], _v1),
    "inception_a": (7, lambda cin, w: w[0] + w[2] + w[5] + w[6], _a),
    "inception_b": (4, lambda cin, w: w[0] + w[3] + cin, _b),
    "inception_c": (10, lambda cin, w: w[0] + w[3] + w[8] + w[9], _c),
    "inception_d": (6, lambda cin, w: w[1] + w[5] + cin, _d),
    "inception_e": (7, lambda cin, w: w[0] + 2 * w[2] + 2 * w[5] + w[6], _e),
}


def inception_fork(spec: InceptionSpec) -> Fork:
    """Pure: the branches of the module ``spec`` describes, as one :class:`Fork`."""
    return Fork(branches=MODULES[spec.kind][2](spec, _convs(spec)))


class InceptionModule(BlockType):
    """An Inception module type (one of :data:`MODULES`)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def resolve(self, stage: Stage, ctx: BlockContext) -> InceptionSpec:
        count, out_width, _ = MODULES[self.kind]
        if len(stage.branches) != count:
            raise GenomeError(f"branches must list {count} widths for an {self.kind} stage, got "
                              f"{list(stage.branches)!r}", "branches")
        widths = stage.branches if ctx.width_mult == 1.0 else tuple(ctx.round(w * ctx.width_mult)
                                                                      for w in stage.branches)
        cout = out_width(ctx.cin, widths)
        if ctx.width_mult == 1.0 and cout != ctx.cout:
            raise GenomeError(f"channels must equal the module's concatenated output {cout}, got {ctx.cout}",
                              "channels")
        return InceptionSpec(self.kind, ctx.cin, cout, ctx.stride, stage.kernel, widths, ctx.act, ctx.norm)

    def build(self, spec: InceptionSpec) -> ForkModule:
        return ForkModule(inception_fork(spec))

    def cost(self, spec: InceptionSpec, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        return fork_cost(inception_fork(spec), size)


@dataclass(frozen=True)
class InceptionConvSpec:
    """A resolved ``BasicConv2d`` stage block (``padding``: ``symmetric`` or ``valid``)."""

    kind: str
    cin: int
    cout: int
    stride: int
    kernel: int
    act: str
    norm: Norm
    padding: str
    drop_path: float = field(default=0.0, compare=False)


class InceptionConv(ChainBlockType):
    """``inception_conv`` / ``inception_conv_valid``: conv (no bias) -> norm -> act, padded or not."""

    def __init__(self, padding: str) -> None:
        self.padding = padding

    def resolve(self, stage: Stage, ctx: BlockContext) -> InceptionConvSpec:
        return InceptionConvSpec(stage.block, ctx.cin, ctx.cout, ctx.stride, stage.kernel, ctx.act, ctx.norm,
                                 self.padding)

    def plan(self, spec: InceptionConvSpec) -> Plan:
        return Plan((("conv", ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=spec.norm, act=spec.act,
                                       padding=spec.padding)),))


class InceptionPool(ChainBlockType):
    """``inception_pool``: unpadded ``k x k`` max pooling with the stage's stride (width kept, ``channels`` ignored)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> PoolStageSpec:
        return PoolStageSpec(stage.block, ctx.cin, ctx.cin, ctx.stride, stage.kernel, "max", "valid")

    def plan(self, spec: PoolStageSpec) -> Plan:
        return Plan((("pool", PoolSpec("max", spec.kernel, spec.stride, "valid")),))


for _kind in MODULES:
    BLOCKS.register(_kind, InceptionModule(_kind))
BLOCKS.register("inception_conv", InceptionConv("symmetric"))
BLOCKS.register("inception_conv_valid", InceptionConv("valid"))
BLOCKS.register("inception_pool", InceptionPool())
