"""The block contract: a stage resolves to block specs, a spec plans its layers.

A *plan* is the ordered list of primitive layer specs of one block plus its shortcut.
:class:`ChainBlock` builds a plan into a module and :func:`plan_cost` sums the same plan's
costs, so a block's build and cost are one description read twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from search_spaces.rounding import make_divisible
from search_spaces.genome import Norm, Quirks, Stage
from search_spaces.layers import Cost, Primitive, SESpec, Size, make_act, se_channels
from search_spaces.registry import Registry

__all__ = [
    "BLOCKS", "BlockContext", "BlockSpec", "BlockType", "ChainBlock", "ChainBlockType", "Plan", "drop_path",
    "next_prev", "plan_cost",
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
class BlockSpec:
    """A fully resolved block of the MBConv family (conv, ds, mbconv, fused).

    Attributes:
        kind: Registered block type.
        cin: Input channels.
        cout: Output channels.
        stride: Stride of the spatial conv.
        kernel: Kernel size of the spatial conv.
        mid: Middle (expanded) width; equals ``cin`` when there is no expansion conv.
        se: Squeeze-excitation bottleneck width, 0 for none.
        act: Activation name.
        se_act: SE inner activation name.
        se_gate: SE gate activation name.
        residual: Whether the identity shortcut is added.
        drop_path: Stochastic-depth rate on the residual branch. Excluded from equality
            and hashing: it is a training-time rate that changes neither shape nor cost,
            so equal specs can share one cost computation.
        pw_act: Activation after a depthwise-separable block's pointwise conv.
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
    """

    kind: str
    cin: int
    cout: int
    stride: int
    kernel: int
    mid: int
    se: int
    act: str
    se_act: str
    se_gate: str
    residual: bool
    drop_path: float = field(compare=False)
    pw_act: bool
    norm: Norm
    padding: str

    def se_spec(self) -> SESpec:
        """The SE layer over the middle width."""
        return SESpec(self.mid, self.se, self.se_act, self.se_gate)


@dataclass(frozen=True)
class Plan:
    """The named primitive layers of one block, in order, and its shortcut.

    Attributes:
        layers: The residual branch (or the whole block when ``residual`` is false).
        residual: Whether the block adds a shortcut to its branch.
        drop_path: Stochastic-depth rate applied to the branch before the addition.
        shortcut: Projection on the shortcut path (e.g. 1x1 conv + norm when the
            shape changes, as in ResNet); ``None`` is the identity.
        post_act: Activation after the addition (ResNet v1); empty for none.
    """

    layers: tuple[tuple[str, Primitive], ...]
    residual: bool = False
    drop_path: float = 0.0
    shortcut: Primitive | None = None
    post_act: str = ""


def plan_cost(plan: Plan, size: Size) -> tuple[Cost, Size]:
    """Sum the costs of a plan's layers (and shortcut), threading the spatial size through them."""
    total, out = Cost(), size
    for _, layer in plan.layers:
        cost, out = layer.cost(out)
        total = total + cost
    if plan.residual and plan.shortcut is not None:
        total = total + plan.shortcut.cost(size)[0]
    return total, out


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): drop the whole residual branch per sample.

    Survivors are scaled by ``1 / (1 - rate)`` so the expectation is unchanged.
    """
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask.div_(keep)


class ChainBlock(nn.Module):
    """A plan's layers in sequence, plus its shortcut and post-addition activation when it has them.

    Children are the plan's layer names (``expand``, ``dw``, ``se``, ``project``...), then
    ``shortcut`` and ``post_act`` if present, so weights are addressed by what they are.
    """

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        for name, layer in plan.layers:
            self.add_module(name, layer.build())
        self._body = tuple(name for name, _ in plan.layers)
        self.residual = plan.residual
        self.drop_rate = plan.drop_path if plan.residual else 0.0
        if plan.residual and plan.shortcut is not None:
            self.shortcut = plan.shortcut.build()
        if plan.post_act:
            self.post_act = make_act(plan.post_act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for name in self._body:
            out = self._modules[name](out)
        if self.residual:
            shortcut = self._modules["shortcut"](x) if "shortcut" in self._modules else x
            out = drop_path(out, self.drop_rate, self.training) + shortcut
        if "post_act" in self._modules:
            out = self._modules["post_act"](out)
        return out

    def extra_repr(self) -> str:
        return f"residual={self.residual}, drop_path={self.drop_rate:g}" if self.residual else ""


class BlockType(ABC):
    """A block family: how a stage becomes block specs, and how a spec is built and costed.

    Attributes:
        two_inputs: Whether built blocks take ``(x, prev)``: the block's input and the
            input before it (NASNet-style cells); ``prev`` is ``None`` for the first block.
        fresh_blocks: Blocks ``>= fresh_blocks`` of a stage differ from the one before
            only in their drop-path rate, so the resolver copies the spec instead of
            calling :meth:`resolve` again (2 for single-input blocks; a cell's third
            block is the first whose two inputs both come from the stage).
    """

    two_inputs: ClassVar[bool] = False
    fresh_blocks: ClassVar[int] = 2

    @abstractmethod
    def resolve(self, stage: Stage, ctx: BlockContext) -> Any:
        """Pure: the resolved spec of one block of ``stage`` at position ``ctx``.

        The spec must be a frozen dataclass with ``kind``, ``cin``, ``cout``, ``stride``
        and ``drop_path`` fields (``drop_path`` excluded from equality), and may have a
        true ``keeps_prev`` field (see :func:`next_prev`).
        """

    @abstractmethod
    def build(self, spec: Any) -> nn.Module:
        """A fresh module for ``spec``."""

    @abstractmethod
    def cost(self, spec: Any, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        """Exact cost of ``spec`` at input size ``size`` (``prev_size``: size of ``prev``) and its output size."""


class ChainBlockType(BlockType):
    """A single-input block whose layers form one :class:`Plan` (everything but cells)."""

    @abstractmethod
    def plan(self, spec: Any) -> Plan:
        """Pure: the layers of the block ``spec`` describes."""

    def build(self, spec: Any) -> nn.Module:
        return ChainBlock(self.plan(spec))

    def cost(self, spec: Any, size: Size, prev_size: Size | None = None) -> tuple[Cost, Size]:
        return plan_cost(self.plan(spec), size)

    def se_width(self, stage: Stage, ctx: BlockContext, mid: int) -> int:
        """SE bottleneck width for this block (0 when the stage has no SE)."""
        if stage.se <= 0:
            return 0
        base = ctx.cin if ctx.quirks.se_base == "in" else mid
        return se_channels(base, stage.se, ctx.quirks.se_divisor)

    def mbconv_spec(self, kind: str, stage: Stage, ctx: BlockContext, mid: int) -> BlockSpec:
        """The common spec of MBConv-family blocks."""
        return BlockSpec(
            kind=kind, cin=ctx.cin, cout=ctx.cout, stride=ctx.stride, kernel=stage.kernel, mid=mid,
            se=self.se_width(stage, ctx, mid), act=ctx.act, se_act=ctx.quirks.se_act or ctx.act,
            se_gate=ctx.quirks.se_gate,
            residual=stage.skip and ctx.stride == 1 and ctx.cin == ctx.cout,
            drop_path=ctx.drop_path, pw_act=stage.pw_act, norm=ctx.norm, padding=ctx.quirks.padding,
        )


BLOCKS: Registry[BlockType] = Registry("block type")


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
