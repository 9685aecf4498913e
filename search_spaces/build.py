"""Resolved spec -> ``torch.nn.Module``: wiring only, no rules (those live in :mod:`resolve`)."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.blocks import ChainBlock, BLOCKS
from search_spaces.genome import Network
from search_spaces.resolve import ResolvedNet, resolve

__all__ = ["Net", "build"]


class Net(nn.Module):
    """A built network: ``stem -> stages -> head``.

    Module paths are ``stem``, ``stages.<stage>.<block>.<layer>`` and ``head.<layer>``,
    the same for every genome, so weights and hooks can be addressed by position.

    Attributes:
        spec: The resolved spec this module was built from.
    """

    def __init__(self, spec: ResolvedNet) -> None:
        super().__init__()
        self.spec = spec
        self.stem = spec.stem.build()
        self.stages = nn.Sequential(*(
            nn.Sequential(*(ChainBlock(BLOCKS.get(b.kind).plan(b)) for b in stage)) for stage in spec.stages
        ))
        self.head = ChainBlock(spec.head)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map after the last stage."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.forward_features(x))


def build(genome: Network | ResolvedNet) -> Net:
    """Build a freshly initialised module for a genome (or an already resolved spec).

    Initialisation is PyTorch's default; the genome is never modified.
    """
    spec = genome if isinstance(genome, ResolvedNet) else resolve(genome)
    return Net(spec)
