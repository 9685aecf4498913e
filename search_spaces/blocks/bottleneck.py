"""The residual bottleneck block of RegNetX / RegNetY (Radosavovic et al. 2020, "Designing Network
Design Spaces", fig. 4 and sec. 4-5) and of ResNeXt / ResNet (He et al. 2016, Xie et al. 2017).

``1x1 conv -> norm -> act -> 3x3 group conv (stride) -> norm -> act -> [SE] -> 1x1 conv -> norm``,
plus a shortcut (identity, or 1x1 conv with the stride + norm when the width or the
resolution changes), then the activation *after* the addition. The X block has no SE; the
Y block (paper sec. 5, "RegNetY") adds SE after the group conv.

Widths, as in the pycls / timm reference code (``pycls/models/anynet.py``,
``timm/models/regnet.py``, ``Bottleneck``):

- middle width ``mid = round(cout / b)`` for the stage's bottleneck ratio ``b`` (paper's
  ``b``; timm's ``bottle_ratio`` is ``1 / b``);
- group width ``g = min(stage.group_width, mid)`` and ``groups = mid / g``;
  ``group_width = 0`` means an ungrouped conv (ResNet);
- SE width ``int(round(w_in * se))`` of the block's *input* width (pycls
  ``w_se = int(round(w_in * se_r))``; timm ``int(round(in_chs * se_ratio))``), not the
  truncation the MBConv family uses (the ``round`` entry of
  :data:`~search_spaces.layers.SE_ROUNDINGS`); ``Quirks.se_base = "mid"`` bases it on ``mid``;
- ``Quirks.se_base = "out"`` is SENet's placement (Hu et al. 2018, "Squeeze-and-Excitation
  Networks", fig. 3, SE-ResNet module; timm ``Bottleneck`` with ``attn_layer='se'``): SE over
  the output width ``cout``, after ``conv3`` and its norm, before the addition; with
  ``Quirks.se_divisor > 1`` the width is timm's ``SEModule`` rounding
  ``make_divisible(w * se, divisor, round_limit=0)`` (SE-ResNet-50: ``se = 1/16``, divisor 8).

Compatibility: a RegNet genome already carries stage widths the paper's compatibility rule
made divisible (:func:`search_spaces.spaces.regnet.adjust_widths_groups`), so ``mid`` is a
multiple of ``g`` and nothing changes here. A genome that was width-scaled afterwards may
not be: then ``mid`` is quantised to the nearest multiple of ``g`` (at least ``g``), the
same rule applied to the middle width only, so every genome builds and the output width
stays what the resolver decided.

The stride sits on the 3x3 conv (pycls, timm; torchvision's ResNet "v1.5").
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, Spec
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ConvSpec, Plan, SESpec

__all__ = ["Bottleneck", "BottleneckSpec", "ResidualFamily", "bottleneck_widths"]


@dataclass(frozen=True)
class BottleneckSpec(Spec):
    """A fully resolved residual block: bottleneck, basic, and their pre-activation forms.

    Attributes:
        kernel: Kernel size of the group conv (3 in RegNet / ResNeXt).
        mid: Middle (bottleneck) width, a multiple of ``group_width``.
        groups: Groups of the middle conv (``mid / group_width``).
        se: Squeeze-excitation width, 0 for none (the X block).
        act: Activation name (after conv1, conv2 and after the addition).
        se_act: SE inner activation name.
        se_gate: SE gate activation name.
        residual: Whether the identity shortcut is added (``skip`` and shapes allow).
        projection: Whether a 1x1 conv + norm shortcut (with the stride) is added instead,
            because the width or the resolution changes (``skip`` and shapes differ).
        norm: Norm settings.
        padding: ``symmetric`` or ``same``.
        se_out: Whether SE sits after the last conv over the output width (SENet) instead
            of after the middle conv (RegNetY).
    """

    kernel: int
    mid: int
    groups: int
    se: int
    act: str
    se_act: str
    se_gate: str
    residual: bool
    projection: bool
    norm: Norm
    padding: str
    se_out: bool = False
    drop_path: float = DROP_PATH

    @property
    def group_width(self) -> int:
        """Channels per group of the middle conv."""
        return self.mid // self.groups

    def se_spec(self) -> SESpec:
        """The SE layer: over the output width when ``se_out``, else over the middle width."""
        return SESpec(self.cout if self.se_out else self.mid, self.se, self.se_act, self.se_gate)


def bottleneck_widths(cout: int, bottleneck: float, group_width: int) -> tuple[int, int]:
    """Middle width and group count of a bottleneck block (pycls / timm ``Bottleneck``).

    Args:
        cout: Output width ``w``.
        bottleneck: Bottleneck ratio ``b`` (middle width ``w / b``).
        group_width: Channels per group ``g``; 0 means one group.

    Returns:
        ``(mid, groups)`` with ``mid`` a positive multiple of the group width and
        ``groups = mid / g``. For widths made compatible by the RegNet rule this is
        ``(round(w / b), round(w / b) // g)``, exactly the reference code.
    """
    mid = max(1, int(round(cout / bottleneck)))
    if group_width <= 0:
        return mid, 1
    g = min(group_width, mid)
    if mid % g:
        mid = max(g, int(round(mid / g)) * g)
    return mid, mid // g


class ResidualFamily(BlockType):
    """Residual blocks (bottleneck, basic, pre-activation): a shortcut that projects when the shape changes,
    SE based on the input, middle or output width, rounded as pycls / timm."""

    se_bases = ("in", "mid", "out")
    se_rounding = "round"

    def residual_spec(self, stage: Stage, ctx: BlockContext, mid: int, groups: int) -> BottleneckSpec:
        """The spec of a residual block of ``stage`` at ``ctx`` with middle width ``mid`` in ``groups`` groups."""
        reshape = ctx.cin != ctx.cout or ctx.stride != 1
        q, act, se = ctx.quirks, ctx.act, self.se_width(stage, ctx, mid) if stage.se > 0 else 0
        return BottleneckSpec(  # positional, in field order: the hottest call of resolve(); keywords cost a third more
            stage.block, ctx.cin, ctx.cout, ctx.stride,  # kind, cin, cout, stride
            stage.kernel, mid, groups, se, act, q.se_act or act, q.se_gate,  # kernel, mid, groups, se, acts
            stage.skip and not reshape, stage.skip and reshape,  # residual, projection
            ctx.norm, q.padding, se > 0 and q.se_base == "out", ctx.drop_path,  # norm, padding, se_out, drop_path
        )


class Bottleneck(ResidualFamily):
    """Residual bottleneck with group conv and optional SE: the RegNet X / Y block."""

    stage_fields = ("kernel", "bottleneck", "group_width", "se", "act", "skip")

    def resolve(self, stage: Stage, ctx: BlockContext) -> BottleneckSpec:
        return self.residual_spec(stage, ctx, *bottleneck_widths(ctx.cout, stage.bottleneck, stage.group_width))

    def plan(self, spec: BottleneckSpec) -> Plan:
        m, pad, norm = spec.mid, spec.padding, spec.norm
        se = (("se", spec.se_spec()),) if spec.se else ()
        layers = (
            ("conv1", ConvSpec(spec.cin, m, 1, norm=norm, act=spec.act, padding=pad)),
            ("conv2", ConvSpec(m, m, spec.kernel, spec.stride, groups=spec.groups, norm=norm, act=spec.act,
                               padding=pad)),
            *(() if spec.se_out else se),
            ("conv3", ConvSpec(m, spec.cout, 1, norm=norm, padding=pad)),
            *(se if spec.se_out else ()),
        )
        shortcut = ConvSpec(spec.cin, spec.cout, 1, spec.stride, norm=norm, padding=pad) if spec.projection else None
        return Plan(layers, spec.residual or spec.projection, spec.drop_path, shortcut=shortcut, post_act=spec.act)


BLOCKS.register("bottleneck", Bottleneck())
