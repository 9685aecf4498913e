"""Named published architectures, each a genome defined as data.

A model is found in one hop from its name: ``grep -rn '"efficientnet_b4"' search_spaces/zoo``.
Each entry records the reference implementation it is tested against and the design
space it is a point of.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.genome import Network
from search_spaces.registry import Registry

__all__ = ["ZooEntry", "entry", "get", "names", "register"]


@dataclass(frozen=True)
class ZooEntry:
    """A published architecture.

    Attributes:
        genome: The architecture.
        reference: The implementation it must equal, as ``library:model_name``
            (``timm:tf_efficientnet_b0``, ``torchvision:mobilenet_v2``); empty when no
            reference implementation exists here (then ``published`` is checked instead).
        space: The design space it is a point of.
        paper: Short citation.
        published: ``(params, MACs)`` as the paper prints them (rounded, e.g. 5.3M), for
            models without a reference implementation; ``None`` otherwise.
    """

    genome: Network
    reference: str
    space: str
    paper: str
    published: tuple[float, float] | None = None


ZOO: Registry[ZooEntry] = Registry("model")


def register(genome: Network, reference: str, space: str, paper: str,
             published: tuple[float, float] | None = None) -> Network:
    """Add ``genome`` to the zoo under ``genome.name``."""
    ZOO.register(genome.name, ZooEntry(genome, reference, space, paper, published))
    return genome


def names() -> list[str]:
    """All zoo model names, sorted."""
    return ZOO.names()


def get(name: str) -> Network:
    """The genome of zoo model ``name``; unknown names raise with close suggestions."""
    return ZOO.get(name).genome


def entry(name: str) -> ZooEntry:
    """The full zoo record of ``name``."""
    return ZOO.get(name)


from search_spaces.zoo import (  # noqa: E402,F401  (registration)
    convnext,
    densenet,
    efficientnet,
    efficientnetv2,
    inception,
    mnasnet,
    mobilenet,
    mobilenet_v1,
    nasnet,
    nb201,
    regnet,
    resnet,
    shufflenet,
    squeezenet,
    van,
)
