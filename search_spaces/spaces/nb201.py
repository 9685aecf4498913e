"""The NAS-Bench-201 space (Dong & Yang 2020, "NAS-Bench-201: Extending the Scope of Reproducible
Neural Architecture Search", sec. 2.1, fig. 1): one cell of six edges, five ops each, 15,625 networks.

The network is the reference's ``TinyNetwork`` (D-X-Y/AutoDL-Projects, xautodl 1.0,
``models/cell_infers/tiny_network.py``) with ``C = 16``, ``N = 5``:

- stem: 3x3 conv to 16 channels (stride 1, no bias) and batch norm, no activation;
- three stages of ``N = 5`` cells (:mod:`search_spaces.blocks.nb201`) at 16, 32 and 64 channels,
  with a residual reduction block (``nb201_reduce``, stride 2) before the second and the third;
- ``lastact``: batch norm and ReLU (a ``norm_act`` stage), global average pooling, a linear classifier.

Batch norm is PyTorch's default (affine, running statistics, eps 1e-5, momentum 0.1), as in the
networks the benchmark trained. The dataset sets the classes and the input size
(:data:`DATASETS`: CIFAR-10 and CIFAR-100 at 32 px, ImageNet16-120 at 16 px).

Parameters: ``edge_<i>_<j>``, the op of edge ``i <- j`` (node ``i`` reads node ``j``), among
``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``, for the six
edges in arch-string order (:data:`~search_spaces.spaces.nb201_arch.EDGES`). Named point:
``nb201_resnet``, the reference's ``CellArchitectures["resnet"]`` (two 3x3 convs in a chain and
the identity: ResNet's basic block as a cell).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from search_spaces.blocks.nb201 import OP_NAMES
from search_spaces.errors import UserInputError
from search_spaces.genome import Head, Network, Quirks, Stage, Stem
from search_spaces.registry import Registry
from search_spaces.spaces.base import Categorical, Distribution, SearchSpace, params_digest
from search_spaces.spaces.nb201_arch import EDGES, format_arch, parse_arch

__all__ = ["CELLS", "DATASETS", "RESNET", "WIDTHS", "NB201Dataset", "NB201Space", "arch_of", "dataset_named",
           "get_dataset", "nb201_network", "ops_of"]

#: Cells per stage (``N``) and the stages' widths (``C``, ``2C``, ``4C`` with ``C = 16``).
CELLS = 5
WIDTHS = (16, 32, 64)
#: The reference's ``CellArchitectures["resnet"]``: conv, conv in a chain, plus the identity.
RESNET = parse_arch("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")


@dataclass(frozen=True)
class NB201Dataset:
    """A dataset NAS-Bench-201 trained every cell on.

    Attributes:
        name: Its name in the benchmark.
        num_classes: Classifier outputs.
        resolution: Input size (square).
    """

    name: str
    num_classes: int
    resolution: int


DATASETS: Registry[NB201Dataset] = Registry("NAS-Bench-201 dataset")
for _d in (NB201Dataset("cifar10", 10, 32), NB201Dataset("cifar100", 100, 32), NB201Dataset("ImageNet16-120", 120, 16)):
    DATASETS.register(_d.name, _d)


_BY_LOWER = {n.lower(): n for n in DATASETS.names()}


def get_dataset(name: str) -> NB201Dataset:
    """The NAS-Bench-201 dataset ``name`` (any letter case).

    Raises:
        UnknownNameError: naming ``name`` and the datasets there are.
    """
    return DATASETS.get(_BY_LOWER.get(name.lower(), name) if isinstance(name, str) else name)


def dataset_named(data: str | None) -> NB201Dataset | None:
    """The benchmark dataset a ``--data`` value names (``NAME`` or ``NAME:DIR``, any case); ``None`` if none."""
    name = _BY_LOWER.get((data or "").partition(":")[0].lower())
    return None if name is None else DATASETS.get(name)


_STEM = Stem(WIDTHS[0], kernel=3, stride=1, act="identity", scale=False)
_HEAD = Head(channels=0)
#: Widths are exact (no divisor rounding); the reference pads symmetrically.
_QUIRKS = Quirks(channel_divisor=1, round_limit=0.0)
_REDUCE = tuple(Stage("nb201_reduce", 1, width, stride=2) for width in WIDTHS[1:])
_LASTACT = Stage("norm_act", 1, WIDTHS[-1])


@lru_cache(maxsize=16384)
def _stages(ops: tuple[str, ...]) -> tuple[Stage, ...]:
    cells = [Stage("nb201_cell", CELLS, width, edges=ops) for width in WIDTHS]
    return (cells[0], _REDUCE[0], cells[1], _REDUCE[1], cells[2], _LASTACT)


def nb201_network(ops: Sequence[str], data: str = "cifar10", name: str = "nb201", *, num_classes: int | None = None,
                  resolution: int | None = None, in_channels: int = 3) -> Network:
    """The NAS-Bench-201 network of cell ``ops`` (six ops in arch-string order) for dataset ``data``.

    Args:
        ops: The op of every edge, in :data:`~search_spaces.spaces.nb201_arch.EDGES` order.
        data: A :data:`DATASETS` name: sets the classes and the input size.
        name: Genome name.
        num_classes: Classifier outputs instead of the dataset's.
        resolution: Input size instead of the dataset's.
        in_channels: Input image channels.

    Raises:
        UserInputError: ``ops`` are not six NAS-Bench-201 ops, or ``data`` is no dataset of the benchmark.
    """
    format_arch(ops)  # checks them
    d = get_dataset(data)
    return Network(name=name, stem=_STEM, stages=_stages(tuple(ops)), head=_HEAD,
                   resolution=d.resolution if resolution is None else resolution,
                   num_classes=d.num_classes if num_classes is None else num_classes, in_channels=in_channels,
                   act="relu", quirks=_QUIRKS)


#: Network fields a NAS-Bench-201 network may set freely: the dataset decides classes and input size.
_FREE = ("name", "num_classes", "resolution")
_FIXED = tuple(f.name for f in dataclasses.fields(Network) if f.name not in _FREE)


def _skeleton(genome: Network) -> tuple[Any, ...]:
    return tuple(getattr(genome, name) for name in _FIXED)


@lru_cache(maxsize=16384)
def _template(ops: tuple[str, ...]) -> tuple[Any, ...]:
    return _skeleton(nb201_network(ops))


def ops_of(genome: Network) -> tuple[str, ...]:
    """The six ops of a NAS-Bench-201 network's cell, in arch-string order.

    A genome is a NAS-Bench-201 network when it equals :func:`nb201_network` of its first
    stage's ops in everything but its name, classes and input size.

    Raises:
        UserInputError: ``genome`` is not a NAS-Bench-201 network.
    """
    ops = genome.stages[0].edges
    if len(ops) == len(EDGES) and all(op in OP_NAMES for op in ops) and _skeleton(genome) == _template(ops):
        return ops
    raise UserInputError(f"genome {genome.name!r} is not a NAS-Bench-201 network (a 16-channel stem, three stages "
                         f"of {CELLS} nb201_cell blocks of one six-op cell at {', '.join(map(str, WIDTHS))} channels "
                         "with nb201_reduce blocks between them, norm_act and a linear classifier)")


def arch_of(genome: Network) -> str:
    """The arch string of a NAS-Bench-201 network (:func:`ops_of`)."""
    return format_arch(ops_of(genome))


class NB201Space(SearchSpace):
    """The 15,625 cells of NAS-Bench-201, each decoded to its network for one of the benchmark's datasets.

    Args:
        dataset: A :data:`DATASETS` name: the decoded networks' classes and input size.
        num_classes: Classifier outputs instead of the dataset's.
        resolution: Input size instead of the dataset's.
        in_channels: Input image channels.
    """

    name = "nb201"
    #: The benchmark fixes everything but the cell, and its table gives the accuracy: a search maximises it.
    default_reward = "accuracy"

    def __init__(self, dataset: str = "cifar10", num_classes: int | None = None, resolution: int | None = None,
                 in_channels: int = 3) -> None:
        d = get_dataset(dataset)
        self.dataset = d.name
        self.num_classes = d.num_classes if num_classes is None else num_classes
        self.default_resolution = d.resolution if resolution is None else resolution
        self.in_channels = in_channels
        self._dists: tuple[Distribution, ...] = tuple(Categorical(f"edge_{i}_{j}", OP_NAMES) for i, j in EDGES)

    def distributions(self) -> tuple[Distribution, ...]:
        return self._dists

    def ops(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The cell's six ops under ``params``, in arch-string order."""
        return tuple(params[d.name] for d in self._dists)

    def decode(self, params: Mapping[str, Any]) -> Network:
        self.check(params)
        return nb201_network(self.ops(params), self.dataset, f"{self.name}_{params_digest(params)}",
                             num_classes=self.num_classes, resolution=self.default_resolution,
                             in_channels=self.in_channels)

    def encode(self, ops: Sequence[str]) -> dict[str, Any]:
        """The parameters that decode to cell ``ops`` (an arch string's :func:`parse_arch`)."""
        format_arch(ops)
        return {d.name: op for d, op in zip(self._dists, ops)}

    def points(self) -> dict[str, dict[str, Any]]:
        return {"nb201_resnet": self.encode(RESNET)}

    def for_data(self, data: str | None) -> SearchSpace:
        """The space for ``--data``: a benchmark dataset's name (or ``name:DIR``) sets classes and input size."""
        named = dataset_named(data)
        return self if named is None else NB201Space(named.name, in_channels=self.in_channels)
