"""Normalisation layers by name; each entry also states its parameter count."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from search_spaces.genome import Norm
from search_spaces.registry import Registry

__all__ = ["NORMS", "NormType", "make_norm"]


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
