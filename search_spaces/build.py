"""Resolved spec -> ``torch.nn.Module``: wiring only, no rules (those live in :mod:`resolve`)."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.blocks import BLOCKS, PlanModule, next_prev
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
            nn.Sequential(*(BLOCKS.get(b.kind).build(b) for b in stage)) for stage in spec.stages
        ))
        self.head = PlanModule(spec.head)
        blocks = list(spec.blocks())
        # Cells also read the input before their own (h_{i-1}); other nets run as a plain chain.
        self._wiring = tuple((BLOCKS.get(b.kind).two_inputs, b) for b in blocks)
        self._chain = not any(two for two, _ in self._wiring)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map after the last stage."""
        x = self.stem(x)
        if self._chain:
            return self.stages(x)
        prev: torch.Tensor | None = None
        modules = (block for stage in self.stages for block in stage)
        for (two_inputs, spec), block in zip(self._wiring, modules):
            out = block(x, prev) if two_inputs else block(x)
            prev = next_prev(spec, x, prev)
            x = out
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.forward_features(x))


def build(genome: Network | ResolvedNet) -> Net:
    """Build a freshly initialised module for a genome (or an already resolved spec).

    Initialisation is PyTorch's default; the genome is never modified.
    """
    spec = genome if isinstance(genome, ResolvedNet) else resolve(genome)
    return Net(spec)
