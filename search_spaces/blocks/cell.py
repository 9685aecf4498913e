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

The rules above are applied once per *wiring* (:func:`cell_wiring`): the cell's graph with its
widths left open, each layer a :data:`Step`: a combinator, or a *part* (a layer with parameters whose
input and output widths are codes: :data:`X`, :data:`PREV`, :data:`F`, :data:`F2`). A wiring depends on the genotype,
the stride, how state 1 is made and which widths coincide, never on the widths themselves, so the
cells of a network share a few. Build and cost both read it. :func:`cell_plan` makes every part
into its layer at the cell's widths, giving a two-input :class:`~search_spaces.layers.Graph` whose
children are ``pre_x``, ``pre_prev`` or ``pre_prev.reduce`` (absent when state 1 needs no layers),
``ops.<i>`` (op ``i``, two per node, absent for a free identity) and ``outputs.<j>.reduce`` or
``outputs.<j>.conv`` (absent when concatenated state ``j`` already matches). :func:`cell_cost`
walks the same graph as :func:`~search_spaces.layers.plan_cost` walks the plan, adding each part's
cost: its layer's own cost, memoised as integers on the part, its widths and its input size, since
a search's cells apply the same few ops to the same widths and sizes over and over.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, Union

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
    Plan,
    PlanModule,
    Size,
    plan_cost,
)

