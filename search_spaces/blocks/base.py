"""The block contract: a stage resolves to block specs, a spec plans its layers.

A block type turns a :class:`~search_spaces.genome.Stage` into frozen specs (``resolve``),
and a spec into a :class:`~search_spaces.layers.Plan` (``plan``): the plain-data layers of
the block, whatever its shape (a chain, a residual, branches, a two-input cell). Building
(:class:`~search_spaces.layers.PlanModule`) and costing (:func:`~search_spaces.layers.plan_cost`)
both read that one plan, so they cannot drift apart; no block has a module class or a cost
function of its own, but for the NASNet cell: its plan and its cost are both made from one wiring
(:mod:`search_spaces.blocks.cell`), so that costing one needs no plan made.

Each block type also declares the :class:`Stage` fields it reads (``stage_fields``): a stage
may set no other field away from its default (:meth:`Stage.__post_init__
<search_spaces.genome.Stage>` refuses it), and a genome file lists no other field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from torch import nn

from search_spaces.errors import GenomeError
from search_spaces.genome import COMMON_STAGE_FIELDS, Norm, Quirks, Stage
from search_spaces.layers import Cost, Plan, PlanModule, SESpec, Size, plan_cost, se_channels
from search_spaces.registry import Registry
from search_spaces.rounding import make_divisible

__all__ = [
    "BLOCKS", "DROP_PATH", "BlockContext", "BlockSpec", "BlockType", "MBConvFamily", "PlainSpec", "Spec",
    "expanded_width", "next_prev",
]

T = TypeVar("T")


@dataclass(frozen=True)
class BlockContext:
    """What the resolver knows about one block's place in the network.

    Attributes:
        cin: Input channels (already width-scaled and rounded).
        cout: Output channels (already width-scaled and rounded).
        stride: This block's stride (the stage stride for its first block, else 1).
        act: Activation name after stage/network defaults are applied.
        drop_path: This block's stochastic-depth rate.
        norm: Norm settings of the network.
        quirks: Reference-implementation details of the network.
        width_mult: The network's width multiplier (for explicit middle widths).
        prev_cin: Channels of the input before this block's input (``h_{i-1}`` of a
            cell, whose input is ``h_i``); 0 when there is none (right after the stem).
        prev_stride: How many times larger ``h_{i-1}`` is than ``h_i`` spatially (1, or 2
            when a reduction lies between them).
        previous: The previous block's spec, ``None`` for the first block.
    """

    cin: int
    cout: int
    stride: int
    act: str
    drop_path: float
    norm: Norm
    quirks: Quirks
    width_mult: float
    prev_cin: int = 0
    prev_stride: int = 1
    previous: object | None = None

    def round(self, channels: float) -> int:
        """Round a channel count with the network's divisor and guard (no multiplier)."""
        return make_divisible(channels, self.quirks.channel_divisor, self.quirks.round_limit)


@dataclass(frozen=True)
class Spec:
    """The fields every resolved block has; each block family's spec adds its own, and ends with
    ``drop_path: float = DROP_PATH``.

    Attributes:
        kind: Registered block type.
        cin: Input channels.
        cout: Output channels.
        stride: How much the block reduces the resolution.

    ``drop_path`` is the block's stochastic-depth rate. It is excluded from equality and
    hashing: a training-time rate that changes neither shape nor cost, so equal specs share
    one cost computation.
    """

    kind: str
    cin: int
    cout: int
    stride: int


#: The ``drop_path`` field that ends every block spec (see :class:`Spec`).
DROP_PATH = field(default=0.0, compare=False)


@dataclass(frozen=True)
class BlockSpec(Spec):
    """A fully resolved block of the MBConv family (conv, ds, mbconv, fused).

    Attributes:
        kernel: Kernel size of the spatial conv.
        mid: Middle (expanded) width; equals ``cin`` when there is no expansion conv.
        se: Squeeze-excitation bottleneck width, 0 for none.
        act: Activation name.
        se_act: SE inner activation name.
        se_gate: SE gate activation name.
        residual: Whether the identity shortcut is added.
        pw_act: Activation after a depthwise-separable block's pointwise conv (``ds`` only).
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
    """

    kernel: int
    mid: int
    se: int
    act: str
    se_act: str
    se_gate: str
    residual: bool
    pw_act: bool
    norm: Norm
    padding: str
    drop_path: float = DROP_PATH

    def se_spec(self) -> SESpec:
        """The SE layer over the middle width."""
        return SESpec(self.mid, self.se, self.se_act, self.se_gate)


