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
    nb201,
    pool,
    preact,
    shuffle,
    van,
)
from search_spaces.blocks.base import BLOCKS, BlockContext, BlockSpec, BlockType, PlainSpec, Spec, next_prev
from search_spaces.blocks.cell_ops import CELL_OPS, NASNET_OPS, PNAS_OPS
from search_spaces.layers import Graph, GraphBuilder, Plan, PlanModule, plan_cost

#: The module that runs a plan, under the name callers outside the genome core know it by (``nas.latency``).
ChainBlock = PlanModule

__all__ = [
    "BLOCKS", "CELL_OPS", "NASNET_OPS", "PNAS_OPS", "BlockContext", "BlockSpec", "BlockType", "ChainBlock", "Graph",
    "GraphBuilder", "PlainSpec", "Plan", "PlanModule", "Spec", "next_prev", "plan_cost",
]
