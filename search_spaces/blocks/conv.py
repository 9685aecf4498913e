"""Plain conv block: one ``k x k`` convolution, norm, activation, optional identity shortcut.

The "regular conv" op of the MnasNet search space (Tan et al. 2019, sec. 4.1) and
EfficientNetV2's Fused-MBConv with expansion 1 in timm's naming (``cn``). SE, when the stage
has it, comes before the conv, over the input width.
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockSpec, MBConvFamily
from search_spaces.layers import ConvSpec, Plan

__all__ = ["ConvBlock"]


class ConvBlock(MBConvFamily):
    """``[SE ->] conv k x k -> norm -> act`` (+ shortcut)."""

    stage_fields = ("kernel", "se", "act", "skip")

    def plan(self, spec: BlockSpec) -> Plan:
        conv = ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=spec.norm, act=spec.act,
                        padding=spec.padding)
        layers = ((("se", spec.se_spec()),) if spec.se else ()) + (("conv", conv),)
        return Plan(layers, spec.residual, spec.drop_path)


BLOCKS.register("conv", ConvBlock())
