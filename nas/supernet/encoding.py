"""The configuration encoding an accuracy predictor reads: a one-hot vector of every per-stage choice.

OFA's accuracy predictor reads a sub-network as the concatenated one-hot vectors of its
per-block choices (Cai et al. 2020, "Once-for-All", sec. 3.4 and its released code's
``AccuracyPredictor``). Here the choices are the ``mbconv`` space's per-stage parameters a
supernet covers (:class:`~nas.supernet.space.Coverage`): op, kernel, SE, skip, filters and
layers of each stage, in the order of the space's distributions.

Two assignments can decode to one network: at stage 0, filters 0.75 and 1.0 both round to 16
channels, and a stage of backbone depth 1 is one block deep at layers -1 and 0. Every value is
therefore mapped first to the value :meth:`Coverage.encode` reads back from its network (the
*canonical* value), so a network has one encoding whichever assignment made it, and a value
no network reads back gets no column. A value's canonical value is found once, with the other
parameters at the largest configuration's: it depends on its own stage's parameter only (a
width on the width factor, a depth on the depth offset). An evolutionary search works on
canonical assignments (:attr:`Encoding.genes`) and decodes only the networks it keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from nas.supernet.space import Coverage
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

__all__ = ["Encoding", "encode", "encode_batch", "encode_params", "encoding_of"]

#: One column group: a parameter's name and its canonical choices, in column order.
Gene = tuple[str, tuple[Any, ...]]


class Encoding:
    """The one-hot encoding of one supernet's configurations.

    Args:
        coverage: Which configurations the supernet holds (its ops are the ``op`` columns).

    Attributes:
        coverage: As given.
        genes: Per parameter, its name and canonical choices, in the space's order (the columns).
        width: Length of an encoded configuration.
    """

    def __init__(self, coverage: Coverage) -> None:
        self.coverage = coverage
        base = coverage.encode(coverage.largest())
        genes: list[Gene] = []
        self._value: dict[str, dict[Any, Any]] = {}  # name -> raw value -> canonical value
        self._column: dict[str, dict[Any, int]] = {}  # name -> raw value -> its canonical value's column
        width = 0
        for dist in coverage.space.distributions():
            stage, key = dist.name.split("_", 1)
            raw = coverage.choices(int(stage[1:]), key)
            self._value[dist.name] = {v: self._canonical(base, dist.name, v) for v in raw}
            choices = tuple(dict.fromkeys(self._value[dist.name].values()))
            genes.append((dist.name, choices))
            self._column[dist.name] = {v: width + choices.index(c) for v, c in self._value[dist.name].items()}
            width += len(choices)
        self.genes: tuple[Gene, ...] = tuple(genes)
        self.width = width
        self._names = tuple(name for name, _ in genes)

    def _canonical(self, base: Mapping[str, Any], name: str, value: Any) -> Any:
        """The value :meth:`Coverage.encode` reads back when ``name`` is ``value`` (the others at ``base``)."""
        return self.coverage.encode(self.coverage.space.decode({**base, name: value}))[name]

    def spec(self) -> list[list[Any]]:
        """The columns as plain data (JSON), saved with a predictor so a file of another encoding is refused."""
        return [[name, list(choices)] for name, choices in self.genes]

    def canonical(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with every value replaced by its canonical value (see the module docstring).

        Raises:
            UserInputError: a parameter missing, or a value this supernet does not cover.
        """
        return dict(zip(self._names, self._lookup(self._value, params)))

    def _lookup(self, table: Mapping[str, Mapping[Any, Any]], params: Mapping[str, Any]) -> list[Any]:
        """``table[name][params[name]]`` for every parameter, or one sentence naming the first bad one."""
        try:
            return [table[name][params[name]] for name in self._names]
        except (KeyError, TypeError):
            pass
        for name in self._names:
            if name not in params:
                raise UserInputError(f"configuration lacks parameter {name!r} of the {self.coverage.space.name} space")
            if not _covered(params[name], table[name]):
                raise UserInputError(f"configuration has {name} {params[name]!r}, which the supernet does not cover "
                                     f"({', '.join(map(str, table[name]))})")
        raise AssertionError("unreachable: some parameter failed the look-up")

    def params(self, genome: Network) -> dict[str, Any]:
        """The canonical parameters of ``genome`` (refusing a genome the supernet holds no weights for)."""
        return self.coverage.encode(genome)

    def encode_params(self, batch: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """One float32 row per assignment (canonical or not): the fast path, no decoding."""
        rows = [self._lookup(self._column, p) for p in batch]
        out = np.zeros((len(rows), self.width), dtype=np.float32)
        if rows:
            out[np.arange(len(rows))[:, None], np.asarray(rows)] = 1.0
        return out

    def encode_genomes(self, genomes: Sequence[Network]) -> np.ndarray:
        """One float32 row per genome.

        Raises:
            UserInputError: a genome the supernet holds no weights for (one sentence naming it).
        """
        return self.encode_params([self.params(g) for g in genomes])

    def encode(self, genome: Network) -> np.ndarray:
        """The float32 vector of one genome."""
        return self.encode_genomes([genome])[0]


def _covered(value: Any, table: Mapping[Any, Any]) -> bool:
    try:
        return value in table
    except TypeError:  # unhashable: no choice is
        return False


@lru_cache(maxsize=8)
def encoding_of(ops: tuple[str, ...]) -> Encoding:
    """The encoding of a supernet holding ``ops`` (built once per process)."""
    return Encoding(Coverage(ops))


def _of(coverage: Coverage) -> Encoding:
    return encoding_of(coverage.ops)


def encode(coverage: Coverage, genome: Network) -> np.ndarray:
    """One genome as the float32 one-hot vector of its per-stage choices (see :class:`Encoding`)."""
    return _of(coverage).encode(genome)


def encode_batch(coverage: Coverage, genomes: Sequence[Network]) -> np.ndarray:
    """Many genomes, one row each."""
    return _of(coverage).encode_genomes(genomes)


def encode_params(coverage: Coverage, batch: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Many parameter assignments, one row each, without decoding them (what a search evaluates)."""
    return _of(coverage).encode_params(batch)
