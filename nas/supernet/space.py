"""Which configurations a supernet holds: the ``mbconv`` space, its largest and smallest points, coverage.

A supernet's configurations are genomes of an existing space (the design's weight-sharing
rule), here the MnasNet factorized space ``mbconv`` (:mod:`search_spaces.spaces.mbconv`).
Weights are shared along every dimension where a smaller choice is a part of a larger one
(Cai et al. 2020, "Once-for-All", sec. 3.2; Yu et al. 2020, "BigNAS", sec. 3):

- ``b{i}_kernel``: a 3x3 kernel is the centre of the 5x5 (through OFA's learned transform);
- ``b{i}_op`` ``mbconv3`` / ``mbconv6``: the middle channels of expansion 3 are the first half
  of expansion 6's;
- ``b{i}_layers``: a stage of ``d`` blocks uses the first ``d`` of the deepest;
- ``b{i}_filters``: a stage of ``c`` output channels uses the first ``c`` of the widest;
- ``b{i}_se``: squeeze-excitation on or off (its weights are used or skipped);
- ``b{i}_skip``: the identity shortcut has no weights.

The other ``b{i}_op`` choices, a regular ``conv`` and a depthwise-separable ``ds``, are layers of
another shape; they get weights of their own at every block position (Single-Path One-Shot,
Guo et al. 2020), elastic in kernel, width and depth like the MBConv path. A supernet may be
trained for a subset of the ops (``ops``); a genome using another op, or not of the space at
all, is refused with one sentence naming the stage and the field, and a search with such a
supernet proposes only the covered ops (:meth:`Coverage.restriction`).

By default a supernet holds the MBConv ops only (:data:`DEFAULT_OPS`, Once-for-All's coverage):
with the two other paths beside it, a configuration mixes three weight paths whose features at
the stage boundaries are trained together only when a random draw happens to pair them, and
after an epoch such configurations validated at 0.25 against 0.77 for the MBConv-only supernet
(docs/BENCHMARKS.md, "Weight-sharing supernet").
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any

from search_spaces import cost, spaces
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.spaces.base import Categorical
from search_spaces.spaces.mbconv import OPS, MBConvSpace

__all__ = ["DEFAULT_OPS", "ELASTIC", "SUPERNET_SPACE", "Coverage", "block_types"]

#: The one space a supernet is built over (its stages are the elastic positions).
SUPERNET_SPACE = "mbconv"

#: The ops a supernet holds weights for unless told otherwise: the MBConv path (see the module's text).
DEFAULT_OPS: tuple[str, ...] = ("mbconv3", "mbconv6")

#: Per-stage parameter (without the ``b{i}_`` prefix) -> the dimension it makes elastic, in
#: progressive-shrinking order (OFA sec. 3.2: kernel, then depth, then width); ``op`` chooses a
#: weight path (MBConv expansion 3 / 6 share one).
ELASTIC: dict[str, str] = {"kernel": "kernel", "layers": "depth", "op": "expand", "filters": "width", "se": "se",
                           "skip": "skip"}

#: The largest and smallest value of each numeric choice; skip has no weights (identity in both).
_LARGE = {"kernel": 5, "se": 0.25, "skip": "identity", "filters": 1.25, "layers": 1}
_SMALL = {"kernel": 3, "se": 0.0, "skip": "identity", "filters": 0.75, "layers": -1}


def block_types(ops: Sequence[str]) -> tuple[str, ...]:
    """The block types (weight paths) the ops use, in the space's order (``mbconv3`` and ``mbconv6``: one)."""
    return tuple(dict.fromkeys(OPS[op][0] for op in ops))


