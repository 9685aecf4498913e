"""Seeded random genomes over the whole block vocabulary, for tests and benchmarks.

Not a search space (those live in :mod:`search_spaces.spaces`): this generator aims to
exercise every block type, quirk and rounding path, including odd combinations.
"""

from __future__ import annotations

import random

from search_spaces.blocks import NASNET_OPS
from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem

__all__ = ["random_genotype", "random_network"]

_BLOCKS = ("conv", "ds", "mbconv", "fused")
_ACTS = ("relu", "relu6", "swish", "hard_swish", "")


def random_network(rng: random.Random | int, max_stages: int = 6, max_depth: int = 3) -> Network:
    """A random but valid genome; the same seed gives the same genome.

    Args:
        rng: A ``random.Random`` or a seed.
        max_stages: Most stages to draw.
        max_depth: Most blocks per stage before depth scaling.
    """
    rng = random.Random(rng) if isinstance(rng, int) else rng
    stages = tuple(
        Stage("cell", depth=rng.randint(1, max_depth), channels=rng.choice((4, 6, 8, 12)), stride=rng.choice((1, 1, 2)),
              cell=random_genotype(rng))
        if rng.random() < 0.15 else
        Stage(
            block=rng.choice(_BLOCKS),
            depth=rng.randint(1, max_depth),
            channels=rng.choice((8, 12, 16, 24, 40, 64)),
            stride=rng.choice((1, 1, 2)),
            kernel=rng.choice((1, 3, 5, 7)),
            expand=rng.choice((1.0, 1.0, 3.0, 4.0, 6.0, 2.5)),
            mid_channels=rng.choice((0, 0, 0, 48)),
            se=rng.choice((0.0, 0.25, 0.125)),
            act=rng.choice(_ACTS),
            skip=rng.random() < 0.8,
            pw_act=rng.random() < 0.3,
        )
        for _ in range(rng.randint(1, max_stages))
    )
    quirks = Quirks(
        padding=rng.choice(("symmetric", "same")),
        channel_divisor=rng.choice((1, 4, 8)),
        round_limit=rng.choice((0.0, 0.9)),
        depth_rounding=rng.choice(("ceil", "round")),
        se_base=rng.choice(("in", "mid")),
        se_divisor=rng.choice((1, 8)),
        se_act=rng.choice(("", "relu")),
        se_gate=rng.choice(("sigmoid", "hard_sigmoid")),
    )
    head = Head(channels=rng.choice((0, 64, 128)), hidden=rng.choice((0, 0, 96)), dropout=rng.choice((0.0, 0.2)))
    return Network(
        name=f"random_{rng.randrange(10**6)}",
        stem=Stem(channels=rng.choice((8, 16, 24)), kernel=rng.choice((3, 5)), stride=rng.choice((1, 2)),
                  scale=rng.random() < 0.8),
        stages=stages,
        head=head,
        resolution=rng.choice((32, 33, 47, 64)),
        num_classes=rng.choice((10, 100)),
        in_channels=rng.choice((1, 3)),
        act=rng.choice(_ACTS[:-1]),
        width_mult=rng.choice((0.5, 0.75, 1.0, 1.1, 1.4)),
        depth_mult=rng.choice((1.0, 1.2, 1.8)),
        drop_path=rng.choice((0.0, 0.2)),
        norm=Norm(eps=rng.choice((1e-5, 1e-3)), momentum=rng.choice((0.1, 0.01))),
        quirks=quirks,
    )


def random_genotype(rng: random.Random, blocks: int = 5, ops: tuple[str, ...] = NASNET_OPS) -> tuple[tuple, ...]:
    """A random valid cell genotype: ``blocks`` nodes over ``ops``, add or concat, and a
    random non-empty concat list that always includes the last node."""
    nodes = tuple(
        (rng.choice(ops), rng.randrange(k + 2), rng.choice(ops), rng.randrange(k + 2), rng.choice(("add", "concat")))
        for k in range(blocks)
    )
    extra = [s for s in range(blocks + 1) if rng.random() < 0.3]
    return nodes + (("concat", *extra, blocks + 1),)
