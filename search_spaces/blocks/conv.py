"""Plain conv block: one ``k x k`` convolution, norm, activation, optional identity shortcut.

The "regular conv" op of the MnasNet search space (Tan et al. 2019, sec. 4.1) and
EfficientNetV2's Fused-MBConv with expansion 1 in timm's naming (``cn``).
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockContext, BlockSpec, ChainBlockType, Plan
from search_spaces.genome import Stage
from search_spaces.layers import ConvSpec

__all__ = ["ConvBlock"]


class ConvBlock(ChainBlockType):
    """``conv k x k -> norm -> act`` (+ shortcut)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> BlockSpec:
        return self.mbconv_spec("conv", stage, ctx, mid=ctx.cin)

    def plan(self, spec: BlockSpec) -> Plan:
        conv = ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=spec.norm, act=spec.act,
                        padding=spec.padding)
        layers = ((("se", spec.se_spec()),) if spec.se else ()) + (("conv", conv),)
        return Plan(layers, spec.residual, spec.drop_path)


BLOCKS.register("conv", ConvBlock())
