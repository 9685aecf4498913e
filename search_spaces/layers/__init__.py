"""Primitive layers, each a frozen spec that builds its module and states its cost, and the plans that compose them."""

from search_spaces.layers.activations import ACTIVATIONS, make_act
from search_spaces.layers.base import FREE, Cost, Primitive, Size
from search_spaces.layers.channel_norm import LayerNorm2d, LayerScaleSpec, PointwiseLinearSpec
from search_spaces.layers.conv import ConvNormAct, ConvSpec, conv_out_size
from search_spaces.layers.head import ActSpec, DropoutSpec, GlobalPoolSpec, LinearSpec
from search_spaces.layers.norms import NORMS, NormSpec, make_norm
from search_spaces.layers.plan import (
    ADD,
    CONCAT,
    MULTIPLY,
    Add,
    ChannelShuffle,
    ChannelSplit,
    Combinator,
    Concat,
    DropPath,
    Graph,
    GraphBuilder,
    Multiply,
    Plan,
    PlanModule,
    Zeros,
    channel_shuffle,
    drop_path,
    plan_cost,
)
from search_spaces.layers.pool import AvgPoolPadSpec, FactorizedReduce, FactorizedReduceSpec, PoolSame, PoolSpec
from search_spaces.layers.se import SE_ROUNDINGS, SESpec, SqueezeExcite, se_channels

__all__ = [
    "ACTIVATIONS", "ADD", "CONCAT", "FREE", "MULTIPLY", "NORMS", "SE_ROUNDINGS", "ActSpec", "Add", "AvgPoolPadSpec",
    "ChannelShuffle", "ChannelSplit", "Combinator", "Concat", "ConvNormAct", "ConvSpec", "Cost", "DropPath",
    "DropoutSpec", "FactorizedReduce", "FactorizedReduceSpec", "GlobalPoolSpec", "Graph", "GraphBuilder",
    "LayerNorm2d", "LayerScaleSpec", "LinearSpec", "Multiply", "NormSpec", "Plan", "PlanModule",
    "PointwiseLinearSpec", "PoolSame", "PoolSpec", "Primitive", "SESpec", "Size", "SqueezeExcite", "Zeros",
    "channel_shuffle", "conv_out_size", "drop_path", "make_act", "make_norm", "plan_cost", "se_channels",
]
