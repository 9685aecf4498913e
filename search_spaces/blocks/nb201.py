"""NAS-Bench-201's blocks: the densely connected cell and the residual reduction block.

Dong & Yang 2020, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
Search", sec. 2.1 and fig. 1; exact to the reference code (D-X-Y/AutoDL-Projects, xautodl
1.0: ``models/cell_operations.py`` ``OPS`` and ``ResNetBasicblock``, ``models/cell_infers/cells.py``
``InferCell``), which trained the benchmark's networks.

``nb201_cell``: nodes ``0 .. n-1``. Node 0 is the block's input; node ``i >= 1`` is the sum of
``op(node j)`` over its edges ``i <- j``, ``j < i``; the block's output is the last node. The op
of every edge is in ``Stage.edges``, in the order ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, ...``
(the order of the NAS-Bench-201 arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``), so
``n (n - 1) / 2`` edges make ``n`` nodes (NAS-Bench-201: 6 edges, 4 nodes). Edges out of node 0
map ``cin`` to ``cout`` channels, the others ``cout`` to ``cout``; every op has stride 1. The ops
(:data:`NB201_OPS`):

- ``none``: zero. It adds nothing to its node, so it is neither a layer nor a term of the sum.
  A node whose every edge is ``none`` holds zeros (:class:`~search_spaces.layers.Zeros`), and
  ops reading it compute on zeros as they do on the reference's ``Zero`` output (a ReLU-conv-norm
  of zeros outputs the norm's shift);
- ``skip_connect``: the node itself; ``1x1 conv -> norm`` where the width changes (the
  reference's ``FactorizedReduce`` at stride 1, which has no activation);
- ``nor_conv_1x1``, ``nor_conv_3x3``: ``act -> k x k conv -> norm`` (``ReLUConvBN``);
- ``avg_pool_3x3``: 3x3 average pooling, stride 1, the padding left out of the average
  (``count_include_pad=False``); ``act -> 1x1 conv -> norm`` first where the width changes.

Every op the reference builds is built, also where nothing reads its output (edges into a node
that no later edge reads, edges out of a zero node): the reference module has them, and so do
the benchmark's parameter counts. Stochastic depth, when the network asks for it, drops each
op's output (not identities), as NASNet's cells do; NAS-Bench-201 trains without it.

``nb201_reduce``: the reference's ``ResNetBasicblock``, ``act -> 3x3 conv (stride) -> norm -> act
-> 3x3 conv -> norm`` plus a shortcut, nothing after the addition. The shortcut at stride 2 is
a 2x2 stride-2 average pooling and a bare 1x1 conv (no norm); at stride 1, the identity or
``act -> 1x1 conv -> norm`` where the width changes. The pooling rounds its output size up
(``ceil_mode``), which changes nothing at the even sizes the reference runs at and keeps an odd
input's shortcut the size of its strided conv (the reference cannot run there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, PlainSpec, Spec
from search_spaces.blocks.cell_ops import Layers
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ADD, ActSpec, ConvSpec, DropPath, Graph, GraphBuilder, Plan, PoolSpec, Zeros
from search_spaces.registry import Registry

__all__ = ["NB201_OPS", "OP_NAMES", "NB201Cell", "NB201CellSpec", "NB201Reduce", "cell_plan", "edge_count",
           "node_count"]

#: ``(cin, cout, act, norm, padding) -> layers`` of one edge's op at stride 1; an empty tuple is the node itself.
EdgeOp = Callable[[int, int, str, Norm, str], Layers]

NB201_OPS: Registry[EdgeOp] = Registry("NAS-Bench-201 op")

#: The five ops of NAS-Bench-201 (the reference's ``NAS_BENCH_201``), in the order of its op index.
OP_NAMES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def _act_conv_norm(cin: int, cout: int, kernel: int, act: str, norm: Norm, padding: str) -> Layers:
    """``act -> k x k conv -> norm``, the reference's ``ReLUConvBN``; the activation is not in place (other ops
    read the same node)."""
    return (("act", ActSpec(act, inplace=False)), ("conv", ConvSpec(cin, cout, kernel, norm=norm, padding=padding)))


def _none(cin: int, cout: int, act: str, norm: Norm, padding: str) -> Layers:
    raise AssertionError("a none edge has no layers: the cell leaves it out")  # pragma: no cover


def _skip(cin: int, cout: int, act: str, norm: Norm, padding: str) -> Layers:
    return () if cin == cout else (("conv", ConvSpec(cin, cout, 1, norm=norm)),)


def _nor_conv(kernel: int) -> EdgeOp:
    def make(cin: int, cout: int, act: str, norm: Norm, padding: str) -> Layers:
        return _act_conv_norm(cin, cout, kernel, act, norm, padding)
    return make


def _avg_pool(cin: int, cout: int, act: str, norm: Norm, padding: str) -> Layers:
    pool: Layers = (("pool", PoolSpec("avg", 3, 1, "symmetric")),)
    return pool if cin == cout else _act_conv_norm(cin, cout, 1, act, norm, padding) + pool


NB201_OPS.register("none", _none)
NB201_OPS.register("skip_connect", _skip)
NB201_OPS.register("nor_conv_1x1", _nor_conv(1))
NB201_OPS.register("nor_conv_3x3", _nor_conv(3))
NB201_OPS.register("avg_pool_3x3", _avg_pool)


def node_count(edges: int) -> int:
    """Nodes of a densely connected cell with ``edges`` edges (``n (n - 1) / 2 = edges``); 0 if none fits."""
    n = (1 + math.isqrt(1 + 8 * edges)) // 2
    return n if edges > 0 and n * (n - 1) // 2 == edges else 0


def edge_count(nodes: int) -> int:
    """Edges of a densely connected cell of ``nodes`` nodes: ``nodes (nodes - 1) / 2``."""
    return nodes * (nodes - 1) // 2


@dataclass(frozen=True)
class NB201CellSpec(Spec):
    """A resolved NAS-Bench-201 cell (stride 1).

    Attributes:
        edges: The op of every edge, in arch-string order (see the module docstring).
        act: The ops' activation: the stage's, else the network's (ReLU in NAS-Bench-201).
        norm: Norm settings.
        padding: ``symmetric`` or ``same`` (the same at stride 1 and odd kernels).
    """

    edges: tuple[str, ...]
    act: str
    norm: Norm
    padding: str
    drop_path: float = DROP_PATH


def cell_plan(spec: NB201CellSpec) -> Graph:
    """Pure: the graph of the cell ``spec`` describes (see the module docstring for the rules)."""
    g = GraphBuilder()
    nodes = [g.input()]
    last = nodes[0]  # the newest value: the graph's output is its last layer's
    drop = DropPath(spec.drop_path) if spec.drop_path else None
    edge = 0
    for i in range(1, node_count(len(spec.edges))):
        terms = []
        for j in range(i):
            op = spec.edges[edge]
            edge += 1
            if op == "none":
                continue
            cin = spec.cin if j == 0 else spec.cout
            layers = NB201_OPS.get(op)(cin, spec.cout, spec.act, spec.norm, spec.padding)
            term = nodes[j]
            if layers:
                term = last = g(f"edges.{i}_{j}", Plan(layers), term)
                if drop is not None:
                    term = last = g("drop_path", drop, term)
            terms.append(term)
        if not terms:
            node = last = g("zeros", Zeros(spec.cout), nodes[0])
        elif len(terms) > 1:
            node = last = g("sum", ADD, *terms)
        else:
            node = terms[0]
        nodes.append(node)
    if nodes[-1] != last:  # the output node is an earlier value (a skip of the input): make it the last one
        g("out", ADD, nodes[-1])
    return g.graph()


class NB201Cell(BlockType):
    """The ``nb201_cell`` block type: a densely connected cell of the ops in ``Stage.edges``."""

    stage_fields = ("edges", "act")

    def resolve(self, stage: Stage, ctx: BlockContext) -> NB201CellSpec:
        if ctx.stride != 1:
            raise GenomeError(f"stride must be 1 for a nb201_cell stage (nb201_reduce stages reduce), got {ctx.stride}",
                              "stride")
        if not node_count(len(stage.edges)):
            raise GenomeError(f"edges must list one op per edge of a densely connected cell (1, 3, 6, 10, ... ops: "
                              f"1<-0, 2<-0, 2<-1, 3<-0, ...), got {len(stage.edges)}", "edges")
        for op in stage.edges:
            if op not in NB201_OPS:
                raise GenomeError(f"edges: {NB201_OPS.unknown_message(op)}", "edges")
        return NB201CellSpec("nb201_cell", ctx.cin, ctx.cout, 1, stage.edges, ctx.act, ctx.norm, ctx.quirks.padding,
                             ctx.drop_path)

    def plan(self, spec: NB201CellSpec) -> Graph:
        return cell_plan(spec)


class NB201Reduce(BlockType):
    """The ``nb201_reduce`` block type: NAS-Bench-201's residual block between stages (``ResNetBasicblock``)."""

    stage_fields = ("act",)

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        if ctx.stride not in (1, 2):
            raise GenomeError(f"stride must be 1 or 2 for a nb201_reduce stage, got {ctx.stride}", "stride")
        return PlainSpec("nb201_reduce", ctx.cin, ctx.cout, ctx.stride, 3, ctx.act, ctx.norm, ctx.quirks.padding,
                         ctx.drop_path)

    def plan(self, spec: PlainSpec) -> Plan:
        norm, pad, act = spec.norm, spec.padding, spec.act
        layers = (
            ("act_a", ActSpec(act, inplace=False)),  # the shortcut reads the block's input too
            ("conv_a", ConvSpec(spec.cin, spec.cout, 3, spec.stride, norm=norm, padding=pad)),
            ("act_b", ActSpec(act)),
            ("conv_b", ConvSpec(spec.cout, spec.cout, 3, norm=norm, padding=pad)),
        )
        shortcut: Plan | None = None
        if spec.stride > 1:
            shortcut = Plan((("pool", PoolSpec("avg", 2, 2, "valid", ceil_mode=True)),
                             ("conv", ConvSpec(spec.cin, spec.cout, 1))))
        elif spec.cin != spec.cout:
            shortcut = Plan(_act_conv_norm(spec.cin, spec.cout, 1, act, norm, pad))  # type: ignore[arg-type]
        return Plan(layers, residual=True, drop_path=spec.drop_path, shortcut=shortcut)


BLOCKS.register("nb201_cell", NB201Cell())
BLOCKS.register("nb201_reduce", NB201Reduce())
