"""Rank correlations for judging cheap estimates against expensive ones: SciPy's, with our input checks.

Spearman's rho and Kendall's tau-b come from :mod:`scipy.stats` (ties averaged, tau-b's
tie correction); these wrappers refuse sequences of unequal length or fewer than two
values, and return NaN without a warning when either sequence is constant (no ranking).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["kendall", "ranks", "spearman"]


def ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (``scipy.stats.rankdata``)."""
    return stats.rankdata(np.asarray(values, dtype=float), method="average")


def _check(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """The two sequences as arrays; ``None`` when either is constant (no ranking to correlate)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"need two equally long sequences of at least 2 values, got {x.shape} and {y.shape}")
    if np.all(x == x[0]) or np.all(y == y[0]):
        return None
    return x, y


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho (``scipy.stats.spearmanr``); NaN if either sequence is constant."""
    pair = _check(a, b)
    return math.nan if pair is None else float(stats.spearmanr(*pair).statistic)


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (``scipy.stats.kendalltau``); NaN if either sequence is constant."""
    pair = _check(a, b)
    if pair is None:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.kendalltau(*pair).statistic)
