"""NASNet-style cells: two inputs, B nodes of two ops each, outputs concatenated.

A cell (Zoph et al. 2018, "Learning Transferable Architectures", sec. 3; Liu et al. 2018,
"Progressive Neural Architecture Search", sec. 3.1) takes ``h_i`` (the previous cell's
output, the block's input ``x``) and ``h_{i-1}`` (the output before it, ``prev``). Hidden
states are numbered as in the TF reference code (``nasnet_utils.py``):

- state 0: ``h_i`` after ``relu -> 1x1 conv -> norm`` to ``F`` channels;
- state 1: ``h_{i-1}`` made to match: a factorized reduction when it is twice as large
  spatially, ``relu -> 1x1 conv -> norm`` when only its width differs, else itself; right
  after the stem there is no ``h_{i-1}`` and state 1 is ``h_i`` untouched;
- state ``2 + k``: node ``k``, ``combine(op_a(state[in_a]), op_b(state[in_b]))`` with
  ``combine`` = ``add`` (``F`` channels) or ``concat`` (``2F``).

A genotype (``Stage.cell``) lists the nodes as ``[op_a, in_a, op_b, in_b, combine]`` and
ends with ``[concat, i, j, ...]``: the states concatenated into the output (NASNet: the
unused ones, plus whatever the published cell lists; PNASNet: every node). States that
do not match the last node's width and resolution are first reduced to it (TF's
``_combine_unused_states``), so the cell outputs ``len(concat) * width(last node)``
channels. In a reduction cell (stride 2) the ops reading states 0 and 1 have stride 2.

In a stage of cells ``channels`` is the filter count ``F``; the first cell carries the
stage's stride, so a NASNet reduction cell is a stage of depth 1 with stride 2.

A cell's plan is a two-input :class:`~search_spaces.layers.Graph` (:func:`cell_plan`): its
children are ``pre_x``, ``pre_prev`` (its 1x1 conv, or ``pre_prev.reduce``, the factorized
reduction; absent when state 1 needs no layers), ``ops.<i>`` (op ``i``, two per node, absent
for a free identity) and ``outputs.<j>.reduce`` or ``outputs.<j>.conv`` (absent when
concatenated state ``j`` already matches). Ops are :class:`OpCall` layers whose layers and costs are
memoised, as a search's cells apply the same few ops to the same widths over and over.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, Spec
from search_spaces.blocks.cell_ops import CELL_OPS, Layers, is_free
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import (
    ADD,
    CONCAT,
    ConvSpec,
    Cost,
    DropPath,
    FactorizedReduceSpec,
    Graph,
    GraphBuilder,
    Plan,
    PlanModule,
    Size,
    plan_cost,
)

__all__ = ["CellSpec", "CellType", "OpCall", "cell_plan", "clear_op_caches"]


@dataclass(frozen=True)
class CellSpec(Spec):
    """A resolved cell (``cin``: channels of ``h_i``; ``stride`` 2 for a reduction cell).

    Attributes:
        prev_cin: Channels of ``h_{i-1}``; 0 when there is none (first block after the stem).
        prev_reduce: Whether ``h_{i-1}`` is twice as large spatially as ``h_i``.
        filters: ``F``, the width of every op's output.
        nodes: ``(op_a, in_a, op_b, in_b, combine)`` per node.
        concat: States concatenated into the output.
        keeps_prev: Whether the next block gets this cell's ``h_{i-1}`` as its own
            (``Quirks.reduction_skip``).
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.

    ``drop_path`` is the rate of dropping each op's output (not identities), as NASNet's
    ScheduledDropPath.
    """

    prev_cin: int
    prev_reduce: bool
    filters: int
    nodes: tuple[tuple[Any, ...], ...]
    concat: tuple[int, ...]
    keeps_prev: bool
    norm: Norm
    padding: str
    drop_path: float = DROP_PATH


class OpCall(NamedTuple):
    """One op of the table applied to one state: a plan layer whose layers and cost are memoised.

    A named tuple rather than a dataclass: every op of every costed cell is hashed and compared
    as a memo key, and a tuple does both in C.
    """

    op: str
    cin: int
    cout: int
    stride: int
    norm: Norm
    padding: str

    def layers(self) -> Layers:
        """The op's layers (an empty tuple for a free identity)."""
        return _op_layers(self)

    def build(self) -> PlanModule:
        """The op's layers in a chain."""
        return PlanModule(Plan(self.layers()))

    def cost(self, size: Size) -> tuple[Cost, Size]:
        """Cost of the op's layers at input ``size``, and the output size."""
        return _op_cost(self, size)


@lru_cache(maxsize=4096)
def _op_layers(call: OpCall) -> Layers:
    return CELL_OPS.get(call.op)(call.cin, call.cout, call.stride, call.norm, call.padding)


