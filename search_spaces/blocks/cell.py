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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from search_spaces.blocks.base import BLOCKS, BlockContext, BlockType, ChainBlock, Plan, drop_path, plan_cost
from search_spaces.blocks.cell_ops import CELL_OPS, Layers
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ActSpec, ConvSpec, Cost, FactorizedReduceSpec, Size

__all__ = ["Cell", "CellPlan", "CellSpec", "CellType", "OpCall", "cell_cost", "cell_plan", "clear_op_caches"]


@dataclass(frozen=True)
class CellSpec:
    """A resolved cell.

    Attributes:
        kind: ``cell``.
        cin: Channels of ``h_i``.
        prev_cin: Channels of ``h_{i-1}``; 0 when there is none (first block after the stem).
        prev_reduce: Whether ``h_{i-1}`` is twice as large spatially as ``h_i``.
        filters: ``F``, the width of every op's output.
        stride: 2 for a reduction cell.
        nodes: ``(op_a, in_a, op_b, in_b, combine)`` per node.
        concat: States concatenated into the output.
        cout: Output channels.
        keeps_prev: Whether the next block gets this cell's ``h_{i-1}`` as its own
            (``Quirks.reduction_skip``).
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
        drop_path: Rate of dropping each op's output (not identities), as NASNet's
            ScheduledDropPath; excluded from equality.
    """

    kind: str
    cin: int
    prev_cin: int
    prev_reduce: bool
    filters: int
    stride: int
    nodes: tuple[tuple[Any, ...], ...]
    concat: tuple[int, ...]
    cout: int
    keeps_prev: bool
    norm: Norm
    padding: str
    drop_path: float = field(compare=False)


