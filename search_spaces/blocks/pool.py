"""Pooling stage: a max or average pooling between stages, with no parameters.

ResNet, DenseNet, ShuffleNet and GoogLeNet follow their stem conv with a 3x3 stride-2 max
pooling (He et al. 2016, table 1: "3x3 max pool, stride 2"); SqueezeNet and GoogLeNet also
pool between their fire / inception groups. A ``pool`` stage keeps its input width (the
stage's ``channels`` is ignored, so width scaling cannot make it disagree), pools with the
stage's ``kernel`` and ``stride``, and uses the network's padding quirk. A ``pool_ceil`` stage
max-pools unpadded with the output size rounded up (Caffe's pooling; torchvision SqueezeNet's
``ceil_mode=True``); an ``inception_pool`` stage max-pools unpadded, rounding down (Inception
v3's stem pools).
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockContext, BlockType, PlainSpec
from search_spaces.genome import Stage
from search_spaces.layers import Plan, PoolSpec

__all__ = ["PoolBlock"]


class PoolBlock(BlockType):
    """``k x k`` pooling with the stage's stride, keeping the width.

    Args:
        pool: ``max`` or ``avg``.
        padding: The pooling's padding; ``None`` takes the network's padding quirk.
        ceil_mode: Round the output size up.
    """

    stage_fields = ("kernel",)

    def __init__(self, pool: str, padding: str | None = None, ceil_mode: bool = False) -> None:
        self.pool = pool
        self.padding = padding
        self.ceil_mode = ceil_mode

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        return PlainSpec(stage.block, ctx.cin, ctx.cin, ctx.stride, stage.kernel, "", None,
                         self.padding or ctx.quirks.padding)

    def plan(self, spec: PlainSpec) -> Plan:
        return Plan((("pool", PoolSpec(self.pool, spec.kernel, spec.stride, spec.padding, self.ceil_mode)),))


BLOCKS.register("pool", PoolBlock("max"))
BLOCKS.register("avgpool", PoolBlock("avg"))
BLOCKS.register("pool_ceil", PoolBlock("max", "valid", ceil_mode=True))  # SqueezeNet: unpadded, ceil_mode=True
BLOCKS.register("inception_pool", PoolBlock("max", "valid"))  # Inception v3's stem: unpadded, rounding down
