"""Normalisation layers by name; each entry also states its parameter count."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from search_spaces.genome import Norm
from search_spaces.layers.base import Cost, Size
from search_spaces.registry import Registry

__all__ = ["NORMS", "NormSpec", "NormType", "make_norm"]


@dataclass(frozen=True)
class NormType:
    """How to build a norm layer over ``channels`` and how many parameters it has."""

    build: Callable[[int, Norm], nn.Module]
    params_per_channel: int


NORMS: Registry[NormType] = Registry("norm")

NORMS.register("batchnorm", NormType(lambda c, n: nn.BatchNorm2d(c, eps=n.eps, momentum=n.momentum), 2))


def make_norm(channels: int, norm: Norm) -> nn.Module:
    """Build the norm layer that ``norm`` names over ``channels``."""
    return NORMS.get(norm.name).build(channels, norm)


@dataclass(frozen=True)
class NormSpec:
    """A standalone norm layer over ``channels`` (where a norm does not directly follow its conv)."""

    channels: int
    norm: Norm

    def build(self) -> nn.Module:
        return make_norm(self.channels, self.norm)

    def cost(self, size: Size) -> tuple[Cost, Size]:
        return Cost(NORMS.get(self.norm.name).params_per_channel * self.channels), size
