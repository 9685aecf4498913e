"""Genome -> resolved spec: every rounding, scaling and compatibility rule, in one pure function.

The resolved spec is what both :func:`search_spaces.build` and :func:`search_spaces.cost`
iterate, so the module and its analytic cost cannot disagree. Its parts are public because
the cost engine (:mod:`search_spaces.cost`) resolves a genome stage by stage with the very
same functions: :func:`stem_spec`, :func:`stage_specs` (over a :class:`Flow` and the
genome's :class:`Settings`) and :func:`head_plan`. Each reads only its arguments, so its
arguments are a complete memo key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, NamedTuple

from search_spaces.blocks import BLOCKS, CELL_OPS, BlockContext, Plan, next_prev
from search_spaces.errors import GenomeError
from search_spaces.genome import MAX_RESOLUTION, Head, Network, Norm, Quirks, Stage, Stem
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
from search_spaces.registry import Registry
from search_spaces.rounding import round_channels

__all__ = [
    "Flow", "ResolvedNet", "Settings", "check_names", "head_plan", "in_stage", "input_size", "resolve",
    "stage_specs", "stem_spec",
]


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


class Settings(NamedTuple):
    """The genome-wide settings every block's context inherits.

    Attributes:
        act: The network's default activation.
        norm: Norm settings.
        quirks: Reference-implementation details (rounding, padding, SE widths).
        width_mult: The width multiplier.
    """

    act: str
    norm: Norm
    quirks: Quirks
    width_mult: float

    @classmethod
    def of(cls, genome: Network) -> Settings:
        """The settings of ``genome``."""
        return cls(genome.act, genome.norm, genome.quirks, genome.width_mult)

    def width(self, channels: int) -> int:
        """A stage, stem or head width after scaling and rounding (EfficientNet ``round_filters``)."""
        q = self.quirks
        return round_channels(channels, self.width_mult, q.channel_divisor, q.round_limit)


class Flow(NamedTuple):
    """What a block receives from the blocks before it.

    Attributes:
        cin: Channels of its input ``h_i``.
        prev_cin: Channels of the input before it, ``h_{i-1}`` (cells read it); 0 right after the stem.
        prev_stride: How many times larger ``h_{i-1}`` is spatially than ``h_i``.
        previous: The previous block's spec; ``None`` for the first block.
    """

    cin: int
    prev_cin: int = 0
    prev_stride: int = 1
    previous: Any = None

    def after(self, spec: Any) -> Flow:
        """The flow into the block after ``spec``: its input is ``spec``'s output, its ``h_{i-1}`` is ``spec``'s
        input (``spec.stride`` times larger) or, when ``spec`` keeps it, ``spec``'s own ``h_{i-1}``
        (:func:`~search_spaces.blocks.next_prev`)."""
        stride = spec.stride
        prev_cin, prev_stride = next_prev(spec, (self.cin, stride), (self.prev_cin, self.prev_stride * stride))
        return Flow(spec.cout, prev_cin, prev_stride, spec)


def _unknown(where: str, name: str, registry: Registry[Any]) -> GenomeError:
    return GenomeError(f"{where}: {registry.unknown_message(name)}", where)


@lru_cache(maxsize=4096)
def _cell_problem(cell: tuple[tuple[Any, ...], ...]) -> tuple[str, str] | None:
    """The first unknown op of a cell genotype, as (field, op); ``None`` when all are known.

    Memoised on the genotype: a cell network repeats one or two genotypes over all its stages."""
    for k, node in enumerate(cell[:-1]):
        for op in (node[0], node[2]):
            if op not in CELL_OPS:
                return f"cell[{k}]", op
    return None


def _stage_problem(stage: Stage) -> tuple[str, str, Registry[Any]] | None:
    """The first unknown name of a stage, as (field, name, registry); ``None`` when all are known."""
    if stage.block not in BLOCKS:
        return "block", stage.block, BLOCKS
    if stage.act and stage.act not in ACTIVATIONS:
        return "act", stage.act, ACTIVATIONS
    problem = _cell_problem(stage.cell) if stage.cell else None
    return None if problem is None else (*problem, CELL_OPS)


def check_names(genome: Network) -> None:
    """Raise :class:`GenomeError` naming the field if a block, activation or norm name is unknown.

    Network-wide names are checked first, then the stages in order; an empty activation
    means "inherit the default" and is always allowed.
    """
    acts = (("act", genome.act), ("stem.act", genome.stem.act), ("head.hidden_act", genome.head.hidden_act),
            ("head.pre_act", genome.head.pre_act), ("quirks.se_act", genome.quirks.se_act),
            ("quirks.se_gate", genome.quirks.se_gate))
    for where, name in acts:
        if name and name not in ACTIVATIONS:
            raise _unknown(where, name, ACTIVATIONS)
    if genome.norm.name not in NORMS:
        raise _unknown("norm.name", genome.norm.name, NORMS)
    for i, stage in enumerate(genome.stages):
        problem = _stage_problem(stage)
        if problem is not None:
            raise _unknown(f"stages[{i}].{problem[0]}", problem[1], problem[2])


def input_size(genome: Network, resolution: int | None) -> int:
    """The input side to resolve or cost at: ``resolution``, or the genome's when ``None``.

    Raises:
        GenomeError: if it is not an integer from 1 to :data:`~search_spaces.genome.MAX_RESOLUTION`.
    """
    size = genome.resolution if resolution is None else resolution
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_RESOLUTION:
        raise GenomeError(f"resolution must be an integer from 1 to {MAX_RESOLUTION}, got {size!r}", "resolution")
    return size


def stem_spec(stem: Stem, in_channels: int, settings: Settings) -> ConvSpec:
    """The first conv: width-scaled when ``stem.scale``, with the network's norm, activation and padding."""
    out = settings.width(stem.channels) if stem.scale else stem.channels
    return ConvSpec(in_channels, out, stem.kernel, stem.stride, norm=settings.norm if stem.norm else None,
                    bias=stem.bias, act=stem.act or settings.act, padding=stem.padding or settings.quirks.padding)


