"""Cell search spaces: NASNet (Zoph et al. 2018) and PNAS (Liu et al. 2018).

Both search one small *cell* and stack it (NASNet sec. 3, fig. 2; PNAS sec. 3.1-3.2). A
cell has B = 5 blocks (nodes); each node picks two inputs among the cell's two inputs
(state 0 = ``h_i``, state 1 = ``h_{i-1}``) and the earlier nodes, one op for each from the
op table, and a combine op. The network is the ImageNet architecture of both papers'
reference code (TF ``nasnet.py`` / ``pnasnet.py``, fig. 2 right):

- a 3x3 stride-2 unpadded stem conv (``stem`` channels) with batch norm;
- two stride-2 stem cells with ``F/4`` and ``F/2`` filters;
- three stacks of ``N`` cells with ``F``, ``2F``, ``4F`` filters, separated by two
  reduction cells: NASNet searches a separate reduction cell (its own stage, stride 2);
  PNAS uses the same cell with stride 2 as the first cell of the second and third stacks;
- ReLU, global average pooling, dropout 0.5, linear classifier.

``nasnet`` (per cell type ``normal`` / ``reduce``, per node ``k``):
``{cell}{k}_in_a``, ``{cell}{k}_in_b`` in ``0..k+1``; ``{cell}{k}_op_a``, ``{cell}{k}_op_b``
among the 13 ops of the paper (:data:`~search_spaces.blocks.NASNET_OPS`);
``{cell}{k}_combine``: ``add`` or ``concat``. The output concatenates the nodes no other
node reads (the paper's "unused hidden states"), plus each state ``s`` (0..6) whose
``{cell}_concat{s}`` is true. The extra switches exist because the published cells break
the rule: TF's hand-written ``used_hiddenstates`` of NASNet-A concatenate ``h_{i-1}`` in the
normal cell and node 1 (state 3) in the reduction cell although other nodes read them.
``reduction_skip`` is TF's ``skip_reduction_layer_input`` (:class:`~search_spaces.genome.Quirks`).

``pnas`` (one cell, per node ``k``): ``cell{k}_in_a``, ``cell{k}_in_b``, ``cell{k}_op_a``,
``cell{k}_op_b`` among PNAS's 8 ops (:data:`~search_spaces.blocks.PNAS_OPS`); the combine
op is always ``add`` (PNAS sec. 3.1 drops concatenation, which the NASNet search never picked), and the output
concatenates every node, as the PNASNet-5 reference does.

Both: ``cells`` = N in 1..6, ``filters`` = F in 16..256, log-uniform (the stem cells get
``F // 4`` and ``F // 2`` filters, TF's ``int(F * scaling)``), ``stem`` in {32, 64, 96} (the
papers' mobile and large stems are 32 and 96).

Named points: ``nasnet_a_mobile`` (NASNet-A 4 @ 1056, 224 px), ``nasnetalarge`` (NASNet-A
6 @ 4032, 331 px, timm's model of that name), ``amoebanet_a_mobile`` and
``amoebanet_a_n6_f190`` (AmoebaNet-A, N = 4, F = 50 at 224 px and N = 6, F = 190 at 331 px,
Real et al. 2019), ``pnasnet5_mobile`` (PNASNet-5, N = 3,
F = 54, 224 px) and ``pnasnet5large`` (N = 4, F = 216, 331 px, timm's). Reference padding is
TF "same" (timm uses it for both large models), so every decoded network uses it too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from functools import lru_cache, partial
from typing import Any

from search_spaces.blocks import NASNET_OPS, PNAS_OPS
from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem
from search_spaces.spaces.base import Categorical, Distribution, IntRange, SearchSpace, params_digest

__all__ = [
    "AMOEBANET_A", "BLOCKS_PER_CELL", "NASNET_A", "PNASNET_5", "CellSpace", "Genotype", "NASNetSpace", "PNASSpace",
    "cell_network",
]

BLOCKS_PER_CELL = 5
#: A genotype as stored in ``Stage.cell``: nodes ``(op_a, in_a, op_b, in_b, combine)`` then ``("concat", ...)``.
Genotype = tuple[tuple[Any, ...], ...]

#: NASNet-A (Zoph et al. 2018, fig. 4; TF ``NasNetANormalCell`` / ``NasNetAReductionCell``).
NASNET_A: dict[str, Genotype] = {
    "normal": (
        ("sep_conv_5x5", 0, "sep_conv_3x3", 1, "add"),
        ("sep_conv_5x5", 1, "sep_conv_3x3", 1, "add"),
        ("avg_pool_3x3", 0, "identity", 1, "add"),
        ("avg_pool_3x3", 1, "avg_pool_3x3", 1, "add"),
        ("sep_conv_3x3", 0, "identity", 0, "add"),
        ("concat", 1, 2, 3, 4, 5, 6),
    ),
    "reduce": (
        ("sep_conv_5x5", 0, "sep_conv_7x7", 1, "add"),
        ("max_pool_3x3", 0, "sep_conv_7x7", 1, "add"),
        ("avg_pool_3x3", 0, "sep_conv_5x5", 1, "add"),
        ("identity", 3, "avg_pool_3x3", 2, "add"),
        ("sep_conv_3x3", 2, "max_pool_3x3", 0, "add"),
        ("concat", 3, 4, 5, 6),
    ),
}

#: PNASNet-5 (Liu et al. 2018, fig. 1 right; TF ``PNasNetNormalCell``), used for every cell.
PNASNET_5: Genotype = (
    ("sep_conv_5x5", 1, "max_pool_3x3", 1, "add"),
    ("sep_conv_7x7", 0, "max_pool_3x3", 0, "add"),
    ("sep_conv_5x5", 0, "sep_conv_3x3", 0, "add"),
    ("sep_conv_3x3", 4, "max_pool_3x3", 0, "add"),
    ("sep_conv_3x3", 1, "identity", 0, "add"),
    ("concat", 2, 3, 4, 5, 6),
)

#: AmoebaNet-A (Real et al. 2019, "Regularized Evolution", fig. 4; TF ``amoeba_net/model_specs.py``),
#: a point of the NASNet space found by evolution.
AMOEBANET_A: dict[str, Genotype] = {
    "normal": (
        ("avg_pool_3x3", 0, "max_pool_3x3", 0, "add"),
        ("sep_conv_3x3", 1, "identity", 1, "add"),
        ("identity", 0, "avg_pool_3x3", 1, "add"),
        ("sep_conv_3x3", 0, "sep_conv_5x5", 2, "add"),
        ("avg_pool_3x3", 5, "sep_conv_3x3", 0, "add"),
        ("concat", 1, 3, 4, 6),
    ),
    "reduce": (
        ("sep_conv_3x3", 1, "avg_pool_3x3", 0, "add"),
        ("max_pool_3x3", 0, "sep_conv_7x7", 2, "add"),
        ("max_pool_3x3", 1, "max_pool_3x3", 0, "add"),
        ("sep_conv_3x3", 4, "conv_1x7_7x1", 0, "add"),
        ("avg_pool_3x3", 1, "sep_conv_7x7", 0, "add"),
        ("concat", 2, 3, 4, 5, 6),
    ),
}


def cell_network(name: str, normal: Genotype, reduce: Genotype | None, *, cells: int, filters: int, stem: int,
                 reduction_skip: bool = False, resolution: int = 224, num_classes: int = 1000,
                 in_channels: int = 3) -> Network:
    """The ImageNet cell network of the NASNet / PNAS reference code (see the module docstring).

    Args:
        name: Genome name.
        normal: Normal-cell genotype.
        reduce: Reduction-cell genotype (its own stride-2 stages, NASNet); ``None`` uses
            ``normal`` with stride 2 as the first cell of stacks 2 and 3 (PNAS).
        cells: N, normal cells per stack.
        filters: F, filters of the first stack.
        stem: Channels of the stem conv.
        reduction_skip: TF NASNet's ``skip_reduction_layer_input``.
        resolution: Default input size.
        num_classes: Classifier outputs.
        in_channels: Input image channels.
    """
    stem_cell = reduce if reduce is not None else normal
    # TF: filter_size = int(F * filter_scaling), scaling 1/4 and 1/2 for the two stem cells.
    stages = [Stage("cell", 1, filters // 4, stride=2, cell=stem_cell),
              Stage("cell", 1, filters // 2, stride=2, cell=stem_cell)]
    for i, f in enumerate((filters, 2 * filters, 4 * filters)):
        if reduce is not None:
            if i:
                stages.append(Stage("cell", 1, f, stride=2, cell=reduce))
            stages.append(Stage("cell", cells, f, cell=normal))
        else:
            stages.append(Stage("cell", cells, f, stride=2 if i else 1, cell=normal))
    return Network(name=name, stem=_stem(stem), stages=tuple(stages), head=_HEAD, resolution=resolution,
                   num_classes=num_classes, in_channels=in_channels, act="relu", norm=_NORM,
                   quirks=_quirks(reduction_skip))


# The parts every cell network shares are made once: they are frozen, and a search decodes
# thousands of networks.
_HEAD = Head(channels=0, dropout=0.5, pre_act="relu")
_NORM = Norm(eps=1e-3, momentum=0.1)
#: The reference code's unpadded 3x3 stride-2 stem conv (no activation).
_STEM = partial(Stem, kernel=3, stride=2, act="identity", scale=False, padding="valid")
#: Widths are exact filter counts: no divisor rounding.
_CELL_QUIRKS = partial(Quirks, padding="same", channel_divisor=1, round_limit=0.0)
_QUIRKS = {skip: _CELL_QUIRKS(reduction_skip=skip) for skip in (False, True)}


@lru_cache(maxsize=64)
def _shared_stem(channels: int) -> Stem:
    return _STEM(channels)


def _stem(channels: int) -> Stem:
    """The stem of ``channels``: shared for an int, built (and so checked) for anything else."""
    return _shared_stem(channels) if type(channels) is int else _STEM(channels)


def _quirks(reduction_skip: bool) -> Quirks:
    """The quirks for ``reduction_skip``: shared for a bool, built (and so checked) for anything else."""
    return _QUIRKS[reduction_skip] if isinstance(reduction_skip, bool) else _CELL_QUIRKS(reduction_skip=reduction_skip)


class CellSpace(SearchSpace):
    """Common parts of the cell spaces: node parameters, N, F, stem; genotype decoding.

    Args:
        num_classes: Classifier outputs of every decoded network.
        resolution: Input size written into every genome.
        in_channels: Input image channels.
    """

    ops: tuple[str, ...] = ()
    combines: tuple[str, ...] = ("add",)
    cell_names: tuple[str, ...] = ()

    def __init__(self, num_classes: int = 1000, resolution: int = 224, in_channels: int = 3) -> None:
        self.num_classes, self.in_channels = num_classes, in_channels
        self.default_resolution = resolution
        dists: list[Distribution] = []
        for cell in self.cell_names:
            for k in range(BLOCKS_PER_CELL):
                for side in ("a", "b"):
                    dists.append(Categorical(f"{cell}{k}_in_{side}", tuple(range(k + 2))))
                    dists.append(Categorical(f"{cell}{k}_op_{side}", self.ops))
                if len(self.combines) > 1:
                    dists.append(Categorical(f"{cell}{k}_combine", self.combines))
            dists.extend(self.cell_extras(cell))
        dists += [IntRange("cells", 1, 6), IntRange("filters", 16, 256, log=True), Categorical("stem", (32, 64, 96))]
        self._dists = tuple(dists) + self.network_extras()
        #: Per cell, the parameter names of each node (op_a, in_a, op_b, in_b, combine), made once.
        self._node_params = {cell: tuple(tuple(f"{cell}{k}_{part}" for part in ("op_a", "in_a", "op_b", "in_b", "combine"))
                                         for k in range(BLOCKS_PER_CELL)) for cell in self.cell_names}

    def cell_extras(self, cell: str) -> tuple[Distribution, ...]:
        """Per-cell parameters beyond the nodes."""
        return ()

    def network_extras(self) -> tuple[Distribution, ...]:
        """Network parameters beyond N, F and the stem."""
        return ()

    def distributions(self) -> tuple[Distribution, ...]:
        return self._dists

    def genotype(self, params: Mapping[str, Any], cell: str) -> Genotype:
        """The genotype of ``cell`` under ``params``."""
        nodes = tuple((params[op_a], params[in_a], params[op_b], params[in_b], params.get(combine, "add"))
                      for op_a, in_a, op_b, in_b, combine in self._node_params[cell])
        return nodes + (("concat",) + self.concat(params, cell, nodes),)

    def concat(self, params: Mapping[str, Any], cell: str, nodes: Genotype) -> tuple[int, ...]:
        """States concatenated into the cell output."""
        raise NotImplementedError

    def decode(self, params: Mapping[str, Any]) -> Network:
        self.check(params)
        return self.network(params)

    def draw(self, rng: random.Random) -> Network:
        """``decode(sample_params(rng))`` without checking the draw: it is in range by construction."""
        return self.network(self.sample_params(rng))

    def network(self, params: Mapping[str, Any]) -> Network:
        """The genome of ``params``, already checked."""
        raise NotImplementedError

    def encode(self, genotype: Genotype, cell: str) -> dict[str, Any]:
        """Parameters of ``cell`` that decode to ``genotype`` (for named points)."""
        params: dict[str, Any] = {d.name: d.choices[0] for d in self.cell_extras(cell)}
        params.update({f"{cell}_concat{s}": True for s in genotype[-1][1:]} if self.cell_extras(cell) else {})
        for k, (op_a, in_a, op_b, in_b, combine) in enumerate(genotype[:-1]):
            params.update({f"{cell}{k}_op_a": op_a, f"{cell}{k}_in_a": in_a, f"{cell}{k}_op_b": op_b,
                           f"{cell}{k}_in_b": in_b})
            if len(self.combines) > 1:
                params[f"{cell}{k}_combine"] = combine
        return params


@lru_cache(maxsize=16)
def _concat_params(cell: str, states: int) -> tuple[str, ...]:
    """The names of ``cell``'s switches ``{cell}_concat{s}``, made once."""
    return tuple(f"{cell}_concat{s}" for s in range(states))


