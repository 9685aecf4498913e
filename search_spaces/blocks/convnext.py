"""ConvNeXt blocks (Liu et al. 2022, "A ConvNet for the 2020s", fig. 4 and sec. 2).

- ``convnext``: ``7x7 depthwise conv (bias) -> LayerNorm -> 1x1 to 4C -> GELU -> 1x1 to C ->
  layer scale``, added to the input with stochastic depth (sec. 2.4-2.6; torchvision's
  ``CNBlock``). The two 1x1 convs are :class:`~search_spaces.layers.PointwiseLinearSpec`
  (a linear layer over channels, as the reference's channels-last MLP). The stage's
  ``kernel`` is the depthwise kernel, ``expand`` the MLP ratio (4), ``act`` the MLP's
  activation (the network's, GELU); the norm is the network's (``layernorm``).
- ``convnext_down``: the separate downsampling layer between stages, ``LayerNorm -> k x k
  conv (bias) with stride k`` (sec. 2.6 "Separate downsampling layers"; k = 2). An even
  kernel equal to the stride makes non-overlapping patches, unpadded.

The patchify stem (4x4 stride-4 conv with bias + LayerNorm, sec. 2.3) is the genome's
:class:`~search_spaces.genome.Stem` with ``kernel=4, stride=4, padding="valid", bias=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.blocks.base import BLOCKS, DROP_PATH, BlockContext, BlockType, PlainSpec, Spec, expanded_width
from search_spaces.errors import GenomeError
from search_spaces.genome import Norm, Stage
from search_spaces.layers import ActSpec, ConvSpec, LayerScaleSpec, NormSpec, Plan, PointwiseLinearSpec

__all__ = ["LAYER_SCALE_INIT", "ConvNeXtBlock", "ConvNeXtDown", "ConvNeXtSpec"]

#: Initial layer-scale value (Liu et al. 2022, appendix A.1: 1e-6; torchvision's default).
LAYER_SCALE_INIT = 1e-6


@dataclass(frozen=True)
class ConvNeXtSpec(Spec):
    """A resolved ConvNeXt block (``cin = cout``; ``stride`` 1: downsampling is a ``convnext_down`` stage).

    Attributes:
        kernel: Depthwise kernel size.
        mid: MLP hidden width (``4 * C``).
        act: MLP activation.
        norm: Norm settings (``layernorm``).
        residual: Whether the input is added back.
    """

    kernel: int
    mid: int
    act: str
    norm: Norm
    residual: bool
    drop_path: float = DROP_PATH


class ConvNeXtBlock(BlockType):
    """The ``convnext`` block type (see the module docstring)."""

    stage_fields = ("kernel", "expand", "mid_channels", "act", "skip")

    def resolve(self, stage: Stage, ctx: BlockContext) -> ConvNeXtSpec:
        if ctx.stride != 1 or ctx.cin != ctx.cout:
            raise GenomeError(f"stride must be 1 and channels equal the input width ({ctx.cin}) in a convnext "
                              f"stage, got stride {ctx.stride} and {ctx.cout} channels; downsample with a "
                              f"convnext_down stage before it", "channels")
        return ConvNeXtSpec("convnext", ctx.cin, ctx.cout, 1, stage.kernel, expanded_width(stage, ctx), ctx.act,
                            ctx.norm, stage.skip, ctx.drop_path)

    def plan(self, spec: ConvNeXtSpec) -> Plan:
        c = spec.cin
        return Plan((
            ("dw", ConvSpec(c, c, spec.kernel, groups=c, bias=True)),
            ("norm", NormSpec(c, spec.norm)),
            ("pw1", PointwiseLinearSpec(c, spec.mid)),
            ("act", ActSpec(spec.act)),
            ("pw2", PointwiseLinearSpec(spec.mid, c)),
            ("scale", LayerScaleSpec(c, LAYER_SCALE_INIT)),
        ), residual=spec.residual, drop_path=spec.drop_path)


class ConvNeXtDown(BlockType):
    """The ``convnext_down`` block type: ``norm -> k x k conv (bias), stride s`` (unpadded when k = s)."""

    stage_fields = ("kernel",)

    def resolve(self, stage: Stage, ctx: BlockContext) -> PlainSpec:
        padding = "valid" if stage.kernel == ctx.stride else ctx.quirks.padding
        return PlainSpec("convnext_down", ctx.cin, ctx.cout, ctx.stride, stage.kernel, "", ctx.norm, padding)

    def plan(self, spec: PlainSpec) -> Plan:
        return Plan((
            ("norm", NormSpec(spec.cin, spec.norm)),  # type: ignore[arg-type]
            ("conv", ConvSpec(spec.cin, spec.cout, spec.kernel, spec.stride, bias=True, padding=spec.padding)),
        ))


BLOCKS.register("convnext", ConvNeXtBlock())
BLOCKS.register("convnext_down", ConvNeXtDown())
