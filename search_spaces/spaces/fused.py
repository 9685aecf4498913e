"""The EfficientNetV2 training-aware search space (Tan & Le 2021, "EfficientNetV2", sec. 3.2).

PNASNet-like stage-based factorized space over the EfficientNetV2-S backbone; per stage:

- conv op: MBConv or Fused-MBConv;
- kernel size: 3 or 5;
- expansion ratio: 1, 4 or 6;
- number of layers: an integer around the backbone depth (see below).

Channel sizes and strides come from the backbone, as the paper does ("we reuse the
same channel sizes from the backbone"), and pooling skip ops are removed as in the
paper. SE (ratio 0.25 of the block input) goes with MBConv and never with Fused-MBConv,
as in every released V2 config. The paper does not state the layer-count range; here it
is ``[ceil(d / 2), d + ceil(d / 2)]`` for a backbone depth ``d``, which contains V2-S.

``efficientnetv2_s`` is an exact named point (same genome as the zoo's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from search_spaces.genome import Network, Stage
from search_spaces.spaces.backbone import BackboneSpace
from search_spaces.spaces.base import Categorical, Distribution, IntRange
from search_spaces.zoo.efficientnetv2 import EFFICIENTNETV2_S

__all__ = ["FusedSpace"]


class FusedSpace(BackboneSpace):
    """Per-stage MBConv / Fused-MBConv choice around the EfficientNetV2-S backbone.

    Channel sizes come from the backbone unscaled, so no rounding rule applies to them.

    Args:
        num_classes: Classifier outputs of every decoded network.
        resolution: Input size written into every genome (V2-S evaluates at 384).
        in_channels: Input image channels.
    """

    name = "fused"
    default_resolution = 384
    backbone: Network = EFFICIENTNETV2_S

    def stage_distributions(self, i: int, stage: Stage) -> tuple[Distribution, ...]:
        return (
            Categorical(f"s{i}_op", ("mbconv", "fused")),
            Categorical(f"s{i}_kernel", (3, 5)),
            Categorical(f"s{i}_expand", (1.0, 4.0, 6.0)),
            IntRange(f"s{i}_layers", math.ceil(stage.depth / 2), stage.depth + math.ceil(stage.depth / 2)),
        )

    def decode_stage(self, i: int, stage: Stage, params: Mapping[str, Any]) -> Stage:
        op = params[f"s{i}_op"]
        return Stage(op, depth=params[f"s{i}_layers"], channels=stage.channels, stride=stage.stride,
                     kernel=params[f"s{i}_kernel"], expand=params[f"s{i}_expand"], se=0.25 if op == "mbconv" else 0.0)

    def encode_stage(self, i: int, stage: Stage) -> dict[str, Any]:
        return {f"s{i}_op": stage.block, f"s{i}_kernel": stage.kernel, f"s{i}_expand": stage.expand,
                f"s{i}_layers": stage.depth}