def _unused(nodes: Genotype) -> tuple[int, ...]:
    used = {src for node in nodes for src in (node[1], node[3])}
    return tuple(2 + k for k in range(len(nodes)) if 2 + k not in used)


class NASNetSpace(CellSpace):
    """The NASNet search space: separate normal and reduction cells, 13 ops, add or concat."""

    name = "nasnet"
    ops = NASNET_OPS
    combines = ("add", "concat")
    cell_names = ("normal", "reduce")
    point_resolutions = {"nasnetalarge": 331, "amoebanet_a_n6_f190": 331}

    def cell_extras(self, cell: str) -> tuple[Distribution, ...]:
        return tuple(Categorical(f"{cell}_concat{s}", (False, True)) for s in range(BLOCKS_PER_CELL + 2))

    def network_extras(self) -> tuple[Distribution, ...]:
        return (Categorical("reduction_skip", (False, True)),)

    def concat(self, params: Mapping[str, Any], cell: str, nodes: Genotype) -> tuple[int, ...]:
        unused = set(_unused(nodes))
        return tuple(s for s, name in enumerate(_concat_params(cell, len(nodes) + 2)) if s in unused or params[name])

    def network(self, params: Mapping[str, Any]) -> Network:
        return cell_network(
            f"{self.name}_{params_digest(params)}", self.genotype(params, "normal"), self.genotype(params, "reduce"),
            cells=params["cells"], filters=params["filters"], stem=params["stem"],
            reduction_skip=params["reduction_skip"], resolution=self.default_resolution,
            num_classes=self.num_classes, in_channels=self.in_channels)

    def points(self) -> dict[str, dict[str, Any]]:
        cells = {**self.encode(NASNET_A["normal"], "normal"), **self.encode(NASNET_A["reduce"], "reduce")}
        amoeba = {**self.encode(AMOEBANET_A["normal"], "normal"), **self.encode(AMOEBANET_A["reduce"], "reduce")}
        return {
            # Zoph et al. 2018, table 2: "NASNet-A (4 @ 1056)"; TF mobile_imagenet_config.
            "nasnet_a_mobile": {**cells, "cells": 4, "filters": 44, "stem": 32, "reduction_skip": False},
            # "NASNet-A (6 @ 4032)"; TF large_imagenet_config, timm nasnetalarge.
            "nasnetalarge": {**cells, "cells": 6, "filters": 168, "stem": 96, "reduction_skip": True},
            # Real et al. 2019, table 2: AmoebaNet-A (N=4, F=50) and (N=6, F=190).
            "amoebanet_a_mobile": {**amoeba, "cells": 4, "filters": 50, "stem": 32, "reduction_skip": False},
            "amoebanet_a_n6_f190": {**amoeba, "cells": 6, "filters": 190, "stem": 96, "reduction_skip": False},
        }


