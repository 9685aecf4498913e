"""A search space as finite choices, for strategies that choose among values (NNI, the RL controller).

A ``Categorical`` keeps its choices. An ``IntRange`` or stepped ``FloatRange`` with at
most ``max_choices`` values on its grid keeps them all. Anything larger becomes
``levels`` points from ``low`` to ``high`` (evenly, or evenly in log when ``log``),
snapped to the step grid (or rounded to :data:`FLOAT_DIGITS` significant digits for a
float without a step), clamped into the range and deduplicated, in increasing order.
Both ends are levels and every level is a value the distribution ``contains``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from search_spaces.spaces.base import Categorical, Distribution, FloatRange, IntRange

__all__ = ["FLOAT_DIGITS", "LEVELS", "discretize", "enumerates", "nearest"]

#: Default number of levels of a large range.
LEVELS = 16
#: Significant digits of the levels of a float range without a step (readable params in the study).
FLOAT_DIGITS = 4


def _grid_size(dist: IntRange | FloatRange) -> int | None:
    """Values on the step grid (``None`` for a float range without a step)."""
    return None if dist.step is None else math.floor((dist.high - dist.low) / dist.step + 1e-9) + 1


def enumerates(dist: Distribution, max_choices: int) -> bool:
    """Whether :func:`discretize` keeps every value of ``dist`` (choices, or a grid of at most ``max_choices``)."""
    if isinstance(dist, Categorical):
        return True
    count = _grid_size(dist)
    return count is not None and count <= max_choices


def discretize(dist: Distribution, levels: int = LEVELS, max_choices: int | None = None) -> tuple[Any, ...]:
    """The values a strategy chooses among for ``dist`` (see the module docstring).

    Args:
        dist: The distribution.
        levels: Points of a large range (at least 2).
        max_choices: A grid of at most this many values is kept whole (default: ``levels``).
    """
    if isinstance(dist, Categorical):
        return tuple(dist.choices)
    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    low, step = dist.low, dist.step
    count = _grid_size(dist)
    if enumerates(dist, levels if max_choices is None else max_choices):
        return tuple(low + k * step for k in range(count)) if isinstance(dist, FloatRange) else tuple(
            range(low, dist.high + 1, step))
    top = dist.high if step is None else min(dist.high, low + (count - 1) * step)
    if dist.log:
        points = [math.exp(math.log(low) + (math.log(top) - math.log(low)) * i / (levels - 1)) for i in range(levels)]
    else:
        points = [low + (top - low) * i / (levels - 1) for i in range(levels)]
    values: list[Any] = []
    for x in points:
        if step is not None:
            x = low + round((x - low) / step) * step
        elif x != 0:
            x = round(x, FLOAT_DIGITS - 1 - math.floor(math.log10(abs(x))))
        x = min(top, max(low, x))
        if isinstance(dist, FloatRange):
            x = float(x)
        if not values or x > values[-1]:
            values.append(x)
    return tuple(values)


def nearest(values: Sequence[float], x: float, log: bool) -> int:
    """Index of the level nearest to ``x`` (in log when ``log``) among increasing ``values``."""
    i = bisect.bisect_left(values, x)
    candidates = [j for j in (i - 1, i) if 0 <= j < len(values)]
    scale = math.log if log and x > 0 else float
    return min(candidates, key=lambda j: abs(scale(values[j]) - scale(x)))
