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
Inception v3's stem convs); Inception v3's stem pools are ``inception_pool`` stages and
GoogLeNet's ceil-mode max pools ``pool_ceil`` stages (:mod:`search_spaces.blocks.pool`).

A module's plan is a :class:`~search_spaces.layers.Graph`: its branches read the input and
are concatenated; a branch that forks again (``inception_e``) is a graph of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, PlainSpec, Spec
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import CONCAT, AvgPoolPadSpec, ConvSpec, GraphBuilder, Plan, PoolSpec

__all__ = ["MODULES", "InceptionConv", "InceptionKind", "InceptionModule", "InceptionSpec", "fork"]


@dataclass(frozen=True)
class InceptionSpec(Spec):
    """A resolved Inception module (``cout``: the concatenated branch outputs; ``stride`` 2 for grid reductions).

    Attributes:
        kernel: The "5x5" branch kernel of ``inception_v1`` (3 for the other modules, which have no such choice).
        branches: The convs' widths.
        act: Activation name.
        norm: Norm settings.
    """

    kernel: int
    branches: tuple[int, ...]
    act: str
    norm: Norm
    drop_path: float = DROP_PATH


Layer = tuple[str, object]
Conv = Callable[..., Layer]


def fork(*layers: Layer, branches: tuple[Plan, ...] = ()) -> Plan:
    """``layers`` in sequence, then (if any) ``branches`` applied to their output and concatenated.

    Children are the layers' names, then ``branch1``, ``branch2``...
    """
    if not branches:
        return Plan(layers)
    g = GraphBuilder()
    h = g.input()
    for name, layer in layers:
        h = g(name, layer, h)
    g("cat", CONCAT, *(g(f"branch{i}", branch, h) for i, branch in enumerate(branches, 1)))
    return g.graph()


def _convs(spec: InceptionSpec) -> Conv:
    """A ``BasicConv2d`` factory for ``spec``: ``conv(name, cin, cout, kernel, stride=1, padding=...)``."""
    def conv(name: str, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
             padding: str = "symmetric") -> Layer:
        return name, ConvSpec(cin, cout, kernel, stride, norm=spec.norm, act=spec.act, padding=padding)
    return conv


def _v1(s: InceptionSpec, conv: Conv) -> tuple[Plan, ...]:
    b1, r3, b3, r5, b5, proj = s.branches
    return (fork(conv("conv", s.cin, b1, 1)),
            fork(conv("reduce", s.cin, r3, 1), conv("conv", r3, b3, 3)),
            fork(conv("reduce", s.cin, r5, 1), conv("conv", r5, b5, s.kernel)),
            fork(("pool", PoolSpec("max", 3, 1)), conv("conv", s.cin, proj, 1)))


def _a(s: InceptionSpec, conv: Conv) -> tuple[Plan, ...]:
    b1, r5, b5, r3, b3a, b3b, proj = s.branches
    return (fork(conv("conv", s.cin, b1, 1)),
            fork(conv("reduce", s.cin, r5, 1), conv("conv", r5, b5, 5)),
            fork(conv("reduce", s.cin, r3, 1), conv("conv1", r3, b3a, 3), conv("conv2", b3a, b3b, 3)),
            fork(("pool", AvgPoolPadSpec(3)), conv("conv", s.cin, proj, 1)))


def _b(s: InceptionSpec, conv: Conv) -> tuple[Plan, ...]:
    b3, r3, b3a, b3b = s.branches
    return (fork(conv("conv", s.cin, b3, 3, s.stride, "valid")),
            fork(conv("reduce", s.cin, r3, 1), conv("conv1", r3, b3a, 3),
                 conv("conv2", b3a, b3b, 3, s.stride, "valid")),
            fork(("pool", PoolSpec("max", 3, s.stride, "valid"))))


def _c(s: InceptionSpec, conv: Conv) -> tuple[Plan, ...]:
    b1, r7, b7a, b7b, d1, d2, d3, d4, d5, proj = s.branches
    return (fork(conv("conv", s.cin, b1, 1)),
            fork(conv("reduce", s.cin, r7, 1), conv("conv1", r7, b7a, (1, 7)), conv("conv2", b7a, b7b, (7, 1))),
            fork(conv("reduce", s.cin, d1, 1), conv("conv1", d1, d2, (7, 1)), conv("conv2", d2, d3, (1, 7)),
                 conv("conv3", d3, d4, (7, 1)), conv("conv4", d4, d5, (1, 7))),
            fork(("pool", AvgPoolPadSpec(3)), conv("conv", s.cin, proj, 1)))


