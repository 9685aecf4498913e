"""Plans: a block's layers as plain data, run by one module class and costed by one function.

Every block, whatever its shape, is described once, as a :class:`Plan`; :class:`PlanModule`
builds and runs that description and :func:`plan_cost` sums its costs, so a block's module
and its analytic cost are one description read twice and cannot drift apart.

The vocabulary:

- a *layer* is a named entry of a plan. It is one of

  - a primitive layer spec (``ConvSpec``, ``SESpec``, ``PoolSpec``...: it builds its own
    module and states its own cost), built as the child module of that name;
  - a nested :class:`Plan`, built as a child :class:`PlanModule` of that name (its children
    are addressed ``name.child``);
  - a *combinator*: a parameter-free operation on one or more values that builds no module,
    so its name is only a label: :class:`Concat`, :class:`Add`, :class:`Multiply` (by a
    gate), :class:`ChannelSplit`, :class:`ChannelShuffle`, :class:`DropPath`, :class:`Zeros` (a zero
    feature map shaped like the value it reads: a node of a cell whose every input is a ``none`` op).

  A name with a dot (``ops.3``) puts the child in a container (``ops``), as NASNet cells
  number their ops.
- a :class:`Plan` runs its layers as a chain, each reading the previous one's output; with
  ``residual`` the block's input, or ``shortcut`` of it, is added to the chain's output
  (after stochastic depth), then ``post_act`` is applied: the MBConv / ResNet block.
- a :class:`Graph` is a plan whose layers read chosen earlier *values*: the block's inputs
  are values ``0 .. inputs - 1``, then each layer adds one value, and the block's output is
  the last value. Multi-branch blocks (Fire, ShuffleNet, Inception, NASNet cells, DenseNet's
  concatenation, ResNet v2's pre-activated shortcut) are graphs. :class:`GraphBuilder`
  writes one the way a ``forward`` reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from search_spaces.layers.activations import make_act
from search_spaces.layers.base import FREE, Cost, Size

__all__ = [
    "ADD", "CONCAT", "MULTIPLY", "Add", "ChannelShuffle", "ChannelSplit", "Combinator", "Concat", "DropPath", "Graph",
    "GraphBuilder", "Multiply", "OneInput", "Plan", "PlanModule", "Zeros", "channel_shuffle", "drop_path", "plan_cost",
]


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): drop the whole residual branch per sample.

    Survivors are scaled by ``1 / (1 - rate)`` so the expectation is unchanged.
    """
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask.div_(keep)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Channel ``c = i * n + j`` of ``groups`` groups of ``n`` moves to ``j * groups + i``.

    Zhang et al. 2018, sec. 3.1, fig. 1c (torchvision's ``channel_shuffle``).
    """
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


# ----------------------------------------------------------------------------- combinators


class Combinator(ABC):
    """A parameter-free operation on the values a plan layer reads; it builds no module."""

    @abstractmethod
    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        """The output for input tensors ``xs`` (``training``: the module's mode)."""

    def cost(self, *sizes: Size) -> tuple[Cost, Size]:
        """No parameters and no MACs; every input must have the same spatial size, which is the output's."""
        first = sizes[0]
        for other in sizes:
            if other != first:
                raise ValueError(f"{type(self).__name__} of feature maps of different sizes: {list(sizes)}")
        return FREE, first


class OneInput(Combinator):
    """A combinator of one value: no parameters, no MACs, the size unchanged."""

    def cost(self, *sizes: Size) -> tuple[Cost, Size]:
        return FREE, sizes[0]


@dataclass(frozen=True)
class Concat(Combinator):
    """Concatenate the inputs along the channels, in the order read (Inception's filter concatenation)."""

    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        return torch.cat(list(xs), 1)


@dataclass(frozen=True)
class Add(Combinator):
    """Sum the inputs elementwise, in the order read (a residual addition, a cell node's ``add``)."""

    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


@dataclass(frozen=True)
class Multiply(Combinator):
    """``xs[0] * xs[1]``: a feature map multiplied by a gate computed from it (VAN's Large Kernel Attention)."""

    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        return xs[0] * xs[1]


@dataclass(frozen=True)
class ChannelSplit(OneInput):
    """Part ``index`` of the input's channels split into ``parts`` chunks (ShuffleNet V2's channel split, fig. 3c)."""

    parts: int
    index: int

    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        return xs[0].chunk(self.parts, dim=1)[self.index]


@dataclass(frozen=True)
class ChannelShuffle(OneInput):
    """:func:`channel_shuffle` with ``groups`` groups (ShuffleNet, Zhang et al. 2018, sec. 3.1)."""

    groups: int

    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        return channel_shuffle(xs[0], self.groups)


@dataclass(frozen=True)
class DropPath(OneInput):
    """:func:`drop_path` at ``rate`` in training, the identity otherwise (NASNet's ScheduledDropPath on cell ops)."""

    rate: float

    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        return drop_path(xs[0], self.rate, training)


@dataclass(frozen=True)
class Zeros(OneInput):
    """Zeros of ``channels`` channels at the size of the value read (NAS-Bench-201's ``none`` op, ``Zero``).

    A cell node whose every input is ``none`` holds this; what reads it computes on zeros, as the
    reference does (a ReLU-conv-BN of zeros outputs its norm's shift).
    """

    channels: int

    def apply(self, xs: Sequence[torch.Tensor], training: bool) -> torch.Tensor:
        x = xs[0]
        return x.new_zeros((x.shape[0], self.channels, *x.shape[2:]))


CONCAT = Concat()
ADD = Add()
MULTIPLY = Multiply()


# ----------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Plan:
    """The named layers of one block, in order, run as a chain, and its shortcut.

    Attributes:
        layers: ``(name, layer)`` pairs (see the module docstring): the residual branch, or
            the whole block when ``residual`` is false.
        residual: Whether the block adds its input (or ``shortcut`` of it) to the branch.
        drop_path: Stochastic-depth rate applied to the branch before the addition.
        shortcut: Projection on the shortcut path (e.g. 1x1 conv + norm when the shape
            changes, as in ResNet); ``None`` is the identity.
        post_act: Activation after the addition (ResNet v1); empty for none.
    """

    layers: tuple[tuple[str, Any], ...]
    residual: bool = False
    drop_path: float = 0.0
    shortcut: Any | None = None
    post_act: str = ""

    def build(self) -> PlanModule:
        """The module that runs this plan (so a plan nests in another as a layer)."""
        return PlanModule(self)

    def cost(self, size: Size, *more: Size | None) -> tuple[Cost, Size]:
        """:func:`plan_cost` of this plan."""
        return plan_cost(self, size, *more)


@dataclass(frozen=True)
class Graph(Plan):
    """A plan whose layers read chosen values: the block's inputs, then one value per layer.

    Attributes:
        reads: Per layer, the numbers of the values it reads (``0 .. inputs - 1``: the
            block's inputs; ``inputs + i``: layer ``i``'s output); only earlier values.
        inputs: How many inputs the block takes (2 for a NASNet cell: ``h_i`` and ``h_{i-1}``).

    The block's output is the last layer's (then the residual fields apply, as in a plan).
    """

    reads: tuple[tuple[int, ...], ...] = ()
    inputs: int = 1


class GraphBuilder:
    """Writes a :class:`Graph` in the order of a ``forward``: each call adds a layer and returns its value.

    Example (SqueezeNet's Fire module)::

        g = GraphBuilder()
        squeezed = g("squeeze", squeeze, g.input())
        g("cat", CONCAT, g("expand1x1", expand1, squeezed), g("expand3x3", expand3, squeezed))
        return g.graph()

    Args:
        inputs: How many inputs the block takes.
    """

    __slots__ = ("_count", "_layers", "_reads", "inputs")  # a plan is written for every block costed: keep it lean

    def __init__(self, inputs: int = 1) -> None:
        self.inputs = inputs
        self._count = inputs  # values so far
        self._layers: list[tuple[str, Any]] = []
        self._reads: list[tuple[int, ...]] = []

    def input(self, index: int = 0) -> int:
        """The value of the block's input ``index``."""
        if not 0 <= index < self.inputs:
            raise ValueError(f"input {index} of a block with {self.inputs} inputs")
        return index

    def __call__(self, name: str, layer: Any, *reads: int) -> int:
        """Add ``layer`` under ``name``, reading the values ``reads``; return the number of its output."""
        count = self._count
        for r in reads or (-1,):
            if not 0 <= r < count:
                raise ValueError(f"layer {name!r} must read earlier values (0..{count - 1}), got {list(reads)}")
        self._layers.append((name, layer))
        self._reads.append(reads)
        self._count = count + 1
        return count

    def graph(self, **residual: Any) -> Graph:
        """The graph written so far; ``residual`` takes :class:`Plan`'s shortcut fields."""
        if residual:
            return Graph(tuple(self._layers), reads=tuple(self._reads), inputs=self.inputs, **residual)
        return Graph(tuple(self._layers), False, 0.0, None, "", tuple(self._reads), self.inputs)


def plan_cost(plan: Plan, size: Size, *more: Size | None) -> tuple[Cost, Size]:
    """Exact cost of a plan (a graph too) at the sizes of its inputs, and the size of its output.

    Sums every layer's cost, threading spatial sizes through the layers as the module
    threads tensors (a graph's layers receive the sizes of the values they read), plus the
    shortcut's cost. Combinators cost nothing.
    """
    params = macs = acts = 0
    if isinstance(plan, Graph):
        sizes = [size, *more]
        missing = {i for i, s in enumerate(sizes) if s is None} if None in more else None
        for (name, layer), reads in zip(plan.layers, plan.reads):
            if missing and not missing.isdisjoint(reads):
                raise ValueError(f"layer {name!r} reads a block input that was not given")
            if len(reads) == 1:
                part, out = layer.cost(sizes[reads[0]])
            else:
                part, out = layer.cost(*[sizes[i] for i in reads])
            params, macs, acts = params + part.params, macs + part.macs, acts + part.activations
            sizes.append(out)
        out = sizes[-1]
    else:
        out = size
        for _, layer in plan.layers:
            part, out = layer.cost(out)
            params, macs, acts = params + part.params, macs + part.macs, acts + part.activations
    if plan.residual and plan.shortcut is not None:
        part = plan.shortcut.cost(size)[0]
        params, macs, acts = params + part.params, macs + part.macs, acts + part.activations
    return Cost(params, macs, acts), out


class PlanModule(nn.Module):
    """The one module class that runs a :class:`Plan` (or :class:`Graph`).

    Children are the plan's non-combinator layers under their names (``expand``, ``dw``,
    ``se``, ``project``...; dotted names inside containers), then ``shortcut`` and
    ``post_act`` if present, so weights are addressed by what they are. Children are fixed
    at construction.

    Attributes:
        residual: Whether the plan adds its input to the branch.
        drop_rate: The branch's stochastic-depth rate (0 without a residual).
    """

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        steps = []
        for name, layer in plan.layers:
            if isinstance(layer, Combinator):
                steps.append((None, layer))
            else:
                steps.append((self._add_child(name, layer.build()), None))
        self._steps: tuple[tuple[nn.Module | None, Combinator | None], ...] = tuple(steps)
        self._reads = plan.reads if isinstance(plan, Graph) else None
        self.residual = plan.residual
        self.drop_rate = plan.drop_path if plan.residual else 0.0
        shortcut = self._add_child("shortcut", plan.shortcut.build()) if (
            plan.residual and plan.shortcut is not None) else None
        post_act = self._add_child("post_act", make_act(plan.post_act, inplace=True)) if plan.post_act else None
        self._ends = (shortcut, post_act)  # a tuple, so no second registration under another name

    def _add_child(self, name: str, module: nn.Module) -> nn.Module:
        """Register ``module`` as ``name``; ``a.b`` registers it as ``b`` in a container ``a``."""
        parent: nn.Module = self
        *path, leaf = name.split(".")
        for part in path:
            if part not in parent._modules:
                parent.add_module(part, nn.ModuleDict())
            parent = parent._modules[part]  # type: ignore[assignment]
        parent.add_module(leaf, module)
        return module

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        if self._reads is None:
            out = inputs[0]
            for module, combine in self._steps:
                out = module(out) if combine is None else combine.apply((out,), self.training)  # type: ignore[misc]
        else:
            values = list(inputs)
            for (module, combine), reads in zip(self._steps, self._reads):
                if combine is not None:
                    values.append(combine.apply([values[i] for i in reads], self.training))  # type: ignore[misc]
                elif len(reads) == 1:
                    values.append(module(values[reads[0]]))  # type: ignore[misc]
                else:
                    values.append(module(*[values[i] for i in reads]))  # type: ignore[misc]
            out = values[-1]
        project, post_act = self._ends
        if self.residual:
            x = inputs[0]
            shortcut = project(x) if project is not None else x
            out = drop_path(out, self.drop_rate, self.training) + shortcut  # type: ignore[arg-type, operator]
        if post_act is not None:
            out = post_act(out)
        return out  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"residual={self.residual}, drop_path={self.drop_rate:g}" if self.residual else ""
