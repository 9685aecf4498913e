"""Pooling stage: a max or average pooling between stages, with no parameters.

ResNet, DenseNet, ShuffleNet and GoogLeNet follow their stem conv with a 3x3 stride-2 max
pooling (He et al. 2016, table 1: "3x3 max pool, stride 2"); SqueezeNet and GoogLeNet also
pool between their fire / inception groups. A ``pool`` stage keeps its input width (the
stage's ``channels`` is ignored, so width scaling cannot make it disagree), pools with the
stage's ``kernel`` and ``stride``, and uses the network's padding quirk. A ``pool_ceil`` stage
max-pools unpadded with the output size rounded up (Caffe's pooling; torchvision SqueezeNet's
``ceil_mode=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from search_spaces.blocks.base import BLOCKS, BlockContext, ChainBlockType, Plan
from search_spaces.genome import Stage
from search_spaces.layers import PoolSpec

__all__ = ["PoolBlock", "PoolStageSpec"]


@dataclass(frozen=True)
class PoolStageSpec:
    """A resolved pooling stage (``kind`` is the block type, ``pool`` is ``max`` or ``avg``)."""

    kind: str
    cin: int
    cout: int
    stride: int
    kernel: int
    pool: str
    padding: str
    drop_path: float = field(default=0.0, compare=False)
    ceil_mode: bool = False


class PoolBlock(ChainBlockType):
    """``k x k`` pooling with the stage's stride; ``pool`` stages max-pool, ``avgpool`` stages average."""

    def __init__(self, pool: str, ceil_mode: bool = False) -> None:
        self.pool = pool
        self.ceil_mode = ceil_mode

    def resolve(self, stage: Stage, ctx: BlockContext) -> PoolStageSpec:
        if self.ceil_mode:  # Caffe-style: unpadded, output rounded up (SqueezeNet)
            return PoolStageSpec(stage.block, ctx.cin, ctx.cin, ctx.stride, stage.kernel, self.pool, "valid",
                                 ceil_mode=True)
        return PoolStageSpec(stage.block, ctx.cin, ctx.cin, ctx.stride, stage.kernel, self.pool, ctx.quirks.padding)

    def plan(self, spec: PoolStageSpec) -> Plan:
        return Plan((("pool", PoolSpec(spec.pool, spec.kernel, spec.stride, spec.padding, spec.ceil_mode)),))


BLOCKS.register("pool", PoolBlock("max"))
BLOCKS.register("avgpool", PoolBlock("avg"))
BLOCKS.register("pool_ceil", PoolBlock("max", ceil_mode=True))  # SqueezeNet: unpadded, ceil_mode=True
