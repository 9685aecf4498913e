"""Fused-MBConv (Gupta & Tan 2019, EfficientNet-EdgeTPU; Tan & Le 2021, EfficientNetV2, fig. 2).

The expansion 1x1 and the depthwise ``k x k`` of MBConv are fused into one regular
``k x k`` conv: ``k x k expand -> norm -> act -> [SE] -> 1x1 project -> norm`` (+ shortcut).
With expansion 1 the official V2 code (``FusedMBConvBlock``) has a single ``k x k`` conv
with norm and activation and no projection; SE, if any, then comes before that conv.
No released V2 config puts SE in Fused-MBConv stages.
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockSpec, MBConvFamily
from search_spaces.layers import ConvSpec, Plan

__all__ = ["FusedMBConv"]


class FusedMBConv(MBConvFamily):
    """Fused inverted residual block."""

    stage_fields = ("kernel", "expand", "mid_channels", "se", "act", "skip")

    def plan(self, spec: BlockSpec) -> Plan:
        pad = spec.padding
        se = (("se", spec.se_spec()),) if spec.se else ()
        if spec.mid == spec.cin:
            conv = ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=spec.norm, act=spec.act, padding=pad)
            return Plan(se + (("conv", conv),), spec.residual, spec.drop_path)
        expand = ConvSpec(spec.cin, spec.mid, spec.kernel, spec.stride, norm=spec.norm, act=spec.act, padding=pad)
        project = ConvSpec(spec.mid, spec.cout, 1, norm=spec.norm, padding=pad)
        return Plan((("expand", expand),) + se + (("project", project),), spec.residual, spec.drop_path)


BLOCKS.register("fused", FusedMBConv())
