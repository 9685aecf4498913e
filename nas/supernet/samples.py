"""Scored configurations for an accuracy predictor: drawn at random, scored by the supernet, kept on disk.

OFA fits its accuracy predictor on random sub-networks scored with the supernet's weights
(Cai et al. 2020, "Once-for-All", sec. 3.4). Draw ``i`` of seed ``s`` is
``coverage.sample(random.Random(f"{s}/{i}"))``: uniform over the supernet's covered choices,
and independent of every other draw, so a collection can stop anywhere and go on later.

The file holds one JSON line per scored configuration (index, seed, genome name, canonical
parameters, accuracy, MACs at 224 px, and how it was scored), flushed and synced as soon as it
is scored: a killed collection loses at most the line it was writing. A rerun keeps every line
already there (each checked to be the same draw of the same seed, scored the same way, so a
file of another seed, supernet or scoring is refused, not mixed in), drops a torn last line,
and scores only the rest.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from nas.supernet.space import Coverage
from search_spaces import cost
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

__all__ = ["Scorer", "collect", "draw", "read_samples"]

_FIELDS = ("index", "seed", "genome", "params", "accuracy", "macs")


class Scorer(Protocol):
    """What scores a configuration (:class:`~nas.supernet.score.SubnetScorer`, or a stand-in in tests)."""

    def accuracy(self, genome: Network) -> float:
        """Accuracy of ``genome`` in [0, 1]."""


def _plain(data: Mapping[str, Any] | None) -> Any:
    """``data`` as it reads back from JSON (``None`` stays ``None``)."""
    return None if data is None else json.loads(json.dumps(dict(data)))


def draw(coverage: Coverage, seed: int, index: int) -> Network:
    """Draw ``index`` of seed ``seed``: the same configuration in every process (a text seed is hashed by SHA-512)."""
    return coverage.sample(random.Random(f"{seed}/{index}"))


def _read(path: Path, coverage: Coverage, seed: int,
          scoring: Mapping[str, Any] | None) -> tuple[list[dict[str, Any]], int]:
    """The complete records in ``path`` (checked) and the length in bytes of the part that holds them."""
    if not path.exists():
        return [], 0
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserInputError(f"cannot read the samples file {path}: {err.strerror or err}") from None
    end = data.rfind(b"\n") + 1  # bytes after the last newline: a line torn by a kill, redone
    records = []
    for i, line in enumerate(data[:end].splitlines()):
        try:
            record = json.loads(line)
            ok = isinstance(record, dict) and all(k in record for k in _FIELDS)
        except ValueError:
            ok = False
        if not ok:
            raise UserInputError(f"line {i + 1} of {path} is not a scored configuration ({', '.join(_FIELDS)}); "
                                 "give another samples file")
        if record["seed"] != seed:
            raise UserInputError(f"{path} holds configurations drawn with seed {record['seed']}, not {seed}; give "
                                 f"--seed {record['seed']} or another samples file")
        expected = draw(coverage, seed, i).name
        if record["index"] != i or record["genome"] != expected:
            raise UserInputError(f"line {i + 1} of {path} is configuration {record['genome']}, but draw {i} of seed "
                                 f"{seed} is {expected}: the file comes from another supernet or version")
        if record.get("scoring") != _plain(scoring):
            raise UserInputError(f"line {i + 1} of {path} was scored with {record.get('scoring')}, not "
                                 f"{_plain(scoring)}; score with the same settings or into another file")
        records.append(record)
    return records, end


def read_samples(path: str | os.PathLike[str], coverage: Coverage, seed: int,
                 scoring: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The scored configurations in ``path`` (see the module docstring), a torn last line left out.

    Raises:
        UserInputError: a line that is not a record, not the draw of ``seed`` its place says, or
            scored otherwise than ``scoring`` says.
    """
    return _read(Path(path), coverage, seed, scoring)[0]


def collect(scorer: Scorer, coverage: Coverage, n: int, seed: int, path: str | os.PathLike[str], *,
            scoring: Mapping[str, Any] | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """The first ``n`` draws of ``seed``, scored: those in ``path`` kept, the others scored and appended.

    Args:
        scorer: Scores a configuration (``accuracy(genome)``).
        coverage: The supernet's configurations (what is drawn).
        n: Draws wanted.
        seed: Seed of the draws.
        path: JSON-lines file, created if missing.
        scoring: How ``scorer`` scores (calibration and validation images, ...), kept in every line:
            lines scored otherwise are refused, not mixed in.
        progress: Show a progress bar on stderr.

    Raises:
        UserInputError: the file holds other draws, or cannot be read or written.
    """
    from tqdm import tqdm

    if n < 0:
        raise UserInputError(f"the number of configurations to score must be >= 0, got {n}")
    target = Path(path)
    records, end = _read(target, coverage, seed, scoring)
    if len(records) >= n:
        return records[:n]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and target.stat().st_size != end:
            os.truncate(target, end)
        handle = open(target, "a", encoding="utf-8")
    except OSError as err:
        raise UserInputError(f"cannot write the samples file {target}: {err.strerror or err}") from None
    with handle, tqdm(total=n, initial=len(records), desc=f"scoring {target.name}", unit="net", disable=not progress,
                      file=sys.stderr, dynamic_ncols=True) as bar:
        for i in range(len(records), n):
            genome = draw(coverage, seed, i)
            record = {"index": i, "seed": seed, "genome": genome.name, "params": coverage.encode(genome),
                      "accuracy": float(scorer.accuracy(genome)), "macs": int(cost(genome).macs)}
            if scoring is not None:
                record["scoring"] = _plain(scoring)
            try:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())  # a kill loses at most this line
            except OSError as err:
                raise UserInputError(f"cannot write the samples file {target}: {err.strerror or err}") from None
            records.append(record)
            bar.update(1)
    return records