class Coverage:
    """The configurations of one supernet: the ``mbconv`` space restricted to ``ops``.

    Args:
        ops: The ``b{i}_op`` choices the supernet holds weights for (default: all four of the space).

    Attributes:
        space: The search space (1000 classes at 224 px: the genomes a search proposes).
        ops: The covered ops, in the space's order.
    """

    def __init__(self, ops: Sequence[str] | None = None) -> None:
        self.space: MBConvSpace = spaces.get(SUPERNET_SPACE)  # type: ignore[assignment]
        all_ops = tuple(OPS)
        ops = all_ops if ops is None else tuple(ops)
        unknown = [op for op in ops if op not in all_ops]
        if unknown or not ops:
            raise UserInputError(f"supernet ops must be a non-empty list of {', '.join(all_ops)}, got "
                                 f"{', '.join(ops) or 'none'}")
        self.ops = tuple(op for op in all_ops if op in ops)
        self.stages = len(self.space.backbone.stages)
        self._choices = {d.name: d.choices for d in self.space.distributions() if isinstance(d, Categorical)}

    def restriction(self) -> dict[str, tuple[str, ...]]:
        """The space's choices it narrows, for :meth:`SearchSpace.restrict`: the covered ops of every stage
        (empty when it covers them all; every other choice is covered)."""
        if self.ops == tuple(OPS):
            return {}
        return {f"b{i}_op": self.ops for i in range(self.stages)}

    # -- named points ---------------------------------------------------------------------------------------

    def choices(self, i: int, key: str) -> tuple[Any, ...]:
        """The covered values of stage ``i``'s parameter ``key`` (``op``, ``kernel``, ...)."""
        return self.ops if key == "op" else self._choices[f"b{i}_{key}"]

    def largest_op(self, block: str | None = None) -> str:
        """The covered op with the most weights (of block type ``block`` when given)."""
        ops = [op for op in self.ops if block is None or OPS[op][0] == block]
        return max(ops, key=lambda op: (OPS[op][0] == "mbconv", OPS[op][1], OPS[op][0] == "conv"))

    def smallest_op(self) -> str:
        """The covered op with the fewest multiply-adds for the same widths (``ds`` < ``mbconv3`` < ...)."""
        order = ("ds", "mbconv3", "mbconv6", "conv")
        return min(self.ops, key=order.index)

    def params(self, fixed: Mapping[str, Any]) -> dict[str, Any]:
        """The space's parameters with every stage set to ``fixed`` (keys without the ``b{i}_`` prefix)."""
        return {f"b{i}_{k}": v for i in range(self.stages) for k, v in fixed.items()}

    def largest(self, block: str | None = None) -> Network:
        """The largest configuration (of block type ``block``'s op when given): every choice at its maximum."""
        return self.space.decode(self.params({**_LARGE, "op": self.largest_op(block)}))

    def smallest(self, elastic: Sequence[str] = tuple(ELASTIC)) -> Network:
        """The smallest configuration: the cheapest op, kernel 3, no SE, the narrowest and shallowest stages.

        Args:
            elastic: The per-stage parameters that shrink; the others stay at the largest configuration's.
        """
        small = {**_SMALL, "op": self.smallest_op()}
        large = {**_LARGE, "op": self.largest_op()}
        return self.space.decode(self.params({k: small[k] if k in elastic else large[k] for k in ELASTIC}))

    # -- sampling -------------------------------------------------------------------------------------------

    def sample(self, rng: random.Random, elastic: Sequence[str] = tuple(ELASTIC), macs: tuple[float, float] | None = None,
               tries: int = 1000) -> Network:
        """A random configuration; the parameters not in ``elastic`` stay at the largest configuration's.

        Args:
            rng: The random source (its state is the only one read, so runs replay).
            elastic: Which per-stage parameters vary (names of :data:`ELASTIC`).
            macs: If given, ``(low, high)`` MACs at 224 px the configuration must lie within (rejection sampling).
            tries: Draws before giving up on ``macs``.

        Raises:
            UserInputError: if no draw of ``tries`` lies within ``macs``.
        """
        large = {**_LARGE, "op": self.largest_op()}
        for _ in range(tries):
            params = {f"b{i}_{k}": rng.choice(self.choices(i, k)) if k in elastic else large[k]
                      for i in range(self.stages) for k in ELASTIC}
            genome = self.space.decode(params)
            if macs is None or macs[0] <= cost(genome).macs <= macs[1]:
                return genome
        raise UserInputError(f"no supernet configuration of {tries} drawn has {macs[0] / 1e6:.0f}M to "
                             f"{macs[1] / 1e6:.0f}M MACs; give another budget")

    # -- coverage -------------------------------------------------------------------------------------------

    def encode(self, genome: Network) -> dict[str, Any]:
        """The space's parameters of ``genome``, refusing a genome this supernet holds no weights for.

        The stem, head and network settings must be the space's (the number of classes, the input
        size and channels may differ: they are the data's), and every stage a covered point of its
        per-stage choices.

        Raises:
            UserInputError: one sentence naming the genome, and the stage and field outside the coverage.
        """
        template = dataclasses.replace(self.space.template, num_classes=genome.num_classes,
                                       resolution=genome.resolution, in_channels=genome.in_channels)
        if len(genome.stages) != self.stages:
            raise UserInputError(f"genome {genome.name} has {len(genome.stages)} stages; the supernet holds the "
                                 f"{self.stages} stages of the {SUPERNET_SPACE} space")
        for f in dataclasses.fields(Network):
            if f.name not in ("name", "stages") and getattr(genome, f.name) != getattr(template, f.name):
                raise UserInputError(f"genome {genome.name} has {f.name} {getattr(genome, f.name)!r}; the "
                                     f"supernet's {SUPERNET_SPACE} networks have {getattr(template, f.name)!r}")
        params: dict[str, Any] = {}
        for i in range(self.stages):
            params.update(self._encode_stage(genome, i))
        return params

    def check(self, genome: Network) -> None:
        """Raise :class:`UserInputError` (one sentence) if this supernet holds no weights for ``genome``."""
        self.encode(genome)

    def _encode_stage(self, genome: Network, i: int) -> dict[str, Any]:
        stage, base = genome.stages[i], self.space.backbone.stages[i]
        where = f"genome {genome.name}, stage {i}"
        op = next((name for name, pair in OPS.items() if (stage.block, stage.expand) == pair), None)
        if op not in self.ops:
            what = f"op {op!r}" if op else f"block {stage.block!r} with expand {stage.expand:g}"
            raise UserInputError(f"{where} uses {what}, which this supernet holds no weights for (it covers "
                                 f"{', '.join(self.ops)})")
        params = {"op": op, "kernel": stage.kernel, "se": stage.se, "skip": "identity" if stage.skip else "none"}
        for key in ("kernel", "se"):
            if params[key] not in self.choices(i, key):
                raise UserInputError(f"{where} has {key} {params[key]!r}; the supernet covers "
                                     f"{', '.join(map(str, self.choices(i, key)))}")
        widths = {self.space.decode_stage(i, base, self._with(i, params, filters=f, layers=0)).channels: f
                  for f in self.choices(i, "filters")}
        if stage.channels not in widths:
            raise UserInputError(f"{where} has {stage.channels} channels; the supernet covers "
                                 f"{', '.join(map(str, widths))}")
        params["filters"] = widths[stage.channels]
        depths = {max(1, base.depth + d): d for d in self.choices(i, "layers")}  # base depth 1: 0 wins over -1
        if stage.depth not in depths:
            raise UserInputError(f"{where} has depth {stage.depth}; the supernet covers "
                                 f"{', '.join(map(str, sorted(depths)))}")
        params["layers"] = depths[stage.depth]
        decoded = self.space.decode_stage(i, base, self._with(i, params))
        if decoded != stage:  # a field no choice sets (stride, act, mid_channels, ...) differs from the space's
            field = next(f.name for f in dataclasses.fields(stage) if getattr(stage, f.name) != getattr(decoded, f.name))
            raise UserInputError(f"{where} has {field} {getattr(stage, field)!r}; the {SUPERNET_SPACE} space fixes it "
                                 f"at {getattr(decoded, field)!r}")
        return {f"b{i}_{k}": v for k, v in params.items()}

    @staticmethod
    def _with(i: int, params: Mapping[str, Any], **override: Any) -> dict[str, Any]:
        return {f"b{i}_{k}": v for k, v in {**params, **override}.items()}
