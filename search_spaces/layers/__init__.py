"""Primitive layers: each a frozen spec that builds its module and states its cost."""

from search_spaces.layers.activations import ACTIVATIONS, make_act
from search_spaces.layers.base import Cost, Primitive, Size
from search_spaces.layers.branches import AvgPoolPadSpec, Fork, ForkModule, fork_cost
from search_spaces.layers.channel_norm import LayerNorm2d, LayerScaleSpec, PointwiseLinearSpec
from search_spaces.layers.conv import ConvNormAct, ConvSpec, conv_out_size
from search_spaces.layers.head import ActSpec, DropoutSpec, GlobalPoolSpec, LinearSpec
from search_spaces.layers.norms import NORMS, NormSpec, make_norm
from search_spaces.layers.pool import FactorizedReduce, FactorizedReduceSpec, PoolSame, PoolSpec
from search_spaces.layers.se import SESpec, SqueezeExcite, se_channels

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "ActSpec",
    "AvgPoolPadSpec",
    "ConvNormAct",
    "ConvSpec",
    "Cost",
    "DropoutSpec",
    "FactorizedReduce",
    "FactorizedReduceSpec",
    "Fork",
    "ForkModule",
    "GlobalPoolSpec",
    "LayerNorm2d",
    "LayerScaleSpec",
    "LinearSpec",
    "NormSpec",
    "PointwiseLinearSpec",
    "PoolSame",
    "PoolSpec",
    "Primitive",
    "SESpec",
    "Size",
    "SqueezeExcite",
    "conv_out_size",
    "fork_cost",
    "make_act",
    "make_norm",
    "se_channels",
]
