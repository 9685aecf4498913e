"""Depthwise-separable block (Howard et al. 2017, MobileNets, fig. 3).

``dw k x k -> norm -> act -> [SE] -> pw 1x1 -> norm [-> act]``. MobileNetV1 activates after
the pointwise conv (``pw_act``); EfficientNet-B0's and MnasNet-A1's first block
("SepConv", an MBConv with expansion 1) does not and adds SE over the input width.
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockSpec, MBConvFamily
from search_spaces.layers import ConvSpec, Plan

__all__ = ["DepthwiseSeparable"]


class DepthwiseSeparable(MBConvFamily):
    """Depthwise conv, optional SE, pointwise conv."""

    stage_fields = ("kernel", "se", "act", "skip", "pw_act")

    def plan(self, spec: BlockSpec) -> Plan:
        c = spec.cin
        layers: list = [("dw", ConvSpec(c, c, spec.kernel, spec.stride, groups=c, norm=spec.norm, act=spec.act,
                                        padding=spec.padding))]
        if spec.se:
            layers.append(("se", spec.se_spec()))
        layers.append(("pw", ConvSpec(c, spec.cout, 1, norm=spec.norm, act=spec.act if spec.pw_act else "",
                                      padding=spec.padding)))
        return Plan(tuple(layers), spec.residual, spec.drop_path)


BLOCKS.register("ds", DepthwiseSeparable())
