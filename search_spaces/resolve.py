"""Genome -> resolved spec: every rounding, scaling and compatibility rule, in one pure function.

The resolved spec is what both :func:`search_spaces.build` and :func:`search_spaces.cost`
iterate, so the module and its analytic cost cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from search_spaces.rounding import round_channels
from search_spaces.blocks import BLOCKS, CELL_OPS, BlockContext, Plan, next_prev
from search_spaces.errors import GenomeError
from search_spaces.genome import MAX_RESOLUTION, Network
from search_spaces.layers import (
    ACTIVATIONS,
    NORMS,
    ActSpec,
    ConvSpec,
    DropoutSpec,
    GlobalPoolSpec,
    LinearSpec,
    NormSpec,  # the pooled-feature norm (ConvNeXt)
)

__all__ = ["ResolvedNet", "check_names", "resolve"]


@dataclass(frozen=True)
class ResolvedNet:
    """A network with every width, depth, stride and rate decided.

    Attributes:
        name: The genome's name.
        resolution: Input size used for costs.
        in_channels: Input image channels.
        num_classes: Classifier outputs.
        stem: The first conv.
        stages: Block specs (each block type's own frozen spec), grouped by stage.
        head: The head's layers (conv, pooling, hidden layer, dropout, classifier).
    """

    name: str
    resolution: int
    in_channels: int
    num_classes: int
    stem: ConvSpec
    stages: tuple[tuple[Any, ...], ...]
    head: Plan

    def blocks(self) -> Iterator[Any]:
        """All block specs in forward order."""
        for stage in self.stages:
            yield from stage


def check_names(genome: Network) -> None:
    """Raise :class:`GenomeError` naming the field if a block, activation or norm name is unknown."""
    checks: list[tuple[str, str, object]] = [
        ("act", genome.act, ACTIVATIONS), ("stem.act", genome.stem.act, ACTIVATIONS),
        ("head.hidden_act", genome.head.hidden_act, ACTIVATIONS), ("head.pre_act", genome.head.pre_act, ACTIVATIONS),
        ("quirks.se_act", genome.quirks.se_act, ACTIVATIONS),
        ("quirks.se_gate", genome.quirks.se_gate, ACTIVATIONS), ("norm.name", genome.norm.name, NORMS),
    ]
    for i, stage in enumerate(genome.stages):
        checks.append((f"stages[{i}].block", stage.block, BLOCKS))
        checks.append((f"stages[{i}].act", stage.act, ACTIVATIONS))
        for k, node in enumerate(stage.cell[:-1]):
            checks += [(f"stages[{i}].cell[{k}]", op, CELL_OPS) for op in (node[0], node[2])]
    for where, name, registry in checks:
        if name == "" and where != "norm.name" and not where.endswith((".block", "]")):
            continue  # empty activation = inherit the default
        if name not in registry:  # type: ignore[operator]
            raise GenomeError(f"{where}: {registry.unknown_message(name)}", where)  # type: ignore[attr-defined]


def resolve(genome: Network, resolution: int | None = None) -> ResolvedNet:
    """Apply the genome's scaling and rounding rules and resolve every block.

    Widths: ``round_channels(c, width_mult)`` with the genome's divisor and guard, for the
    stem (if ``stem.scale``), every stage and the head conv (EfficientNet ``round_filters``).
    Depths: :meth:`Network.depths <search_spaces.genome.Network.depths>` (EfficientNet ``round_repeats``).
    The first block of a stage takes the stage's stride and the previous width; block ``i``
    of ``n`` gets stochastic depth ``drop_path * i / n``.

    Args:
        genome: The network to resolve.
        resolution: Input size; ``None`` uses ``genome.resolution``.

    Raises:
        GenomeError: if a name is unknown or the input is too small for the strides or larger
            than :data:`~search_spaces.genome.MAX_RESOLUTION`.
    """
    check_names(genome)
    q, act = genome.quirks, genome.act
    size = genome.resolution if resolution is None else resolution
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_RESOLUTION:
        raise GenomeError(f"resolution must be an integer from 1 to {MAX_RESOLUTION}, got {size!r}", "resolution")

    def width(channels: int) -> int:
        return round_channels(channels, genome.width_mult, q.channel_divisor, q.round_limit)

    stem_out = width(genome.stem.channels) if genome.stem.scale else genome.stem.channels
    stem = ConvSpec(genome.in_channels, stem_out, genome.stem.kernel, genome.stem.stride,
                    norm=genome.norm if genome.stem.norm else None, bias=genome.stem.bias,
                    act=genome.stem.act or act, padding=genome.stem.padding or q.padding)
    depths = genome.depths()
    total = sum(depths)
    index, cin, scale = 0, stem_out, 1
    prev_cin, prev_scale = 0, 1  # the input before a block's input (cells read it); none yet
    previous: Any = None
    stages: list[tuple[Any, ...]] = []
    for i, (stage, depth) in enumerate(zip(genome.stages, depths)):
        kind = BLOCKS.get(stage.block)
        cout = width(stage.channels)
        specs: list[Any] = []
        for j in range(depth):
            rate = genome.drop_path * index / total
            if j < kind.fresh_blocks:
                ctx = BlockContext(cin=cin, cout=cout, stride=stage.stride if j == 0 else 1, act=stage.act or act,
                                   drop_path=rate, norm=genome.norm, quirks=q, width_mult=genome.width_mult,
                                   prev_cin=prev_cin, prev_stride=scale // prev_scale, previous=previous)
                try:
                    previous = kind.resolve(stage, ctx)
                except GenomeError as err:
                    raise GenomeError(f"stages[{i}].{err}", f"stages[{i}].{err.field}") from None
            elif rate != previous.drop_path:  # same context as the block before but for the rate: skip re-deriving
                previous = replace(previous, drop_path=rate)
            # else: an equal spec; sharing the object also lets the cost loop skip repeats
            specs.append(previous)
            prev_cin, prev_scale = next_prev(previous, (cin, scale), (prev_cin, prev_scale))
            cin, scale, index = previous.cout, scale * previous.stride, index + 1
        stages.append(tuple(specs))
    return ResolvedNet(genome.name, size, genome.in_channels, genome.num_classes, stem, tuple(stages),
                       _head(genome, cin, width))


def _head(genome: Network, cin: int, width: Callable[[int], int]) -> Plan:
    """Head layers: [1x1 conv] -> global pool -> [hidden linear -> act] -> dropout -> classifier."""
    h, layers = genome.head, []
    if h.channels:
        out = width(h.channels)
        layers.append(("conv", ConvSpec(cin, out, 1, norm=genome.norm, act=genome.act, padding=genome.quirks.padding)))
        cin = out
    if h.pre_act:
        layers.append(("pre_act", ActSpec(h.pre_act)))
    if h.conv_classifier:  # SqueezeNet: dropout -> 1x1 conv to the classes -> act -> pool
        layers += [("dropout", DropoutSpec(h.dropout)),
                   ("classifier", ConvSpec(cin, genome.num_classes, 1, act=genome.act, bias=True)),
                   ("pool", GlobalPoolSpec())]
        return Plan(tuple(layers))
    layers.append(("pool", GlobalPoolSpec()))
    if h.pool_norm:  # ConvNeXt: LayerNorm on the pooled features
        layers.append(("pool_norm", NormSpec(cin, genome.norm)))
    if h.hidden:
        hidden = width(h.hidden)
        layers.append(("hidden", LinearSpec(cin, hidden)))
        layers.append(("hidden_act", ActSpec(h.hidden_act or genome.act)))
        cin = hidden
    layers.append(("dropout", DropoutSpec(h.dropout)))
    layers.append(("classifier", LinearSpec(cin, genome.num_classes)))
    return Plan(tuple(layers))

