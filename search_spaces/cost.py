"""Resolved spec -> exact :class:`Cost`, by pure arithmetic (no module is built)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from search_spaces.blocks import BLOCKS, next_prev, plan_cost
from search_spaces.blocks.cell import clear_op_caches
from search_spaces.genome import Network
from search_spaces.layers import Cost, Size
from search_spaces.resolve import ResolvedNet, resolve

__all__ = ["Cost", "block_costs", "clear_caches", "cost"]


def cost(genome: Network | ResolvedNet, resolution: int | None = None) -> Cost:
    """Exact params, MACs and activations of ``genome`` for one image.

    Args:
        genome: A genome or a resolved spec.
        resolution: Input size; ``None`` uses the genome's (or spec's) resolution.

    Returns:
        ``params`` equals ``sum(p.numel() for p in build(genome).parameters())``;
        ``macs`` counts multiply-accumulates of convolutions and linear layers
        (``FlopCounterMode`` total / 2); ``activations`` counts their output elements.
    """
    if isinstance(genome, Network):
        return _genome_cost(genome, resolution)
    return _spec_cost(genome, resolution)


@lru_cache(maxsize=1024)
def _genome_cost(genome: Network, resolution: int | None) -> Cost:
    """Memoised on the (frozen, hashable) genome: a search's constraint check and its
    bookkeeping often cost the same genome twice."""
    return _spec_cost(resolve(genome, resolution), resolution)


def _spec_cost(spec: ResolvedNet, resolution: int | None) -> Cost:
    side = spec.resolution if resolution is None else resolution
    total, size = spec.stem.cost((side, side))
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
    for block in spec.blocks():
        prev_size = prev if BLOCKS.get(block.kind).two_inputs else None
        if last is not None and last[0] is block and last[1] == size and last[2] == prev_size:
            part, out = last[3], last[4]  # a stage's repeated block: skip hashing the spec again
        else:
            part, out = _block_cost(block, size, prev_size)
        last = (block, size, prev_size, part, out)
        prev = next_prev(block, size, prev)
        size = out
        yield block, part, size


@lru_cache(maxsize=8192)
def _block_cost(block: Any, size: Size, prev_size: Size | None) -> tuple[Cost, Size]:
    """Cost of one block at one input size; memoised because stages repeat equal blocks
    and searches revisit the same blocks (specs are frozen and hash by value)."""
    return BLOCKS.get(block.kind).cost(block, size, prev_size)


def clear_caches(genomes: bool = True, blocks: bool = True) -> None:
    """Forget memoised costs (benchmarks measure the engine itself, warm or cold)."""
    if genomes:
        _genome_cost.cache_clear()
    if blocks:
        _block_cost.cache_clear()
        clear_op_caches()