class PNASSpace(CellSpace):
    """The PNAS search space: one cell (stride 2 where it reduces), 8 ops, add."""

    name = "pnas"
    ops = PNAS_OPS
    cell_names = ("cell",)
    point_resolutions = {"pnasnet5large": 331}

    def concat(self, params: Mapping[str, Any], cell: str, nodes: Genotype) -> tuple[int, ...]:
        return tuple(range(2, 2 + len(nodes)))

    def network(self, params: Mapping[str, Any]) -> Network:
        return cell_network(
            f"{self.name}_{params_digest(params)}", self.genotype(params, "cell"), None,
            cells=params["cells"], filters=params["filters"], stem=params["stem"],
            resolution=self.default_resolution, num_classes=self.num_classes, in_channels=self.in_channels)

    def points(self) -> dict[str, dict[str, Any]]:
        cell = self.encode(PNASNET_5, "cell")
        return {
            # Liu et al. 2018, table 3: PNASNet-5 mobile; TF pnasnet mobile_imagenet_config.
            "pnasnet5_mobile": {**cell, "cells": 3, "filters": 54, "stem": 32},
            # Table 4 (PNASNet-5 large); TF large_imagenet_config, timm pnasnet5large.
            "pnasnet5large": {**cell, "cells": 4, "filters": 216, "stem": 96},
        }