@dataclass(frozen=True)
class PlainSpec(Spec):
    """A resolved block of one or two plain layers (a pooling, a conv, a norm): what it needs of each.

    Block types build it positionally (``kind, cin, cout, stride, kernel, act, norm, padding``),
    as resolve() does for every block.

    Attributes:
        kernel: Kernel (window) size; 1 where there is none.
        act: Activation name; empty for none.
        norm: Norm settings; ``None`` for none.
        padding: ``symmetric``, ``same`` or ``valid``.
    """

    kernel: int = 1
    act: str = ""
    norm: Norm | None = None
    padding: str = "symmetric"
    drop_path: float = DROP_PATH


class BlockType(ABC):
    """A block family: how a stage becomes block specs, and the plan each spec builds and costs.

    Attributes:
        two_inputs: Whether built blocks take ``(x, prev)``: the block's input and the
            input before it (NASNet-style cells); ``prev`` is ``None`` for the first block.
        fresh_blocks: Blocks ``>= fresh_blocks`` of a stage differ from the one before
            only in their drop-path rate, so the resolver copies the spec instead of
            calling :meth:`resolve` again (2 for single-input blocks; a cell's third
            block is the first whose two inputs both come from the stage).
        stage_fields: The :class:`Stage` fields this block type reads besides the ones every
            stage has (:data:`~search_spaces.genome.COMMON_STAGE_FIELDS`). A stage of this
            type must leave every other field at its default.
        se_bases: The ``Quirks.se_base`` values the block can place its SE with (empty: it
            has no SE and does not read ``Stage.se``).
        se_rounding: How its SE width is rounded (an :data:`~search_spaces.layers.SE_ROUNDINGS` name).
    """

    two_inputs: ClassVar[bool] = False
    fresh_blocks: ClassVar[int] = 2
    stage_fields: tuple[str, ...] = ()
    se_bases: ClassVar[tuple[str, ...]] = ()
    se_rounding: ClassVar[str] = "truncate"

    @abstractmethod
    def resolve(self, stage: Stage, ctx: BlockContext) -> Any:
        """Pure: the resolved spec of one block of ``stage`` at position ``ctx``.

        The spec must be a frozen dataclass with ``kind``, ``cin``, ``cout``, ``stride``
        and ``drop_path`` fields (``drop_path`` excluded from equality: a :class:`Spec`
        ending with :data:`DROP_PATH`), and may have a true ``keeps_prev`` field (see
        :func:`next_prev`). It may depend on no stage field outside
        :data:`~search_spaces.genome.COMMON_STAGE_FIELDS` and ``stage_fields``.
        """

    @abstractmethod
    def plan(self, spec: Any) -> Plan:
        """Pure: the layers of the block ``spec`` describes."""

    def build(self, spec: Any) -> nn.Module:
        """A fresh module for ``spec``: its plan, run by :class:`~search_spaces.layers.PlanModule`."""
        return PlanModule(self.plan(spec))

    def cost(self, spec: Any, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        """Exact cost of ``spec`` at input size ``size`` (``prev_size``: size of ``prev``) and its output size."""
        if self.two_inputs:
            return plan_cost(self.plan(spec), size, prev_size)
        return plan_cost(self.plan(spec), size)

    def se_width(self, stage: Stage, ctx: BlockContext, mid: int) -> int:
        """The SE bottleneck width of a block of ``stage`` with middle width ``mid`` (0 without SE).

        The one SE width rule: ``stage.se`` times the base ``Quirks.se_base`` names (the
        block's ``in``put width as EfficientNet and pycls RegNetY; its ``mid``dle width as
        MobileNetV3; its ``out``put width as SENet, Hu et al. 2018, fig. 3), rounded by this
        block type's ``se_rounding`` with ``Quirks.se_divisor``
        (:func:`~search_spaces.layers.se_channels`).

        Raises:
            GenomeError: naming ``quirks.se_base`` if this block type cannot place SE that way.
        """
        if stage.se <= 0:
            return 0
        base = ctx.quirks.se_base
        if base not in self.se_bases:
            raise GenomeError(f"quirks.se_base {base!r} cannot be used by block {stage.block!r}: its SE can only be "
                              f"based on {' or '.join(repr(b) for b in self.se_bases)}", "quirks.se_base")
        width = ctx.cin if base == "in" else mid if base == "mid" else ctx.cout
        return se_channels(width, stage.se, ctx.quirks.se_divisor, self.se_rounding)

    def check_fields(self) -> None:
        """Raise ``ValueError`` unless the declarations name real stage fields and agree with each other."""
        known = {f for f in Stage.__dataclass_fields__} - set(COMMON_STAGE_FIELDS)
        unknown = set(self.stage_fields) - known
        if unknown:
            raise ValueError(f"{type(self).__name__}.stage_fields names no stage field: {sorted(unknown)}")
        if bool(self.se_bases) != ("se" in self.stage_fields):
            raise ValueError(f"{type(self).__name__}: se_bases must be given exactly when 'se' is a stage field")


class MBConvFamily(BlockType):
    """conv, ds, mbconv and fused: one spec (:class:`BlockSpec`), an identity shortcut when shapes allow,
    SE over the middle width whose width is based on the block's input or middle width. A block type
    that reads ``expand`` has the :func:`expanded_width` as its middle width, the others their input's."""

    se_bases = ("in", "mid")
    se_rounding = "truncate"

    def __init__(self) -> None:
        self._expands = "expand" in self.stage_fields
        self._pw_act = "pw_act" in self.stage_fields

    def resolve(self, stage: Stage, ctx: BlockContext) -> BlockSpec:
        mid = expanded_width(stage, ctx) if self._expands else ctx.cin
        q, act = ctx.quirks, ctx.act
        return BlockSpec(  # positional, in field order: the hottest call of resolve(); keywords cost a third more
            stage.block, ctx.cin, ctx.cout, ctx.stride,  # kind, cin, cout, stride
            stage.kernel, mid, self.se_width(stage, ctx, mid) if stage.se > 0 else 0,  # kernel, mid, se
            act, q.se_act or act, q.se_gate,  # act, se_act, se_gate
            stage.skip and ctx.stride == 1 and ctx.cin == ctx.cout, self._pw_act and stage.pw_act,  # residual, pw_act
            ctx.norm, q.padding, ctx.drop_path,  # norm, padding, drop_path
        )


class _BlockRegistry(Registry[BlockType]):
    """The block-type registry; a registration checks the type's field declarations."""

    def register(self, name: str, entry: BlockType) -> BlockType:
        entry.check_fields()
        return super().register(name, entry)


BLOCKS: Registry[BlockType] = _BlockRegistry("block type")


def next_prev(spec: Any, current: T, prev: T) -> T:
    """What the block after ``spec`` receives as ``prev``: ``spec``'s own input ``current``,
    or, when ``spec.keeps_prev``, the ``prev`` that ``spec`` received.

    One rule for channels (resolve), sizes (cost) and tensors (forward).
    """
    return prev if getattr(spec, "keeps_prev", False) else current


def expanded_width(stage: Stage, ctx: BlockContext) -> int:
    """Middle width of an expanding block: ``cin * expand`` rounded, or the stage's explicit width.

    An expansion ratio of 1 keeps the input width exactly (the block then has no
    expansion conv, as in the MobileNetV2 / EfficientNet reference code).
    """
    if stage.mid_channels:
        return ctx.round(stage.mid_channels * ctx.width_mult)
    if stage.expand == 1.0:
        return ctx.cin
    return ctx.round(ctx.cin * stage.expand)
