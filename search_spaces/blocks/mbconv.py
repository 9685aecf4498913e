"""MBConv: the inverted residual with linear bottleneck (Sandler et al. 2018, MobileNetV2, fig. 3b).

``[1x1 expand -> norm -> act] -> dw k x k -> norm -> act -> [SE] -> 1x1 project -> norm``
(+ identity shortcut when stride is 1 and widths match). As in the MobileNetV2,
MnasNet and EfficientNet reference code, the expansion conv is left out when the middle
width equals the input width (expansion ratio 1). SE sits after the depthwise conv
(MnasNet sec. 4.1, EfficientNet); its width follows ``Quirks.se_base``.
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockSpec, MBConvFamily
from search_spaces.layers import ConvSpec, Plan

__all__ = ["MBConv"]


class MBConv(MBConvFamily):
    """Inverted residual block."""

    stage_fields = ("kernel", "expand", "mid_channels", "se", "act", "skip")

    def plan(self, spec: BlockSpec) -> Plan:
        m, pad = spec.mid, spec.padding
        layers: list = []
        if m != spec.cin:
            layers.append(("expand", ConvSpec(spec.cin, m, 1, norm=spec.norm, act=spec.act, padding=pad)))
        layers.append(("dw", ConvSpec(m, m, spec.kernel, spec.stride, groups=m, norm=spec.norm, act=spec.act,
                                      padding=pad)))
        if spec.se:
            layers.append(("se", spec.se_spec()))
        layers.append(("project", ConvSpec(m, spec.cout, 1, norm=spec.norm, padding=pad)))
        return Plan(tuple(layers), spec.residual, spec.drop_path)


BLOCKS.register("mbconv", MBConv())
