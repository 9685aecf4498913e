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
from dataclasses import replace
from typing import Any

from search_spaces.genome import Network, Stage
from search_spaces.spaces.base import Categorical, Distribution, IntRange, SearchSpace, params_digest
from search_spaces.zoo.efficientnetv2 import EFFICIENTNETV2_S

__all__ = ["FusedSpace"]


class FusedSpace(SearchSpace):
    """Per-stage MBConv / Fused-MBConv choice around the EfficientNetV2-S backbone.

    Args:
        num_classes: Classifier outputs of every decoded network.
        resolution: Input size written into every genome (V2-S evaluates at 384).
        in_channels: Input image channels.
    """

    name = "fused"
    default_resolution = 384
    backbone: Network = EFFICIENTNETV2_S

    def __init__(self, num_classes: int = 1000, resolution: int = 384, in_channels: int = 3) -> None:
        self.template = replace(self.backbone, num_classes=num_classes, resolution=resolution,
                                in_channels=in_channels)
        self.default_resolution = resolution
        self._dists = tuple(d for i, stage in enumerate(self.backbone.stages) for d in (
            Categorical(f"s{i}_op", ("mbconv", "fused")),
            Categorical(f"s{i}_kernel", (3, 5)),
            Categorical(f"s{i}_expand", (1.0, 4.0, 6.0)),
            IntRange(f"s{i}_layers", math.ceil(stage.depth / 2), stage.depth + math.ceil(stage.depth / 2)),
        ))

    def distributions(self) -> tuple[Distribution, ...]:
        return self._dists

    def decode(self, params: Mapping[str, Any]) -> Network:
        self.check(params)
        stages = tuple(
            Stage(params[f"s{i}_op"], depth=params[f"s{i}_layers"], channels=base.channels, stride=base.stride,
                  kernel=params[f"s{i}_kernel"], expand=params[f"s{i}_expand"],
                  se=0.25 if params[f"s{i}_op"] == "mbconv" else 0.0)
            for i, base in enumerate(self.backbone.stages)
        )
        return replace(self.template, name=f"{self.name}_{params_digest(params)}", stages=stages)

    def points(self) -> dict[str, dict[str, Any]]:
        params: dict[str, Any] = {}
        for i, stage in enumerate(self.backbone.stages):
            params.update({f"s{i}_op": stage.block, f"s{i}_kernel": stage.kernel, f"s{i}_expand": stage.expand,
                           f"s{i}_layers": stage.depth})
        return {"efficientnetv2_s": params}
