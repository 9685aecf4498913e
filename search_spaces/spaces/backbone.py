"""Stage-wise factorized spaces around a fixed backbone network.

The MnasNet space (Tan et al. 2019, sec. 4.1, fig. 4) and the EfficientNetV2 space (Tan &
Le 2021, sec. 3.2) both split a published network into its stages and search each
stage's choices independently; the stem, head, activation, norm and quirks stay the
backbone's, and the backbone itself is a named point. A subclass says what one stage
offers (:meth:`BackboneSpace.stage_distributions`), how a choice becomes a stage
(:meth:`BackboneSpace.decode_stage`) and which choice is the backbone's own stage
(:meth:`BackboneSpace.encode_stage`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from search_spaces.genome import Network, Stage
from search_spaces.spaces.base import Distribution, SearchSpace, params_digest

__all__ = ["BackboneSpace"]


class BackboneSpace(SearchSpace):
    """A per-stage space around ``backbone`` (a class attribute of each subclass).

    Args:
        num_classes: Classifier outputs of every decoded network.
        resolution: Input size written into every genome; ``None`` is the space's
            ``default_resolution`` (the backbone's published input size).
        in_channels: Input image channels.
    """

    backbone: Network

    def __init__(self, num_classes: int = 1000, resolution: int | None = None, in_channels: int = 3) -> None:
        self.default_resolution = type(self).default_resolution if resolution is None else resolution
        self.template = replace(self.backbone, num_classes=num_classes, resolution=self.default_resolution,
                                in_channels=in_channels)
        self._dists = tuple(d for i, stage in enumerate(self.backbone.stages)
                            for d in self.stage_distributions(i, stage))

    @abstractmethod
    def stage_distributions(self, i: int, stage: Stage) -> tuple[Distribution, ...]:
        """The parameters of stage ``i``, whose backbone stage is ``stage``."""

    @abstractmethod
    def decode_stage(self, i: int, stage: Stage, params: Mapping[str, Any]) -> Stage:
        """Stage ``i`` of a decoded network, from the backbone's ``stage`` and the parameters."""

    @abstractmethod
    def encode_stage(self, i: int, stage: Stage) -> dict[str, Any]:
        """The parameters of stage ``i`` that decode to the backbone's own ``stage``."""

    def distributions(self) -> tuple[Distribution, ...]:
        return self._dists

    def decode(self, params: Mapping[str, Any]) -> Network:
        self.check(params)
        stages = tuple(self.decode_stage(i, stage, params) for i, stage in enumerate(self.backbone.stages))
        return replace(self.template, name=f"{self.name}_{params_digest(params)}", stages=stages)

    def encode_backbone(self) -> dict[str, Any]:
        """The parameters that reproduce the backbone network itself."""
        params: dict[str, Any] = {}
        for i, stage in enumerate(self.backbone.stages):
            params.update(self.encode_stage(i, stage))
        return params

    def points(self) -> dict[str, dict[str, Any]]:
        return {self.backbone.name: self.encode_backbone()}
