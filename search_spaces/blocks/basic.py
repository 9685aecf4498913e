"""The basic residual block of ResNet-18 / ResNet-34 (He et al. 2016, "Deep Residual Learning
for Image Recognition", fig. 2 and table 1, "building block").

``3x3 conv (stride) -> norm -> act -> 3x3 conv -> norm [-> SE]``, plus a shortcut (identity,
or 1x1 conv with the stride + norm when the width or the resolution changes: the paper's
option B, torchvision's ``downsample``), then the activation *after* the addition.
Exact to torchvision's ``BasicBlock`` (``torchvision/models/resnet.py``) and timm's.

The spec is the bottleneck block's (:class:`~search_spaces.blocks.bottleneck.BottleneckSpec`)
with the middle width equal to the output width and one group, so the two residual blocks of
the AnyNet template (pycls ``res_basic_block`` / ``res_bottleneck_block``) share one
vocabulary and one weights mapping. SE, when the stage has it, follows the second conv over
the output width (SENet, Hu et al. 2018, fig. 3; timm's ``BasicBlock`` with ``attn_layer``),
sized by the residual family's SE rule (``"mid"`` is the output width here).

A basic block has no bottleneck and no grouped conv (torchvision's ``BasicBlock`` refuses
``groups != 1``): it does not read ``bottleneck`` or ``group_width``, so a stage asking for
either is refused rather than silently built without it.
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockContext
from search_spaces.blocks.bottleneck import BottleneckSpec, ResidualFamily
from search_spaces.genome import Stage
from search_spaces.layers import ConvSpec, Plan

__all__ = ["BasicBlock", "BasicFamily"]


class BasicFamily(ResidualFamily):
    """Residual blocks of two ``k x k`` convs (``basic``, ``preact_basic``): middle width = output width."""

    stage_fields = ("kernel", "se", "act", "skip")

    def resolve(self, stage: Stage, ctx: BlockContext) -> BottleneckSpec:
        return self.residual_spec(stage, ctx, mid=ctx.cout, groups=1)


class BasicBlock(BasicFamily):
    """Two 3x3 convs with a residual shortcut and the activation after the addition (ResNet v1)."""

    def plan(self, spec: BottleneckSpec) -> Plan:
        pad, norm = spec.padding, spec.norm
        layers = (
            ("conv1", ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=norm, act=spec.act, padding=pad)),
            ("conv2", ConvSpec(spec.cout, spec.cout, spec.kernel, norm=norm, padding=pad)),
            *((("se", spec.se_spec()),) if spec.se else ()),
        )
        shortcut = ConvSpec(spec.cin, spec.cout, 1, spec.stride, norm=norm, padding=pad) if spec.projection else None
        return Plan(layers, spec.residual or spec.projection, spec.drop_path, shortcut=shortcut, post_act=spec.act)


BLOCKS.register("basic", BasicBlock())