@lru_cache(maxsize=16384)
def _op_cost(call: OpCall, size: Size) -> tuple[Cost, Size]:
    return plan_cost(Plan(_op_layers(call)), size)


def clear_op_caches() -> None:
    """Forget memoised op layers and costs (for cold benchmarks)."""
    _op_layers.cache_clear()
    _op_cost.cache_clear()


#: Child names of a cell's ops (``ops.<i>``), made once.
_OPS = tuple(f"ops.{i}" for i in range(256))


def _relu_conv_bn(cin: int, cout: int, norm: Norm) -> OpCall:
    """``relu -> 1x1 conv -> norm`` (TF's ``_reduce_prev_layer`` / ``conv_1x1``): the table's ``conv_1x1`` op."""
    return OpCall("conv_1x1", cin, cout, 1, norm, "symmetric")


def cell_plan(spec: CellSpec) -> Graph:
    """Pure: the graph of the cell ``spec`` describes (see the module docstring for the rules)."""
    f, norm = spec.filters, spec.norm
    g = GraphBuilder(inputs=2)
    x, prev = g.input(0), g.input(1)
    states = [g("pre_x", _relu_conv_bn(spec.cin, f, norm), x)]  # state 0 from h_i
    widths = [f, f]
    if spec.prev_cin == 0:  # right after the stem: state 1 is h_i itself
        states.append(x)
        widths[1] = spec.cin
    elif spec.prev_reduce:
        states.append(g("pre_prev.reduce", FactorizedReduceSpec(spec.prev_cin, f, norm, act="relu"), prev))
    elif spec.prev_cin != f:
        states.append(g("pre_prev", _relu_conv_bn(spec.prev_cin, f, norm), prev))
    else:
        states.append(prev)
    drop = DropPath(spec.drop_path) if spec.drop_path else None
    i = 0
    for op_a, in_a, op_b, in_b, combine in spec.nodes:
        outs = []
        for op, src in ((op_a, in_a), (op_b, in_b)):
            stride, out = spec.stride if src < 2 else 1, states[src]
            if not is_free(op, widths[src], f, stride):  # a free identity is neither a layer nor dropped
                name = _OPS[i] if i < len(_OPS) else f"ops.{i}"
                out = g(name, OpCall(op, widths[src], f, stride, norm, spec.padding), out)
                out = g("drop_path", drop, out) if drop is not None else out
            outs.append(out)
            i += 1
        states.append(g(combine, ADD if combine == "add" else CONCAT, *outs))
        widths.append(2 * f if combine == "concat" else f)
    last, outputs = widths[-1], []
    for j, src in enumerate(spec.concat):  # every state is matched to the last node: reduced, or its width set
        if spec.stride > 1 and src < 2:
            outputs.append(g(f"outputs.{j}.reduce", FactorizedReduceSpec(widths[src], last, norm), states[src]))
        elif widths[src] != last:
            outputs.append(g(f"outputs.{j}.conv", ConvSpec(widths[src], last, 1, norm=norm), states[src]))
        else:
            outputs.append(states[src])
    g("concat", CONCAT, *outputs)
    return g.graph()


class CellType(BlockType):
    """The ``cell`` block type: a stage of NASNet / PNASNet / AmoebaNet cells; built blocks take ``(x, prev)``."""

    two_inputs = True
    fresh_blocks = 3
    stage_fields = ("cell",)

    def resolve(self, stage: Stage, ctx: BlockContext) -> CellSpec:
        if not stage.cell:
            raise GenomeError("cell must be a genotype for a cell stage, got an empty one", "cell")
        if ctx.prev_stride not in (1, 2):
            raise GenomeError(f"block: a cell's previous input may be at most one reduction away from its input, "
                              f"got one {ctx.prev_stride}x larger", "block")
        if ctx.stride not in (1, 2):
            raise GenomeError(f"stride must be 1 or 2 for a cell stage, got {ctx.stride}", "stride")
        *nodes, concat = stage.cell
        f = ctx.cout
        last = 2 * f if nodes[-1][4] == "concat" else f
        previous = ctx.previous
        keeps_prev = (ctx.quirks.reduction_skip and ctx.stride > 1 and isinstance(previous, CellSpec)
                      and previous.stride == 1)
        return CellSpec(
            kind="cell", cin=ctx.cin, cout=len(concat[1:]) * last, stride=ctx.stride, prev_cin=ctx.prev_cin,
            prev_reduce=ctx.prev_cin > 0 and ctx.prev_stride == 2, filters=f, nodes=tuple(nodes),
            concat=tuple(concat[1:]), keeps_prev=keeps_prev, norm=ctx.norm, padding=ctx.quirks.padding,
            drop_path=ctx.drop_path,
        )

    def plan(self, spec: CellSpec) -> Graph:
        return cell_plan(spec)


BLOCKS.register("cell", CellType())
