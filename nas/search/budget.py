"""Targets from the command line: MACs budgets (``400M``, ``1.2G``, ``600000000``) and the space's reachable range."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from search_spaces.cost import cost
from search_spaces.errors import UserInputError, positive
from search_spaces.spaces.base import SearchSpace

__all__ = ["macs_range", "parse_macs", "parse_positive"]

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_MACS = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?)\s*$", re.IGNORECASE)


def parse_macs(text: str, option: str = "--budget") -> float:
    """``"400M"`` -> ``4e8``; ``K``, ``M``, ``G``, ``T`` suffixes (any case), plain or scientific numbers.

    Raises:
        UserInputError: naming ``option`` when the text is not a positive MACs count.
    """
    match = _MACS.match(str(text))
    if match is None:
        raise UserInputError(f"{option} must be a MACs count such as 400M, 1.2G or 600000000, got {text!r}")
    value = float(match.group(1)) * _SUFFIX[match.group(2).upper()]
    if not math.isfinite(value) or value <= 0:
        raise UserInputError(f"{option} must be positive, got {text!r}")
    return value


def parse_positive(text: str, option: str) -> float:
    """A positive finite number from text (``--latency-ms 25``), or one sentence naming ``option``."""
    try:
        value = float(text)
    except ValueError:
        raise UserInputError(f"{option} must be a number, got {text!r}") from None
    return positive(value, option)


@lru_cache(maxsize=32)
def macs_range(space: SearchSpace, samples: int = 200, seed: int = 0) -> tuple[float, float]:
    """Smallest and largest MACs among ``samples`` seeded samples and the space's named points (memoised).

    A sampled range is narrower than the true one (the extremes are rare combinations),
    which is what a budget check wants: a budget outside it is one the search would
    almost never meet.
    """
    macs = [cost(space.sample(seed + i)).macs for i in range(samples)]
    macs += [cost(space.point(name)).macs for name in space.points()]
    return float(min(macs)), float(max(macs))