__all__ = [
    "F", "F2", "FIXED", "OUT_CONV", "OUT_REDUCE", "PRE", "PRE_REDUCE", "PREV", "X", "CellSpec", "CellType", "OpCall",
    "Step", "Wiring", "cell_cost", "cell_plan", "cell_wiring", "clear_op_caches", "part_layer",
]


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
    """One op of the table applied to one state: a plan layer whose layers are memoised for building.

    A named tuple rather than a dataclass: it is hashed and compared as a memo key, and a tuple
    does both in C.
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
        """Cost of the op's layers at input ``size``, and the output size (the layers made afresh, not
        memoised: costing leaves nothing behind for the garbage collector but the integers)."""
        return plan_cost(Plan(_make_layers(self)), size)


def _make_layers(call: OpCall) -> Layers:
    return CELL_OPS.get(call.op)(call.cin, call.cout, call.stride, call.norm, call.padding)


#: :func:`_make_layers` memoised, for building.
_op_layers = lru_cache(maxsize=4096)(_make_layers)


# ----------------------------------------------------------------------------- wiring

#: Width codes of a :data:`Step`: ``h_i``'s width, ``h_{i-1}``'s, ``F`` and ``2F`` (a ``concat`` node).
X, PREV, F, F2 = range(4)


def _relu_conv_bn(cin: int, cout: int, norm: Norm) -> OpCall:
    """``relu -> 1x1 conv -> norm`` (TF's ``_reduce_prev_layer`` / ``conv_1x1``): the table's ``conv_1x1`` op."""
    return OpCall("conv_1x1", cin, cout, 1, norm, "symmetric")


def _relu_reduce(cin: int, cout: int, norm: Norm) -> FactorizedReduceSpec:
    """The factorized reduction of an ``h_{i-1}`` twice as large as ``h_i``, after a ReLU."""
    return FactorizedReduceSpec(cin, cout, norm, act="relu")


def _reduce(cin: int, cout: int, norm: Norm) -> FactorizedReduceSpec:
    """The factorized reduction of a concatenated state twice as large as the last node."""
    return FactorizedReduceSpec(cin, cout, norm)


def _conv(cin: int, cout: int, norm: Norm) -> ConvSpec:
    """``1x1 conv -> norm``: a concatenated state given the last node's width."""
    return ConvSpec(cin, cout, 1, norm=norm)


#: The layers of a cell that are not ops of the table, by :data:`Step` kind: ``(cin, cout, norm) -> layer``.
FIXED = (_relu_conv_bn, _relu_reduce, _reduce, _conv)
#: Their kinds: preparing ``h_i`` or ``h_{i-1}`` (1x1 conv), reducing ``h_{i-1}``, reducing or widening an output.
PRE, PRE_REDUCE, OUT_REDUCE, OUT_CONV = range(len(FIXED))


#: One layer of a cell's wiring with its widths left open, and the values it reads:
#: ``(kind, cin, cout, stride, reads)``.
#:
#: - A *part*, a layer with parameters: ``kind`` from width code ``cin`` to ``cout`` (:data:`X`,
#:   :data:`PREV`, :data:`F` or :data:`F2`). ``kind`` is a cell op's name (:data:`~search_spaces.blocks.CELL_OPS`),
#:   applied at ``stride`` with the cell's padding, or an index into :data:`FIXED`, the layers that prepare the
#:   inputs and fix the outputs (``stride`` 1: theirs is their own).
#: - A combinator: ``kind`` ``None`` (and ``0, 0, 0``); the layer's name says which (``add``, ``concat``,
#:   ``drop_path``).
#:
#: ``reads`` are value numbers, as a :class:`~search_spaces.layers.Graph`'s: 0 and 1 are ``h_i`` and
#: ``h_{i-1}``, then one per layer. Plain tuples of strings and ints, not named tuples: the garbage
#: collector stops tracking such tuples (and tuples of them), so memoised wirings add nothing to what its
#: full passes traverse.
Step = tuple[Union[str, int, None], int, int, int, tuple[int, ...]]


def part_layer(step: Step, widths: tuple[int, int, int, int], norm: Norm, padding: str) -> Any:
    """The layer a part makes at a cell's ``widths`` (the width of each code, in code order)."""
    kind, cin, cout, stride = step[:4]
    if type(kind) is str:
        return OpCall(kind, widths[cin], widths[cout], stride, norm, padding)
    return FIXED[kind](widths[cin], widths[cout], norm)


class Wiring(NamedTuple):
    """A cell's graph with its widths left open: as a :class:`~search_spaces.layers.Graph`, layer by layer.

    Attributes:
        names: Each layer's name (a child of the built cell, or a combinator's label).
        steps: Each layer's :data:`Step`.
    """

    names: tuple[str, ...]
    steps: tuple[Step, ...]


#: The combinators a wiring names (``drop_path`` takes the spec's rate in :func:`cell_plan`).
_COMBINATORS = {"add": ADD, "concat": CONCAT}

#: Child names of a cell's ops (``ops.<i>``), made once.
_OPS = tuple(f"ops.{i}" for i in range(256))


def cell_wiring(spec: CellSpec, drops: bool = False) -> Wiring:
    """The wiring of ``spec``'s cell (see the module docstring).

    Args:
        spec: The cell.
        drops: Whether every op's output passes a ``drop_path`` (the spec's rate; costs ignore it).
    """
    f = spec.filters
    if spec.prev_cin == 0:  # right after the stem: state 1 is h_i itself, whose width may equal F or 2F
        prev, x = "none", F if spec.cin == f else F2 if spec.cin == 2 * f else X
    else:
        prev, x = "reduce" if spec.prev_reduce else "conv" if spec.prev_cin != f else "same", X
    return _wiring(spec.nodes, spec.concat, spec.stride, prev, x, drops)


@lru_cache(maxsize=16)
def _wiring(nodes: tuple[tuple[Any, ...], ...], concat: tuple[int, ...], stride: int, prev: str, x: int,
            drops: bool) -> Wiring:
    """Pure: the wiring, given how state 1 is made (``prev``: none, reduce, conv or same) and the width code
    of ``h_i`` when state 1 is ``h_i`` itself. Codes of equal widths are equal, so widths compare by code.

    Memoised for the cells of one network, which share a few wirings; a search's genotypes rarely recur.
    Written as a :class:`~search_spaces.layers.GraphBuilder` writes a graph, but without checking each layer's
    reads (this function is their only author, and a search writes about five wirings per network)."""
    names: list[str] = []
    steps: list[Step] = []

    def add(name: str, step: Step) -> int:
        """Add a layer; return the value it outputs."""
        names.append(name)
        steps.append(step)
        return len(steps) + 1

    h, h_prev = 0, 1
    states = [add("pre_x", (PRE, X, F, 1, (h,)))]  # state 0 from h_i
    widths = [F, F]
    if prev == "none":
        states.append(h)
        widths[1] = x
    elif prev == "reduce":
        states.append(add("pre_prev.reduce", (PRE_REDUCE, PREV, F, 1, (h_prev,))))
    elif prev == "conv":
        states.append(add("pre_prev", (PRE, PREV, F, 1, (h_prev,))))
    else:
        states.append(h_prev)
    i = 0
    for op_a, in_a, op_b, in_b, combine in nodes:
        outs = []
        for op, src in ((op_a, in_a), (op_b, in_b)):
            op_stride, out, width = stride if src < 2 else 1, states[src], widths[src]
            if not is_free(op, width, F, op_stride):  # a free identity is neither a layer nor dropped
                out = add(_OPS[i] if i < len(_OPS) else f"ops.{i}", (op, width, F, op_stride, (out,)))
                out = add("drop_path", (None, 0, 0, 0, (out,))) if drops else out
            outs.append(out)
            i += 1
        states.append(add(combine, (None, 0, 0, 0, tuple(outs))))
        widths.append(F2 if combine == "concat" else F)
    last, outputs = widths[-1], []
    for j, src in enumerate(concat):  # every state is matched to the last node: reduced, or its width set
        if stride > 1 and src < 2:
            outputs.append(add(f"outputs.{j}.reduce", (OUT_REDUCE, widths[src], last, 1, (states[src],))))
        elif widths[src] != last:
            outputs.append(add(f"outputs.{j}.conv", (OUT_CONV, widths[src], last, 1, (states[src],))))
        else:
            outputs.append(states[src])
    add("concat", (None, 0, 0, 0, tuple(outputs)))
    return Wiring(tuple(names), tuple(steps))


def _widths(spec: CellSpec) -> tuple[int, int, int, int]:
    """The width of each code for ``spec``."""
    return spec.cin, spec.prev_cin, spec.filters, 2 * spec.filters


def cell_plan(spec: CellSpec) -> Graph:
    """Pure: the graph of the cell ``spec`` describes: its wiring with every part made into its layer."""
    wiring = cell_wiring(spec, drops=bool(spec.drop_path))
    widths, norm, padding = _widths(spec), spec.norm, spec.padding
    made = {"drop_path": DropPath(spec.drop_path), **_COMBINATORS}
    layers = tuple((name, made[name] if step[0] is None else part_layer(step, widths, norm, padding))
                   for name, step in zip(wiring.names, wiring.steps))
    return Graph(layers, reads=tuple(step[4] for step in wiring.steps), inputs=2)


# ----------------------------------------------------------------------------- cost

#: Costs of parts by (norm, padding), then by ``(kind, cin, cout, stride, input height, input width)``:
#: ``(params, MACs, activations, output size)``. Flat tuples of ints and strings, which the garbage
#: collector stops tracking at its next pass (a tuple holding a tracked tuple stays tracked, and so do
#: named tuples), so the memo does not add to the objects every full collection traverses.
_PART_COSTS: dict[tuple[Norm, str], dict[tuple[Any, ...], tuple[int, int, int, Size]]] = {}
#: Entries kept per (norm, padding) before that memo starts afresh: a bound on memory (2,000 NASNet samples
#: need about 40,000).
PART_COSTS_MAX = 1 << 16


def _part_cost(step: Step, widths: tuple[int, int, int, int], norm: Norm, padding: str,
               size: Size) -> tuple[int, int, int, Size]:
    """The cost of a part's layer at the cell's ``widths``, at input ``size``, as integers."""
    cost, (h, w) = part_layer(step, widths, norm, padding).cost(size)
    return cost.params, cost.macs, cost.activations, (h, w)  # a new size: an old one may still be tracked


def cell_cost(spec: CellSpec, size: Size, prev_size: Size | None) -> tuple[Cost, Size]:
    """Exact cost of the cell ``spec`` at input sizes ``size`` (``h_i``) and ``prev_size`` (``h_{i-1}``).

    Equals :func:`~search_spaces.layers.plan_cost` of :func:`cell_plan` (the same graph, walked the
    same way), with each part's cost looked up instead of its layer made.
    """
    wiring = cell_wiring(spec)
    widths, norm, padding = _widths(spec), spec.norm, spec.padding
    costs = _PART_COSTS.get((norm, padding))
    if costs is None or len(costs) >= PART_COSTS_MAX:
        costs = _PART_COSTS[norm, padding] = {}
    if prev_size is None:  # as plan_cost: h_{i-1} read but not given (only a network's first cell has none)
        for name, (*_, reads) in zip(wiring.names, wiring.steps):
            if 1 in reads:
                raise ValueError(f"layer {name!r} reads a block input that was not given")
    sizes = [size, prev_size]
    params = macs = acts = 0
    for step in wiring.steps:
        kind, cin, cout, stride, reads = step
        if kind is None:  # a combinator costs nothing and keeps its inputs' size; its cost() names a mismatch
            out = sizes[reads[0]]
            for r in reads:
                if sizes[r] != out:
                    _COMBINATORS[wiring.names[len(sizes) - 2]].cost(*[sizes[r] for r in reads])
        else:
            src = sizes[reads[0]]
            key = (kind, widths[cin], widths[cout], stride, src[0], src[1])
            known = costs.get(key)
            if known is None:
                known = costs[key] = _part_cost(step, widths, norm, padding, src)
            p, m, a, out = known
            params, macs, acts = params + p, macs + m, acts + a
        sizes.append(out)
    return Cost(params, macs, acts), sizes[-1]


def clear_op_caches() -> None:
    """Forget memoised op layers, wirings and part costs (for cold benchmarks)."""
    _op_layers.cache_clear()
    _wiring.cache_clear()
    _PART_COSTS.clear()


class CellType(BlockType):
    """The ``cell`` block type: a stage of NASNet / PNASNet / AmoebaNet cells; built blocks take ``(x, prev)``.

    Its cost walks the cell's wiring (:func:`cell_cost`) rather than the plan, which it equals.
    """

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
        nodes, concat = stage.cell[:-1], stage.cell[-1]
        f = ctx.cout
        last = 2 * f if nodes[-1][4] == "concat" else f
        previous = ctx.previous
        keeps_prev = (ctx.quirks.reduction_skip and ctx.stride > 1 and isinstance(previous, CellSpec)
                      and previous.stride == 1)
        return CellSpec(  # positional, in field order: a search resolves about ten cells per network
            "cell", ctx.cin, (len(concat) - 1) * last, ctx.stride,  # kind, cin, cout, stride
            ctx.prev_cin, ctx.prev_cin > 0 and ctx.prev_stride == 2, f,  # prev_cin, prev_reduce, filters
            nodes, concat[1:], keeps_prev,  # nodes, concat, keeps_prev
            ctx.norm, ctx.quirks.padding, ctx.drop_path,  # norm, padding, drop_path
        )

    def plan(self, spec: CellSpec) -> Graph:
        return cell_plan(spec)

    def cost(self, spec: CellSpec, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        return cell_cost(spec, size, prev_size)


BLOCKS.register("cell", CellType())
