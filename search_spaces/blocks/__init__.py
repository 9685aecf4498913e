"""Block types by name; importing this package registers them all."""

from search_spaces.blocks import bottleneck, conv, ds, fused, mbconv  # noqa: F401  (registration)
from search_spaces.blocks.base import BLOCKS, BlockContext, BlockSpec, BlockType, ChainBlock, Plan, plan_cost

__all__ = ["BLOCKS", "BlockContext", "BlockSpec", "BlockType", "ChainBlock", "Plan", "plan_cost"]