def _d(s: InceptionSpec, conv: Conv) -> tuple[Plan, ...]:
    r3, b3, r7, b7a, b7b, b7c = s.branches
    return (fork(conv("reduce", s.cin, r3, 1), conv("conv", r3, b3, 3, s.stride, "valid")),
            fork(conv("reduce", s.cin, r7, 1), conv("conv1", r7, b7a, (1, 7)), conv("conv2", b7a, b7b, (7, 1)),
                 conv("conv3", b7b, b7c, 3, s.stride, "valid")),
            fork(("pool", PoolSpec("max", 3, s.stride, "valid"))))


def _e(s: InceptionSpec, conv: Conv) -> tuple[Plan, ...]:
    b1, r3, b3, d1, d2, d3, proj = s.branches

    def pair(cin: int, cout: int) -> tuple[Plan, Plan]:
        return fork(conv("conv", cin, cout, (1, 3))), fork(conv("conv", cin, cout, (3, 1)))

    return (fork(conv("conv", s.cin, b1, 1)),
            fork(conv("reduce", s.cin, r3, 1), branches=pair(r3, b3)),
            fork(conv("reduce", s.cin, d1, 1), conv("conv", d1, d2, 3), branches=pair(d2, d3)),
            fork(("pool", AvgPoolPadSpec(3)), conv("conv", s.cin, proj, 1)))


@dataclass(frozen=True)
class InceptionKind:
    """One Inception module type.

    Attributes:
        widths: How many branch widths its stage lists.
        out: Its output width from ``(cin, widths)``.
        branches: Its branches from its spec and a ``BasicConv2d`` factory.
        kernel: Whether the stage's ``kernel`` sets a branch's kernel (``inception_v1``'s "5x5").
    """

    widths: int
    out: Callable[[int, tuple[int, ...]], int]
    branches: Callable[[InceptionSpec, Conv], tuple[Plan, ...]]
    kernel: bool = False


#: Module type -> its table entry.
MODULES: dict[str, InceptionKind] = {
    "inception_v1": InceptionKind(6, lambda cin, w: w[0] + w[2] + w[4] + w[5], _v1, kernel=True),
    "inception_a": InceptionKind(7, lambda cin, w: w[0] + w[2] + w[5] + w[6], _a),
    "inception_b": InceptionKind(4, lambda cin, w: w[0] + w[3] + cin, _b),
    "inception_c": InceptionKind(10, lambda cin, w: w[0] + w[3] + w[8] + w[9], _c),
    "inception_d": InceptionKind(6, lambda cin, w: w[1] + w[5] + cin, _d),
    "inception_e": InceptionKind(7, lambda cin, w: w[0] + 2 * w[2] + 2 * w[5] + w[6], _e),
}


class InceptionModule(BlockType):
    """An Inception module type (one of :data:`MODULES`)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.table = MODULES[kind]
        self.stage_fields = ("branches", "act") + (("kernel",) if self.table.kernel else ())

    def resolve(self, stage: Stage, ctx: BlockContext) -> InceptionSpec:
        count = self.table.widths
        if len(stage.branches) != count:
            raise GenomeError(f"branches must list {count} widths for an {self.kind} stage, got "
                              f"{list(stage.branches)!r}", "branches")
        widths = stage.branches if ctx.width_mult == 1.0 else tuple(ctx.round(w * ctx.width_mult)
                                                                      for w in stage.branches)
        cout = self.table.out(ctx.cin, widths)
        if ctx.width_mult == 1.0 and cout != ctx.cout:
            raise GenomeError(f"channels must equal the module's concatenated output {cout}, got {ctx.cout}",
                              "channels")
        kernel = stage.kernel if self.table.kernel else 3
        return InceptionSpec(self.kind, ctx.cin, cout, ctx.stride, kernel, widths, ctx.act, ctx.norm)

    def plan(self, spec: InceptionSpec) -> Plan:
        return fork(branches=self.table.branches(spec, _convs(spec)))


class InceptionConv(BlockType):
    """``inception_conv`` / ``inception_conv_valid``: conv (no bias) -> norm -> act, padded or not."""

    stage_fields = ("kernel", "act")

    def __init__(self, padding: str) -> None:
        self.padding = padding

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        return PlainSpec(stage.block, ctx.cin, ctx.cout, ctx.stride, stage.kernel, ctx.act, ctx.norm, self.padding)

    def plan(self, spec: PlainSpec) -> Plan:
        return Plan((("conv", ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=spec.norm, act=spec.act,
                                       padding=spec.padding)),))


for _kind in MODULES:
    BLOCKS.register(_kind, InceptionModule(_kind))
BLOCKS.register("inception_conv", InceptionConv("symmetric"))
BLOCKS.register("inception_conv_valid", InceptionConv("valid"))
