"""Genome or resolved spec -> exact :class:`Cost`, by pure arithmetic (no module is built).

A genome is costed stage by stage (:func:`cost`), with the pieces :mod:`search_spaces.resolve`
builds a :class:`~search_spaces.resolve.ResolvedNet` from, so the two paths apply one set
of rules (the tests check they agree on every zoo model and on random genomes):

- Only the first ``fresh_blocks`` blocks of a stage are resolved (the
  :class:`~search_spaces.blocks.BlockType` contract: every later block equals the one
  before but for its drop-path rate, which changes no cost). Once a repeated block hands
  the next one what it received itself (input size, size of ``h_{i-1}``, widths), the
  remaining ones cost the same and are counted by multiplication.
- A stage's cost is memoised on what determines it: the stage, its scaled depth, the flow
  into it (widths and previous block, :class:`~search_spaces.resolve.Flow`), the genome-wide
  :class:`~search_spaces.resolve.Settings` and its input size. A search revisits stages; a
  whole genome is memoised too. Stages of two-input blocks (cells) are not: they also depend
  on the cell before them and recur only with it.
- Single-input blocks, the stem and the head are memoised on their specs. Cells are not (a
  cell recurs only with its network's filter count): their block type memoises their parts.

Timings of this engine against building and counting are in docs/BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from search_spaces.blocks import BLOCKS, next_prev, plan_cost
from search_spaces.blocks.cell import clear_op_caches
from search_spaces.errors import GenomeError
from search_spaces.genome import Head, Network, Stage, Stem
from search_spaces.layers import Cost, Size
from search_spaces.resolve import (
    Flow,
    ResolvedNet,
    Settings,
    check_names,
    head_plan,
    in_stage,
    input_size,
    stage_specs,
    stem_spec,
)

__all__ = ["Cost", "CostParts", "block_costs", "clear_caches", "cost", "cost_parts"]


def cost(genome: Network | ResolvedNet, resolution: int | None = None) -> Cost:
    """Exact params, MACs and activations of ``genome`` for one image.

    Args:
        genome: A genome or a resolved spec.
        resolution: Input size; ``None`` uses the genome's (or spec's) resolution.

    Returns:
        ``params`` equals ``sum(p.numel() for p in build(genome).parameters())``;
        ``macs`` counts multiply-accumulates of convolutions and linear layers
        (``FlopCounterMode`` total / 2); ``activations`` counts their output elements.

    Raises:
        GenomeError: if a name is unknown, a block cannot be resolved, or the resolution is
            out of range (the errors :func:`~search_spaces.resolve.resolve` raises).
    """
    if isinstance(genome, Network):
        # The genome's own resolution and None are one memo entry (a constraint check costs at 224).
        return _genome_cost(genome, None if resolution == genome.resolution else resolution)
    return _spec_cost(genome, resolution)


@lru_cache(maxsize=16)
def _genome_cost(genome: Network, resolution: int | None) -> Cost:
    """Memoised on the (frozen, hashable) genome: a search's constraint check and its
    bookkeeping often cost the same genome twice, one right after the other. A few entries: each
    keeps a genome alive, and the garbage collector's full passes traverse every genome kept long
    (a 1,024-genome memo made one such pass, 100+ ms here, per ~3,500 cell networks sampled)."""
    parts = _genome_parts(genome, resolution)
    every = (parts.stem, *parts.stages, parts.head)
    return Cost(sum(p.params for p in every), sum(p.macs for p in every), sum(p.activations for p in every))


class CostParts(NamedTuple):
    """A genome's cost split where scaling rules act differently: the stem, each stage, the head."""

    stem: Cost
    stages: tuple[Cost, ...]
    head: Cost


def cost_parts(genome: Network, resolution: int | None = None) -> CostParts:
    """The stem's, each stage's and the head's (classifier included) exact cost; they sum to :func:`cost`.

    Depth scaling multiplies only the stages' blocks, so the split tells how much of a network a
    scaling rule grows by which factor (:mod:`scaling.laws.growth`).

    Raises:
        GenomeError: as :func:`cost`.
    """
    return _genome_parts(genome, None if resolution == genome.resolution else resolution)


