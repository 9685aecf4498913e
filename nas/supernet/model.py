"""The elastic supernet: one set of weights, every configuration of the ``mbconv`` space a slice of it.

The supernet holds, per weight path (block type: ``mbconv``, ``ds``, ``conv``), the weights of
the largest network of that path (every stage at kernel 5, SE on, the widest and deepest, the
largest expansion), built by :func:`search_spaces.build` itself. A configuration (a genome of
the space) runs as *its own built module* (:func:`search_spaces.build`, on the meta device, so
nothing is allocated) through :func:`torch.func.functional_call`, with every parameter and
batch-norm buffer replaced by a slice of the supernet's:

- channels: the first ``c`` of the largest (inputs, outputs, middle widths, SE widths);
- kernels: the centre ``k x k`` of the 5x5, times a learned ``k^2 x k^2`` matrix shared by the
  layer's channels (Cai et al. 2020, "Once-for-All", sec. 3.2, "elastic kernel size"; initialised
  to the identity, so it starts as the plain centre crop BigNAS uses);
- depth: block ``j`` of a stage is block ``j`` of the deepest stage.

Because a configuration *is* the built network with other tensors in it, :meth:`Supernet.subnet`
exports exactly what the supernet computes: its state dict loads strictly into
``build(genome)`` and gives the same outputs. Gradients flow from the slices back to the shared
weights, so any optimizer trains the supernet as an ordinary module.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from nas.supernet.space import DEFAULT_OPS, Coverage, block_types
from search_spaces import build
from search_spaces.genome import Network

__all__ = ["Supernet", "SupernetConfig"]

#: Parameters and buffers of an MBConv block that run along its middle (expanded) channels, with the
#: dimension that does: what :meth:`Supernet.reorder_channels` permutes together.
_MIDDLE = (("expand.conv.weight", 0), ("expand.bn.weight", 0), ("expand.bn.bias", 0),
           ("expand.bn.running_mean", 0), ("expand.bn.running_var", 0), ("dw.conv.weight", 0),
           ("dw.bn.weight", 0), ("dw.bn.bias", 0), ("dw.bn.running_mean", 0), ("dw.bn.running_var", 0),
           ("se.reduce.weight", 1), ("se.expand.weight", 0), ("se.expand.bias", 0), ("project.conv.weight", 1))


@dataclass(frozen=True)
class SupernetConfig:
    """What a supernet is, as plain data (a checkpoint stores it to rebuild the module).

    Attributes:
        ops: The ``b{i}_op`` choices it holds weights for (default: the MBConv ops, :data:`DEFAULT_OPS`).
        num_classes: Classifier outputs (the data's classes).
        resolution: Input size it trains at (every configuration is built at it).
        in_channels: Input channels (gray images are repeated to them, as the ``train`` proxy does).
        kernel_transform: Whether a smaller kernel goes through OFA's learned transform (else the plain
            centre crop, as BigNAS).
    """

    ops: tuple[str, ...] = DEFAULT_OPS
    num_classes: int = 10
    resolution: int = 28
    in_channels: int = 3
    kernel_transform: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples) for a checkpoint."""
        return {**dataclasses.asdict(self), "ops": list(self.ops)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SupernetConfig:
        """The inverse of :meth:`to_dict`."""
        return cls(**{**data, "ops": tuple(data["ops"])})


def _escape(name: str) -> str:
    return name.replace(".", "__")


class Supernet(nn.Module):
    """A weight-sharing supernet over the ``mbconv`` space.

    Args:
        config: Which ops, classes, input size, channels and kernel rule.
        cache: How many built (meta) configurations to keep; a search revisits few, training's
            largest and smallest every step.

    Call it as ``supernet(x, [genome, ...])`` for the logits of each configuration (one call for
    several, so a ``DistributedDataParallel`` wrapper sees one forward per step), or
    ``supernet.run(x, genome)`` for one.
    """

    def __init__(self, config: SupernetConfig = SupernetConfig(), cache: int = 64) -> None:
        super().__init__()
        self.config = config
        self.coverage = Coverage(config.ops)
        self.blocks = block_types(self.coverage.ops)
        self.paths = nn.ModuleDict()
        for i, block in enumerate(self.blocks):
            path = build(self.proxy(self.coverage.largest(block)))
            if i:  # the stem and head are shared: the first path holds them
                path.stem = path.head = None
            self.paths[block] = path
        self.transforms = nn.ParameterDict()
        if config.kernel_transform:
            for block, path in self.paths.items():
                for name, p in path.named_parameters():
                    if name.startswith("stages.") and p.dim() == 4 and p.shape[-1] > 3:
                        # OFA: one k^2 x k^2 matrix per smaller kernel size; 3 is the only one here.
                        self.transforms[_escape(f"{block}.{name}")] = nn.Parameter(torch.eye(9))
        self._cache: OrderedDict[Network, nn.Module] = OrderedDict()
        self._cache_size = cache

    # -- configurations -------------------------------------------------------------------------------------

    def proxy(self, genome: Network) -> Network:
        """``genome`` with the supernet's classes, input size and channels (the architecture unchanged)."""
        c = self.config
        if (genome.num_classes, genome.resolution, genome.in_channels) == (c.num_classes, c.resolution,
                                                                          c.in_channels):
            return genome
        return dataclasses.replace(genome, num_classes=c.num_classes, resolution=c.resolution,
                                   in_channels=c.in_channels)

    def largest(self) -> Network:
        """The largest configuration (the distillation teacher), at the supernet's input size."""
        return self.proxy(self.coverage.largest())

    def smallest(self) -> Network:
        """The smallest configuration, at the supernet's input size."""
        return self.proxy(self.coverage.smallest())

    def module(self, genome: Network) -> nn.Module:
        """The built module of ``genome`` (covered, proxied) on the meta device: its structure only.

        Raises:
            UserInputError: if the supernet holds no weights for ``genome``.
        """
        genome = self.proxy(genome)
        module = self._cache.get(genome)
        if module is None:
            self.coverage.check(genome)
            with torch.device("meta"):
                module = build(genome)
            self._cache[genome] = module
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(genome)
        return module

    # -- weights --------------------------------------------------------------------------------------------

    def _source(self, block: str, name: str, buffer: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The shared tensor behind parameter/buffer ``name`` of a block-type-``block`` stage, and its transform."""
        if not name.startswith("stages."):
            block = self.blocks[0]
        path = self.paths[block]
        tensor = path.get_buffer(name) if buffer else path.get_parameter(name)
        key = _escape(f"{block}.{name}")
        return tensor, (self.transforms[key] if key in self.transforms else None)

    @staticmethod
    def _fit(source: torch.Tensor, shape: torch.Size, transform: torch.Tensor | None) -> torch.Tensor:
        """The part of ``source`` a tensor of ``shape`` takes: leading channels, centre kernel."""
        if source.shape == shape:
            return source
        if source.dim() == 4 and shape[-1] < source.shape[-1]:
            k, off = shape[-1], (source.shape[-1] - shape[-1]) // 2
            w = source[:shape[0], :shape[1], off:off + k, off:off + k]
            if transform is not None:
                if k != 3:
                    raise ValueError(f"the kernel transform maps 5x5 to 3x3 only, asked for {k}x{k}")
                w = (w.reshape(-1, k * k) @ transform).reshape(shape)
            return w
        if any(s > t for s, t in zip(shape, source.shape)) or len(shape) != source.dim():
            raise ValueError(f"a tensor of shape {tuple(shape)} is no slice of the supernet's {tuple(source.shape)}")
        return source[tuple(slice(0, s) for s in shape)]

    def tensors(self, genome: Network) -> dict[str, torch.Tensor]:
        """Every parameter and buffer of ``build(genome)``, as slices of the supernet's (differentiable)."""
        module = self.module(genome)
        stages = self.proxy(genome).stages
        out: dict[str, torch.Tensor] = {}
        for buffer, items in ((False, module.named_parameters()), (True, module.named_buffers())):
            for name, placeholder in items:
                block = stages[int(name.split(".", 2)[1])].block if name.startswith("stages.") else ""
                source, transform = self._source(block, name, buffer)
                out[name] = self._fit(source, placeholder.shape, transform)
        return out

    def run(self, x: torch.Tensor, genome: Network) -> torch.Tensor:
        """Logits of configuration ``genome`` on ``x`` (train or eval mode as the supernet is)."""
        module = self.module(genome)
        module.train(self.training)
        return functional_call(module, self.tensors(genome), (x,), strict=True)

    def forward(self, x: torch.Tensor, genomes: Sequence[Network]) -> list[torch.Tensor]:
        """Logits of each configuration of ``genomes`` on the same batch ``x``."""
        return [self.run(x, g) for g in genomes]

    @torch.no_grad()
    def subnet(self, genome: Network) -> tuple[Network, dict[str, torch.Tensor]]:
        """Export a configuration: its genome (at the supernet's input size and classes) and a state dict.

        The state dict loads strictly into ``search_spaces.build(genome)``, which then computes what
        the supernet computes in that configuration (batch-norm statistics included: the supernet's,
        sliced; re-estimate them on the data before trusting eval-mode outputs).

        Raises:
            UserInputError: if the supernet holds no weights for ``genome``.
        """
        genome = self.proxy(genome)
        return genome, {name: t.detach().clone() for name, t in self.tensors(genome).items()}

    # -- channel importance (OFA sec. 3.2, elastic width) ---------------------------------------------------

    @torch.no_grad()
    def reorder_channels(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Sort each MBConv block's middle channels by importance, most important first.

        Importance is the L1 norm of the projection weights reading the channel (OFA); a smaller
        expansion then keeps the most important channels. Every tensor along the middle channels,
        and its optimizer state (momentum), is permuted the same way, so the computed function of
        the largest configuration is unchanged.
        """
        if "mbconv" not in self.paths:
            return
        path = self.paths["mbconv"]
        for stage in path.stages:
            for block in stage:
                named = dict(block.named_parameters()) | dict(block.named_buffers())
                if "project.conv.weight" not in named or "expand.conv.weight" not in named:
                    continue
                order = named["project.conv.weight"].abs().sum(dim=(0, 2, 3)).argsort(descending=True, stable=True)
                for suffix, dim in _MIDDLE:
                    tensor = named.get(suffix)
                    if tensor is None:
                        continue
                    tensor.copy_(tensor.index_select(dim, order))
                    state = optimizer.state.get(tensor, {}) if optimizer is not None else {}
                    for value in state.values():
                        if isinstance(value, torch.Tensor) and value.shape == tensor.shape:
                            value.copy_(value.index_select(dim, order))
