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
sized by :func:`~search_spaces.blocks.bottleneck.bottleneck_se`.

A basic block has no bottleneck and no grouped conv (torchvision's ``BasicBlock`` refuses
``groups != 1``): a stage asking for a group width is refused rather than silently built
ungrouped.
"""

from __future__ import annotations

from search_spaces.blocks.base import BLOCKS, BlockContext, ChainBlockType, Plan
from search_spaces.blocks.bottleneck import BottleneckSpec, bottleneck_se
from search_spaces.errors import GenomeError
from search_spaces.genome import Stage
from search_spaces.layers import ConvSpec, SESpec

__all__ = ["BasicBlock", "basic_spec"]


def basic_spec(kind: str, stage: Stage, ctx: BlockContext) -> BottleneckSpec:
    """The resolved spec of a basic (two 3x3 convs) residual block of ``stage`` at ``ctx``.

    Shared by the post-activation (``basic``) and pre-activation (``preact_basic``) blocks.

    Raises:
        GenomeError: if the stage asks for a grouped conv (``group_width``).
    """
    if stage.group_width:
        raise GenomeError(f"group_width must be 0 for a {kind} block (it has no grouped conv), "
                          f"got {stage.group_width}", "group_width")
    reshape = ctx.cin != ctx.cout or ctx.stride != 1
    se, se_out = bottleneck_se(stage, ctx, ctx.cout)
    return BottleneckSpec(
        kind=kind, cin=ctx.cin, cout=ctx.cout, stride=ctx.stride, kernel=stage.kernel, mid=ctx.cout, groups=1,
        se=se, act=ctx.act, se_act=ctx.quirks.se_act or ctx.act, se_gate=ctx.quirks.se_gate,
        residual=stage.skip and not reshape, projection=stage.skip and reshape, drop_path=ctx.drop_path,
        norm=ctx.norm, padding=ctx.quirks.padding, se_out=se_out,
    )


class BasicBlock(ChainBlockType):
    """Two 3x3 convs with a residual shortcut and the activation after the addition (ResNet v1)."""

    def resolve(self, stage: Stage, ctx: BlockContext) -> BottleneckSpec:  # type: ignore[override]
        return basic_spec("basic", stage, ctx)

    def plan(self, spec: BottleneckSpec) -> Plan:  # type: ignore[override]
        pad, norm = spec.padding, spec.norm
        layers: list = [
            ("conv1", ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, norm=norm, act=spec.act, padding=pad)),
            ("conv2", ConvSpec(spec.cout, spec.cout, spec.kernel, norm=norm, padding=pad)),
        ]
        if spec.se:
            layers.append(("se", SESpec(spec.cout, spec.se, spec.se_act, spec.se_gate)))
        shortcut = ConvSpec(spec.cin, spec.cout, 1, spec.stride, norm=norm, padding=pad) if spec.projection else None
        return Plan(tuple(layers), spec.residual or spec.projection, spec.drop_path, shortcut=shortcut,
                    post_act=spec.act)


BLOCKS.register("basic", BasicBlock())