def _genome_parts(genome: Network, resolution: int | None) -> CostParts:
    check_names(genome)
    side = input_size(genome, resolution)
    settings = Settings.of(genome)
    stem, size, width = _stem_cost(genome.stem, genome.in_channels, settings, (side, side))
    flow, prev, stages = Flow(width), None, []
    for i, (stage, depth) in enumerate(zip(genome.stages, genome.depths())):
        two_inputs = BLOCKS.get(stage.block).two_inputs
        # A two-input stage depends on the block before it and on h_{i-1}'s size as well, so it recurs only
        # where the cell before it recurs: a random cell network's stages never did, and memoising them
        # cost the garbage collector more than it saved (its cells still meet the block memo).
        stage_cost = _walk_stage if two_inputs else _stage_cost
        try:
            part, flow, out, out_prev = stage_cost(stage, depth, flow, settings, size, prev if two_inputs else None)
        except InputTooSmall as err:
            raise err.at(side, i, stage.block) from None
        except GenomeError as err:
            raise in_stage(err, i) from None
        prev = prev if out_prev is _ENTRY else out_prev
        size = out
        stages.append(part)
    return CostParts(stem, tuple(stages), _head_cost(genome.head, flow.cin, genome.num_classes, settings, size))


@lru_cache(maxsize=1024)
def _stem_cost(stem: Stem, in_channels: int, settings: Settings, size: Size) -> tuple[Cost, Size, int]:
    """Cost, output size and output width of the stem conv."""
    spec = stem_spec(stem, in_channels, settings)
    part, out = spec.cost(size)
    if out[0] < 1 or out[1] < 1:
        raise GenomeError(f"resolution {size[0]} is too small for this network: its stem would output a "
                          f"{out[0]}x{out[1]} feature map", "resolution")
    return part, out, spec.cout


@lru_cache(maxsize=1024)
def _head_cost(head: Head, cin: int, num_classes: int, settings: Settings, size: Size) -> Cost:
    """Cost of the head on ``cin`` channels of ``size``."""
    return plan_cost(head_plan(head, cin, num_classes, settings), size)[0]


#: Marks "the size of h_{i-1} that entered the stage" in a memoised single-input stage.
_ENTRY = object()


def _walk_stage(stage: Stage, depth: int, flow: Flow, settings: Settings, size: Size,
                prev: Size | None) -> tuple[Cost, Flow, Size, Any]:
    """Cost of one stage, and the flow, size and ``h_{i-1}`` size after it.

    ``prev`` is ``None`` for single-input blocks, which never read it: the ``h_{i-1}`` size
    after such a stage is then either computed or :data:`_ENTRY` (the one that entered).
    """
    kind = BLOCKS.get(stage.block)
    fresh = min(depth, kind.fresh_blocks)
    specs, flow = stage_specs(stage, flow, settings, (0.0,) * fresh)  # rates change no cost
    two_inputs = kind.two_inputs
    block_cost = _compute_block_cost if two_inputs else _block_cost
    walk_prev: Any = prev if two_inputs else _ENTRY
    params = macs = acts = 0
    last: tuple[Any, ...] = (None,)  # the last block costed: (spec, size, prev size, cost, output size)
    for spec in specs:
        prev_size = walk_prev if two_inputs else None
        part, out = block_cost(spec, size, prev_size)
        last = (spec, size, prev_size, part, out)
        params, macs, acts = params + part.params, macs + part.macs, acts + part.activations
        walk_prev, size = next_prev(spec, size, walk_prev), out
    spec, repeats = specs[-1], depth - fresh
    while repeats:  # blocks equal to the last fresh one (but for drop-path rates)
        prev_size = walk_prev if two_inputs else None
        if last[0] is spec and last[1] == size and last[2] == prev_size:  # the first repeat usually is
            part, out = last[3], last[4]
        else:
            part, out = block_cost(spec, size, prev_size)
            last = (spec, size, prev_size, part, out)
        after, out_prev = flow.after(spec), next_prev(spec, size, walk_prev)
        times = repeats if (out, out_prev, after) == (size, walk_prev, flow) else 1  # a fixed point: all the same
        params, macs, acts = params + times * part.params, macs + times * part.macs, acts + times * part.activations
        flow, size, walk_prev, repeats = after, out, out_prev, repeats - times
    return Cost(params, macs, acts), flow, size, walk_prev