@dataclass(frozen=True)
class OpCall:
    """One op of the table applied to one state: its layers and their cost, both memoised.

    Cells of a stage, and of a search's successive samples, apply the same few ops to the
    same widths and sizes over and over; sharing the work keeps cell costing fast.
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
    _cost.cache_clear()


@dataclass(frozen=True)
class CellPlan:
    """The layers of one cell.

    Attributes:
        pre_x: ``h_i`` -> state 0.
        pre_prev: ``h_{i-1}`` -> state 1; ``None`` when state 1 is ``h_i`` itself.
        ops: Two per node: (input state, the op applied to it).
        combine: Per node, ``add`` or ``concat``.
        outputs: Per concatenated state: (state, layers matching it to the last node).
        drop_path: Drop rate of each non-identity op's output.
    """

    pre_x: Layers
    pre_prev: Layers | None
    ops: tuple[tuple[int, OpCall], ...]
    combine: tuple[str, ...]
    outputs: tuple[tuple[int, Layers], ...]
    drop_path: float = 0.0


def _relu_conv_bn(cin: int, cout: int, norm: Norm) -> Layers:
    return (("act", ActSpec("relu", inplace=False)), ("conv", ConvSpec(cin, cout, 1, norm=norm)))


def cell_plan(spec: CellSpec) -> CellPlan:
    """Pure: every layer of the cell ``spec`` describes (see the module docstring for the rules)."""
    f, norm = spec.filters, spec.norm
    if spec.prev_cin == 0:
        pre_prev: Layers | None = None
        widths = [f, spec.cin]
    elif spec.prev_reduce:
        pre_prev = (("reduce", FactorizedReduceSpec(spec.prev_cin, f, norm, act="relu")),)
        widths = [f, f]
    else:
        pre_prev = _relu_conv_bn(spec.prev_cin, f, norm) if spec.prev_cin != f else ()
        widths = [f, f]
    reduced = [False, False]  # whether a state is already at the cell's output resolution
    ops: list[tuple[int, OpCall]] = []
    for op_a, in_a, op_b, in_b, combine in spec.nodes:
        for op, src in ((op_a, in_a), (op_b, in_b)):
            stride = spec.stride if src < 2 else 1
            ops.append((src, OpCall(op, widths[src], f, stride, norm, spec.padding)))
        widths.append(2 * f if combine == "concat" else f)
        reduced.append(True)
    last = widths[-1]
    outputs: list[tuple[int, Layers]] = []
    for src in spec.concat:
        if spec.stride > 1 and not reduced[src]:
            outputs.append((src, (("reduce", FactorizedReduceSpec(widths[src], last, norm)),)))
        elif widths[src] != last:
            outputs.append((src, (("conv", ConvSpec(widths[src], last, 1, norm=norm)),)))
        else:
            outputs.append((src, ()))
    return CellPlan(_relu_conv_bn(spec.cin, f, norm), pre_prev, tuple(ops),
                    tuple(node[4] for node in spec.nodes), tuple(outputs), spec.drop_path)


@lru_cache(maxsize=16384)
def _cost(layers: Layers, size: Size) -> tuple[Cost, Size]:
    return plan_cost(Plan(layers), size)


def cell_cost(plan: CellPlan, size: Size, prev_size: Size | None) -> tuple[Cost, Size]:
    """Exact cost of a cell given the sizes of ``h_i`` and ``h_{i-1}``, and its output size."""
    parts, s0 = [], None
    part, s0 = _cost(plan.pre_x, size)
    parts.append(part)
    sizes = [s0]
    if plan.pre_prev is None:
        sizes.append(size)
    else:
        if prev_size is None:
            raise ValueError("a cell with a previous-input branch needs the size of h_{i-1}")
        part, s1 = _cost(plan.pre_prev, prev_size)
        parts.append(part)
        sizes.append(s1)
    ops = plan.ops
    for k in range(len(plan.combine)):
        (in_a, call_a), (in_b, call_b) = ops[2 * k], ops[2 * k + 1]
        part, out = call_a.cost(sizes[in_a])
        parts += (part, call_b.cost(sizes[in_b])[0])
        sizes.append(out)
    for src, layers in plan.outputs:
        if layers:
            parts.append(_cost(layers, sizes[src])[0])
    return Cost(sum(p.params for p in parts), sum(p.macs for p in parts), sum(p.activations for p in parts)), sizes[-1]


class Cell(nn.Module):
    """A built cell: ``forward(x, prev)`` with ``x = h_i`` and ``prev = h_{i-1}`` (or ``None``)."""

    def __init__(self, plan: CellPlan) -> None:
        super().__init__()
        self.pre_x = ChainBlock(Plan(plan.pre_x))
        self.pre_prev = ChainBlock(Plan(plan.pre_prev)) if plan.pre_prev is not None else None
        self.ops = nn.ModuleList(ChainBlock(Plan(call.layers())) for _, call in plan.ops)
        self.outputs = nn.ModuleList(ChainBlock(Plan(layers)) for _, layers in plan.outputs)
        self._inputs = tuple(src for src, _ in plan.ops)
        self._dropped = tuple(bool(call.layers()) for _, call in plan.ops)  # identities are never dropped
        self._combine = plan.combine
        self._concat = tuple(src for src, _ in plan.outputs)
        self.drop_rate = plan.drop_path

    def forward(self, x: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
        states = [self.pre_x(x), x if self.pre_prev is None or prev is None else self.pre_prev(prev)]
        for k, combine in enumerate(self._combine):
            a, b = (self._op(i, states[self._inputs[i]]) for i in (2 * k, 2 * k + 1))
            states.append(a + b if combine == "add" else torch.cat([a, b], 1))
        return torch.cat([fix(states[src]) for src, fix in zip(self._concat, self.outputs)], 1)

    def _op(self, i: int, state: torch.Tensor) -> torch.Tensor:
        out = self.ops[i](state)
        return drop_path(out, self.drop_rate, self.training) if self._dropped[i] else out

    def extra_repr(self) -> str:
        return f"drop_path={self.drop_rate:g}" if self.drop_rate else ""


class CellType(BlockType):
    """The ``cell`` block type: a stage of NASNet / PNASNet / AmoebaNet cells."""

    two_inputs = True
    fresh_blocks = 3

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
            kind="cell", cin=ctx.cin, prev_cin=ctx.prev_cin, prev_reduce=ctx.prev_cin > 0 and ctx.prev_stride == 2,
            filters=f, stride=ctx.stride, nodes=tuple(nodes), concat=tuple(concat[1:]), cout=len(concat[1:]) * last,
            keeps_prev=keeps_prev, norm=ctx.norm, padding=ctx.quirks.padding, drop_path=ctx.drop_path,
        )

    def build(self, spec: CellSpec) -> Cell:
        return Cell(cell_plan(spec))

    def cost(self, spec: CellSpec, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        return cell_cost(cell_plan(spec), size, prev_size)


BLOCKS.register("cell", CellType())
