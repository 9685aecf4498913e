"""Block types by name; importing this package registers them all."""

from search_spaces.blocks import (  # noqa: F401  (registration)
    basic,
    bottleneck,
    cell,
    conv,
    convnext,
    dense,
    ds,
    fire,
    fused,
    inception,
    mbconv,
    pool,
    preact,
    shuffle,
    van,
)
from search_spaces.blocks.base import (
    BLOCKS,
    BlockContext,
    BlockSpec,
    BlockType,
    ChainBlock,
    ChainBlockType,
    Plan,
    next_prev,
    plan_cost,
)
from search_spaces.blocks.cell_ops import CELL_OPS, NASNET_OPS, PNAS_OPS

__all__ = [
    "BLOCKS", "CELL_OPS", "NASNET_OPS", "PNAS_OPS", "BlockContext", "BlockSpec", "BlockType", "ChainBlock",
    "ChainBlockType", "Plan", "next_prev", "plan_cost",
]