def stage_specs(stage: Stage, flow: Flow, settings: Settings, rates: Sequence[float]) -> tuple[tuple[Any, ...], Flow]:
    """The block specs of one stage, ``len(rates)`` blocks deep, and the flow out of it.

    Block ``j`` gets stochastic depth ``rates[j]``. The first block takes the stage's stride
    and the incoming width; the first ``fresh_blocks`` blocks (of the stage's block type) are
    resolved by the block type, every later one is the block before it with its own rate.

    Args:
        stage: The stage.
        flow: What the stage's first block receives.
        settings: The genome-wide settings.
        rates: The drop-path rate of each block (its length is the stage's scaled depth).

    Raises:
        GenomeError: naming the stage's field if a block cannot be resolved (:func:`in_stage`
            names it as a field of the genome).
    """
    kind = BLOCKS.get(stage.block)
    cout = settings.width(stage.channels)
    act = stage.act or settings.act
    specs: list[Any] = []
    spec: Any = None
    for j, rate in enumerate(rates):
        if j < kind.fresh_blocks:
            ctx = BlockContext(  # positional, in field order: made for every block resolved
                flow.cin, cout, stage.stride if j == 0 else 1, act, rate,  # cin, cout, stride, act, drop_path
                settings.norm, settings.quirks, settings.width_mult,  # norm, quirks, width_mult
                flow.prev_cin, flow.prev_stride, flow.previous)  # prev_cin, prev_stride, previous
            spec = kind.resolve(stage, ctx)
        elif rate != spec.drop_path:  # same context as the block before but for the rate: skip re-deriving
            spec = replace(spec, drop_path=rate)
        # else: an equal spec; sharing the object also lets the cost loop skip repeats
        specs.append(spec)
        flow = flow.after(spec)
    return tuple(specs), flow


def in_stage(err: GenomeError, index: int) -> GenomeError:
    """``err``, raised for a field of a stage, named as a field of the genome's ``stages[index]``."""
    return GenomeError(f"stages[{index}].{err}", f"stages[{index}].{err.field}")


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
    size = input_size(genome, resolution)
    settings = Settings.of(genome)
    stem = stem_spec(genome.stem, genome.in_channels, settings)
    depths = genome.depths()
    total = sum(depths)
    flow, index = Flow(stem.cout), 0
    stages: list[tuple[Any, ...]] = []
    for i, (stage, depth) in enumerate(zip(genome.stages, depths)):
        rates = [genome.drop_path * (index + j) / total for j in range(depth)]
        try:
            specs, flow = stage_specs(stage, flow, settings, rates)
        except GenomeError as err:
            raise in_stage(err, i) from None
        stages.append(specs)
        index += depth
    return ResolvedNet(genome.name, size, genome.in_channels, genome.num_classes, stem, tuple(stages),
                       head_plan(genome.head, flow.cin, genome.num_classes, settings))


def head_plan(head: Head, cin: int, num_classes: int, settings: Settings) -> Plan:
    """Head layers: [1x1 conv] -> global pool -> [hidden linear -> act] -> dropout -> classifier."""
    layers: list[tuple[str, Any]] = []
    if head.channels:
        out = settings.width(head.channels)
        layers.append(("conv", ConvSpec(cin, out, 1, norm=settings.norm, act=settings.act,
                                        padding=settings.quirks.padding)))
        cin = out
    if head.pre_act:
        layers.append(("pre_act", ActSpec(head.pre_act)))
    if head.conv_classifier:  # SqueezeNet: dropout -> 1x1 conv to the classes -> act -> pool
        layers += [("dropout", DropoutSpec(head.dropout)),
                   ("classifier", ConvSpec(cin, num_classes, 1, act=settings.act, bias=True)),
                   ("pool", GlobalPoolSpec())]
        return Plan(tuple(layers))
    layers.append(("pool", GlobalPoolSpec()))
    if head.pool_norm:  # ConvNeXt: LayerNorm on the pooled features
        layers.append(("pool_norm", NormSpec(cin, settings.norm)))
    if head.hidden:
        hidden = settings.width(head.hidden)
        layers.append(("hidden", LinearSpec(cin, hidden)))
        layers.append(("hidden_act", ActSpec(head.hidden_act or settings.act)))
        cin = hidden
    layers.append(("dropout", DropoutSpec(head.dropout)))
    layers.append(("classifier", LinearSpec(cin, num_classes)))
    return Plan(tuple(layers))