#: :func:`_walk_stage` memoised; :func:`_genome_cost` uses it for single-input stages. Smaller than the block
#: memo: an entry keeps a stage's specs alive, and a stage recurs less often than its blocks do.
_stage_cost = lru_cache(maxsize=2048)(_walk_stage)


def _spec_cost(spec: ResolvedNet, resolution: int | None) -> Cost:
    side = spec.resolution if resolution is None else resolution
    total, size = spec.stem.cost((side, side))
    if size[0] < 1 or size[1] < 1:
        raise GenomeError(f"resolution {side} is too small for this network: its stem would output a "
                          f"{size[0]}x{size[1]} feature map", "resolution")
    params, macs, acts = total.params, total.macs, total.activations
    for _, part, size in block_costs(spec, size):
        params, macs, acts = params + part.params, macs + part.macs, acts + part.activations
    head, _ = plan_cost(spec.head, size)
    return Cost(params + head.params, macs + head.macs, acts + head.activations)


def block_costs(spec: ResolvedNet, size: Size) -> Iterator[tuple[Any, Cost, Size]]:
    """``(block, cost, output size)`` of every block in forward order, given the stem's output size.

    Cells also receive the size of the input before their own, by the same
    :func:`~search_spaces.blocks.next_prev` rule the built network follows.
    """
    prev: Size | None = None
    last: tuple[Any, Size, Size | None, Cost, Size] | None = None
    stage_of = [i for i, stage in enumerate(spec.stages) for _ in stage]
    for index, block in enumerate(spec.blocks()):
        two_inputs = BLOCKS.get(block.kind).two_inputs
        prev_size = prev if two_inputs else None
        if last is not None and last[0] is block and last[1] == size and last[2] == prev_size:
            part, out = last[3], last[4]  # a stage's repeated block: skip hashing the spec again
        else:
            try:
                part, out = (_compute_block_cost if two_inputs else _block_cost)(block, size, prev_size)
            except InputTooSmall as err:
                raise err.at(spec.resolution, stage_of[index], block.kind) from None
        last = (block, size, prev_size, part, out)
        prev = next_prev(block, size, prev)
        size = out
        yield block, part, size


def _compute_block_cost(block: Any, size: Size, prev_size: Size | None) -> tuple[Cost, Size]:
    """Cost of one block at one input size, not memoised: the block type memoises its parts instead.

    Two-input blocks (cells) take this path. A cell recurs only with its network's filter count, so a
    memo of whole cells rarely answered across a search's networks and kept their specs alive for the
    garbage collector to traverse; their parts (ops at given widths and sizes) do recur.

    Raises:
        InputTooSmall: the block's output would have no pixels (the network's input is too small for it).
    """
    part, out = BLOCKS.get(block.kind).cost(block, size, prev_size)
    if out[0] < 1 or out[1] < 1:
        raise InputTooSmall(out)
    return part, out


#: The cost of single-input blocks, memoised: stages repeat equal blocks and searches revisit the same
#: blocks (specs are frozen and hash by value).
_block_cost = lru_cache(maxsize=8192)(_compute_block_cost)


class InputTooSmall(GenomeError):
    """A block's output would have no pixels: the network's input is too small for its strides and kernels."""

    def __init__(self, out: Size) -> None:
        super().__init__(f"a block would output a {out[0]}x{out[1]} feature map", "resolution")
        self.out = out

    def at(self, resolution: int, stage: int, block: str) -> GenomeError:
        """The sentence for the user: which resolution and which stage."""
        return GenomeError(f"resolution {resolution} is too small for this network: stages[{stage}] ({block}) would "
                           f"output a {self.out[0]}x{self.out[1]} feature map", "resolution")


def clear_caches(genomes: bool = True, blocks: bool = True) -> None:
    """Forget memoised costs (benchmarks measure the engine itself, warm or cold).

    Args:
        genomes: Forget whole-genome costs.
        blocks: Forget every finer memo: stages, blocks, stem, head and cell ops.
    """
    if genomes:
        _genome_cost.cache_clear()
    if blocks:
        _stage_cost.cache_clear()
        _block_cost.cache_clear()
        _stem_cost.cache_clear()
        _head_cost.cache_clear()
        clear_op_caches()
