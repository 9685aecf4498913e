"""Rank correlations for judging cheap estimates against expensive ones (pure Python + NumPy)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["kendall", "ranks", "spearman"]


def ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    out = np.empty(len(x))
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        out[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return out


def _check(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"need two equally long sequences of at least 2 values, got {x.shape} and {y.shape}")
    return x, y


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho: Pearson correlation of the (tie-averaged) ranks; NaN if either is constant."""
    x, y = _check(a, b)
    rx, ry = ranks(x) - (len(x) + 1) / 2, ranks(y) - (len(y) + 1) / 2
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / denom if denom else math.nan


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either sequence accounted for); NaN if either is constant."""
    x, y = _check(a, b)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(len(x), 1)
    sx, sy = dx[iu], dy[iu]
    concordant_minus_discordant = float((sx * sy).sum())
    denom = math.sqrt(float((sx != 0).sum()) * float((sy != 0).sum()))
    return concordant_minus_discordant / denom if denom else math.nan
