"""Seeded random genomes over the whole block vocabulary, for tests and benchmarks.

Not a search space (those live in :mod:`search_spaces.spaces`): this generator aims to
exercise every block type, quirk and rounding path, including odd combinations.

:data:`STAGES` says, for every registered block type, how to draw random stages of it; the
fields a block type declares (``BlockType.stage_fields``) are drawn from :data:`FIELDS`
unless its entry fixes them. A test checks that the table covers every registered block type,
so a new block type fails until it has an entry, and from then on the property tests (build
equals cost, exact YAML round trip, declared fields) draw it. A drawn stage is kept only if the
network so far still resolves and costs with feature maps of at least one pixel (the resolver
and the cost engine are the judges of validity, not rules copied here); otherwise it is
drawn again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from search_spaces.blocks import BLOCKS, NASNET_OPS
from search_spaces.blocks.inception import MODULES
from search_spaces.blocks.nb201 import OP_NAMES, edge_count
from search_spaces.errors import GenomeError
from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem

__all__ = ["FIELDS", "STAGES", "random_genotype", "random_network"]

_ACTS = ("relu", "relu6", "swish", "hard_swish")
#: Values a drawn stage takes for each field a block type declares, unless its entry fixes it.
FIELDS: dict[str, Sequence[Any]] = {
    "kernel": (1, 3, 3, 5, 7),
    "expand": (1.0, 1.0, 2.5, 3.0, 4.0, 6.0),
    "mid_channels": (0, 0, 0, 48),
    "se": (0.0, 0.25, 0.125),
    "act": ("",) + _ACTS,
    "skip": (True, True, True, False),
    "pw_act": (False, True),
    "group_width": (0, 0, 4, 8),
    "bottleneck": (1.0, 2.0, 4.0),
    "growth": (2, 4, 6),
    "groups": (1, 2, 3),
}
_WIDTHS = (8, 12, 16, 24, 40, 64)


@dataclass(frozen=True)
class Slot:
    """What a drawer knows about where its stages go.

    Attributes:
        cin: The resolved width of their input.
        max_depth: Most blocks per stage.
        divisor: The network's channel divisor (widths are rounded to its multiples).
    """

    cin: int
    max_depth: int
    divisor: int


#: ``(rng, slot, block) -> stages``: a drawer of random stages of block type ``block``.
Draw = Callable[[random.Random, Slot, str], tuple[Stage, ...]]


def _stage(rng: random.Random, slot: Slot, block: str, strides: Sequence[int] = (1, 1, 2), **fixed: Any) -> Stage:
    """A stage of ``block``: depth, width and stride drawn, its declared fields from :data:`FIELDS` unless ``fixed``."""
    drawn = {name: rng.choice(FIELDS[name]) for name in BLOCKS.get(block).stage_fields if name not in fixed}
    fixed.setdefault("depth", rng.randint(1, slot.max_depth))
    fixed.setdefault("channels", rng.choice(_WIDTHS))
    fixed.setdefault("stride", rng.choice(strides))
    return Stage(block, **{**drawn, **fixed})


def _plain(strides: Sequence[int] = (1, 1, 2), **fixed: Sequence[Any]) -> Draw:
    """A drawer of one stage with ``strides``, its fields drawn (``fixed``: a field's own choices)."""
    def draw(rng: random.Random, slot: Slot, block: str) -> tuple[Stage, ...]:
        return (_stage(rng, slot, block, strides, **{k: rng.choice(v) for k, v in fixed.items()}),)
    return draw


def _after(prepare: str, prepare_strides: Sequence[int], **fixed: Sequence[Any]) -> Draw:
    """A drawer of a ``prepare`` stage, then a stage of the block that needs its input width equal to its own."""
    def draw(rng: random.Random, slot: Slot, block: str) -> tuple[Stage, ...]:
        first = _stage(rng, slot, prepare, prepare_strides, depth=1)
        return first, _stage(rng, slot, block, (1,), channels=first.channels,
                             **{k: rng.choice(v) for k, v in fixed.items()})
    return draw


def _shuffle(rng: random.Random, slot: Slot, block: str) -> tuple[Stage, ...]:
    """A downsampling unit that widens, then units that keep the width (ShuffleNet's stages)."""
    fixed = {"groups": rng.choice(FIELDS["groups"])} if block == "shuffle_v1" else {}
    first = _stage(rng, slot, block, (2,), depth=1, **fixed)
    return first, _stage(rng, slot, block, (1,), channels=first.channels, **fixed)


def _inception(rng: random.Random, slot: Slot, block: str) -> tuple[Stage, ...]:
    """An Inception module of small random branch widths; ``channels`` is their concatenation at width 1."""
    table = MODULES[block]
    widths = tuple(slot.divisor * rng.choice((1, 2)) if slot.divisor > 2 else rng.choice((2, 4, 6, 8))
                   for _ in range(table.widths))
    strides = (1, 2) if block in ("inception_b", "inception_d") else (1,)
    fixed = {"kernel": rng.choice((3, 5))} if table.kernel else {}
    return (_stage(rng, slot, block, strides, depth=1, channels=table.out(slot.cin, widths), branches=widths,
                   **fixed),)


def _cell(rng: random.Random, slot: Slot, block: str) -> tuple[Stage, ...]:
    return (_stage(rng, slot, block, channels=rng.choice((4, 6, 8, 12)), cell=random_genotype(rng)),)


def _nb201_cell(rng: random.Random, slot: Slot, block: str) -> tuple[Stage, ...]:
    """A densely connected cell of 2 to 4 nodes (1 to 6 edges) of random NAS-Bench-201 ops."""
    edges = tuple(rng.choice(OP_NAMES) for _ in range(edge_count(rng.choice((2, 3, 4, 4)))))
    return (_stage(rng, slot, block, (1,), edges=edges),)


#: Block type -> how to draw valid random stages of it.
STAGES: dict[str, Draw] = {
    **{name: _plain() for name in ("conv", "ds", "mbconv", "fused", "bottleneck", "basic", "preact_bottleneck",
                                  "preact_basic", "inception_conv", "inception_conv_valid", "van_embed")},
    "transition": _plain((1, 2)),
    **{name: _plain((1,)) for name in ("fire", "dense", "norm_act", "van_norm")},
    **{name: _plain((2,), kernel=(2, 3)) for name in ("pool", "avgpool", "pool_ceil", "inception_pool",
                                                     "convnext_down")},
    "van": _after("van_embed", (1, 2)),
    "convnext": _after("convnext_down", (2,), kernel=(3, 7)),
    "shuffle_v1": _shuffle,
    "shuffle_v2": _shuffle,
    "cell": _cell,
    "nb201_cell": _nb201_cell,
    "nb201_reduce": _plain((1, 2)),
    **{name: _inception for name in MODULES},
}


def _output(genome: Network) -> tuple[int, int] | None:
    """Width and side of ``genome``'s last feature map, or ``None`` if it does not resolve or shrinks to nothing."""
    from search_spaces.cost import block_costs  # late: the cost engine imports the block registry
    from search_spaces.resolve import resolve

    try:
        spec = resolve(genome)
        _, side = spec.stem.cost((spec.resolution, spec.resolution))
        width = spec.stem.cout
        for block, _, side in block_costs(spec, side):  # noqa: B020  (each block's output size, in turn)
            if min(side) < 1:
                return None
            width = block.cout
    except (GenomeError, ValueError):  # a rule refused it, or branches disagree on their size
        return None
    return width, side[0]


_TRIES = 40
_PASS = Stage("pool", 1, 1, kernel=1)  # keeps width and size


def _append_stage(rng: random.Random, genome: Network, stages: tuple[Stage, ...], kinds: Sequence[str],
                  max_depth: int) -> tuple[Stage, ...]:
    """``stages`` and the stages of one block type drawn to follow them, or ``stages`` alone if none fit."""
    out = _output(replace(genome, stages=stages or (_PASS,)))  # the stem's output seen through a 1x1 pooling
    for _ in range(_TRIES):  # redraw what does not fit (mostly: widths a block refuses, maps shrunk to nothing)
        block = rng.choice(kinds)
        try:
            slot = Slot(out[0], max_depth, genome.quirks.channel_divisor)  # type: ignore[index]
            drawn = STAGES[block](rng, slot, block)
        except GenomeError:  # a combination of field values the genome refuses
            continue
        if _output(replace(genome, stages=stages + drawn)) is not None:
            return stages + drawn
    return stages


def random_network(rng: random.Random | int, max_stages: int = 6, max_depth: int = 3,
                   blocks: Sequence[str] | None = None) -> Network:
    """A random but valid genome; the same seed gives the same genome.

    Args:
        rng: A ``random.Random`` or a seed.
        max_stages: Most stages to draw (a block type that needs a preparing stage may add one).
        max_depth: Most blocks per stage before depth scaling.
        blocks: Block types to draw stages of (default: every registered one); the network
            holds at least one stage of one of them.
    """
    rng = random.Random(rng) if isinstance(rng, int) else rng
    kinds = sorted(blocks) if blocks is not None else BLOCKS.names()
    norm = rng.choice(("batchnorm", "batchnorm", "layernorm"))
    genome = Network(
        name=f"random_{rng.randrange(10**6)}",
        stem=Stem(channels=rng.choice((8, 16, 24)), kernel=rng.choice((3, 5)), stride=rng.choice((1, 2)),
                  act=rng.choice(("",) + _ACTS), scale=rng.random() < 0.8, norm=rng.random() < 0.9,
                  bias=rng.random() < 0.2),
        stages=(Stage("conv", 1, 8),),  # replaced below
        head=Head(channels=rng.choice((0, 64, 128)), hidden=rng.choice((0, 0, 96)), dropout=rng.choice((0.0, 0.2)),
                  pre_act=rng.choice(("", "", "relu")), pool_norm=norm == "layernorm" and rng.random() < 0.5),
        resolution=rng.choice((32, 33, 47, 64)),
        num_classes=rng.choice((10, 100)),
        in_channels=rng.choice((1, 3)),
        act=rng.choice(_ACTS),
        width_mult=rng.choice((0.5, 0.75, 1.0, 1.0, 1.1, 1.4)),
        depth_mult=rng.choice((1.0, 1.2, 1.8)),
        drop_path=rng.choice((0.0, 0.2)),
        norm=Norm(name=norm, eps=rng.choice((1e-5, 1e-3)), momentum=rng.choice((0.1, 0.01))),
        quirks=Quirks(
            padding=rng.choice(("symmetric", "same")),
            channel_divisor=rng.choice((1, 4, 8)),
            round_limit=rng.choice((0.0, 0.9)),
            depth_rounding=rng.choice(("ceil", "round")),
            se_base=rng.choice(("in", "mid", "out")),
            se_divisor=rng.choice((1, 8)),
            se_act=rng.choice(("", "relu")),
            se_gate=rng.choice(("sigmoid", "hard_sigmoid")),
            reduction_skip=rng.random() < 0.3,
        ),
    )
    stages: tuple[Stage, ...] = ()
    for _ in range(rng.randint(1, max_stages)):
        stages = _append_stage(rng, genome, stages, kinds, max_depth)
        if not stages and genome.depth_mult != 1.0:  # a block that cannot repeat (inception_b adds its input's width)
            genome = replace(genome, depth_mult=1.0)
            stages = _append_stage(rng, genome, stages, kinds, max_depth)
        if not stages:
            raise RuntimeError(f"no valid stage of {list(kinds)} drawn in {_TRIES} tries")
    conv_classifier = not genome.head.hidden and not genome.head.pool_norm and rng.random() < 0.15
    return replace(genome, stages=stages, head=replace(genome.head, conv_classifier=conv_classifier))


def random_genotype(rng: random.Random, blocks: int = 5, ops: tuple[str, ...] = NASNET_OPS) -> tuple[tuple, ...]:
    """A random valid cell genotype: ``blocks`` nodes over ``ops``, add or concat, and a
    random non-empty concat list that always includes the last node."""
    nodes = tuple(
        (rng.choice(ops), rng.randrange(k + 2), rng.choice(ops), rng.randrange(k + 2), rng.choice(("add", "concat")))
        for k in range(blocks)
    )
    extra = [s for s in range(blocks + 1) if rng.random() < 0.3]
    return nodes + (("concat", *extra, blocks + 1),)
