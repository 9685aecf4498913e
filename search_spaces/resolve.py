"""Genome -> resolved spec: every rounding, scaling and compatibility rule, in one pure function.

The resolved spec is what both :func:`search_spaces.build` and :func:`search_spaces.cost`
iterate, so the module and its analytic cost cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Callable, Iterator

from scaling.rounding import round_channels, round_repeats
from search_spaces.blocks import BLOCKS, BlockContext, BlockSpec, Plan
from search_spaces.errors import GenomeError
from search_spaces.genome import Network
from search_spaces.layers import ACTIVATIONS, NORMS, ActSpec, ConvSpec, DropoutSpec, GlobalPoolSpec, LinearSpec

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
        stages: Block specs, grouped by stage.
        head: The head's layers (conv, pooling, hidden layer, dropout, classifier).
    """

    name: str
    resolution: int
    in_channels: int
    num_classes: int
    stem: ConvSpec
    stages: tuple[tuple[BlockSpec, ...], ...]
    head: Plan

    def blocks(self) -> Iterator[BlockSpec]:
        """All block specs in forward order."""
        for stage in self.stages:
            yield from stage


def check_names(genome: Network) -> None:
    """Raise :class:`GenomeError` naming the field if a block, activation or norm name is unknown."""
    checks: list[tuple[str, str, object]] = [
        ("act", genome.act, ACTIVATIONS), ("stem.act", genome.stem.act, ACTIVATIONS),
        ("head.hidden_act", genome.head.hidden_act, ACTIVATIONS), ("quirks.se_act", genome.quirks.se_act, ACTIVATIONS),
        ("quirks.se_gate", genome.quirks.se_gate, ACTIVATIONS), ("norm.name", genome.norm.name, NORMS),
    ]
    for i, stage in enumerate(genome.stages):
        checks.append((f"stages[{i}].block", stage.block, BLOCKS))
        checks.append((f"stages[{i}].act", stage.act, ACTIVATIONS))
    for where, name, registry in checks:
        if name == "" and where != "norm.name" and not where.endswith(".block"):
            continue  # empty activation = inherit the default
        if name not in registry:  # type: ignore[operator]
            raise GenomeError(f"{where}: {registry.unknown_message(name)}", where)  # type: ignore[attr-defined]


def resolve(genome: Network, resolution: int | None = None) -> ResolvedNet:
    """Apply the genome's scaling and rounding rules and resolve every block.

    Widths: ``round_channels(c, width_mult)`` with the genome's divisor and guard, for the
    stem (if ``stem.scale``), every stage and the head conv (EfficientNet ``round_filters``).
    Depths: ``round_repeats(depth, depth_mult)`` per stage (EfficientNet ``round_repeats``).
    The first block of a stage takes the stage's stride and the previous width; block ``i``
    of ``n`` gets stochastic depth ``drop_path * i / n``.

    Args:
        genome: The network to resolve.
        resolution: Input size; ``None`` uses ``genome.resolution``.

    Raises:
        GenomeError: if a name is unknown or the input is too small for the strides.
    """
    check_names(genome)
    q, act = genome.quirks, genome.act
    size = genome.resolution if resolution is None else resolution
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise GenomeError(f"resolution must be a positive integer, got {size!r}", "resolution")

    def width(channels: int) -> int:
        return round_channels(channels, genome.width_mult, q.channel_divisor, q.round_limit)

    stem_out = width(genome.stem.channels) if genome.stem.scale else genome.stem.channels
    stem = ConvSpec(genome.in_channels, stem_out, genome.stem.kernel, genome.stem.stride, norm=genome.norm,
                    act=genome.stem.act or act, padding=q.padding)
    depths = [round_repeats(s.depth, genome.depth_mult, q.depth_rounding) for s in genome.stages]
    total = sum(depths)
    index, cin = 0, stem_out
    stages: list[tuple[BlockSpec, ...]] = []
    for stage, depth in zip(genome.stages, depths):
        kind = BLOCKS.get(stage.block)
        cout = width(stage.channels)
        specs = []
        for j in range(depth):
            rate = genome.drop_path * index / total
            if j < 2:
                ctx = BlockContext(cin=cin, cout=cout, stride=stage.stride if j == 0 else 1, act=stage.act or act,
                                   drop_path=rate, norm=genome.norm, quirks=q, width_mult=genome.width_mult)
                specs.append(kind.resolve(stage, ctx))
            else:  # same context as block 1 but for the rate: skip re-deriving (a hot path in searches)
                specs.append(replace(specs[-1], drop_path=rate))
            cin, index = cout, index + 1
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
    layers.append(("pool", GlobalPoolSpec()))
    if h.hidden:
        hidden = width(h.hidden)
        layers.append(("hidden", LinearSpec(cin, hidden)))
        layers.append(("hidden_act", ActSpec(h.hidden_act or genome.act)))
        cin = hidden
    layers.append(("dropout", DropoutSpec(h.dropout)))
    layers.append(("classifier", LinearSpec(cin, genome.num_classes)))
    return Plan(tuple(layers))

