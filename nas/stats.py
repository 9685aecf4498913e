"""Rank correlations for judging cheap estimates against expensive ones: SciPy's, with our input checks.

Spearman's rho and Kendall's tau-b come from :mod:`scipy.stats` (ties averaged, tau-b's
tie correction); these wrappers refuse sequences of unequal length or fewer than two
values, and return NaN without a warning when either sequence is constant (no ranking).

A reference measured twice (say, two training seeds) also bounds what any estimate can
reach against it: :func:`mean_reliability` and :func:`attenuation_ceiling` are classical test
theory's rules for that bound.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["attenuation_ceiling", "kendall", "mean_reliability", "ranks", "spearman", "spearman_interval"]


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


def spearman_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95, resamples: int = 2000,
                      seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of Spearman's rho over resampled pairs (Efron & Tibshirani 1993, ch. 13).

    On 30 pairs a rank correlation is uncertain by about +-0.3; the interval says how much a
    figure such as a reference's seed-to-seed agreement can be trusted.

    Args:
        a, b: The paired values.
        level: Coverage of the interval, in (0, 1).
        resamples: Bootstrap resamples (resamples whose rho is undefined, a constant side, are skipped).
        seed: Seed of the resampling.

    Returns:
        ``(low, high)``; NaN for both when no resample has a defined rho.
    """
    pair = _check(a, b)
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"need a level in (0, 1) and resamples >= 1, got {level} and {resamples}")
    if pair is None:
        return math.nan, math.nan
    x, y = pair
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        pick = rng.integers(0, len(x), len(x))
        rho = spearman(x[pick], y[pick])
        if not math.isnan(rho):
            draws.append(rho)
    if not draws:
        return math.nan, math.nan
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def mean_reliability(test_retest: float, replicates: int) -> float:
    """Reliability of the mean of ``replicates`` measurements, from one pair's correlation.

    The Spearman-Brown prophecy formula (Spearman 1910, "Correlation calculated from faulty
    data"; Brown 1910): ``r_k = k r / (1 + (k - 1) r)``, where ``r`` is the correlation between
    two independent measurements of the same things (e.g. two training seeds of each network).

    Args:
        test_retest: Correlation between two replicates, in [-1, 1].
        replicates: How many replicates are averaged (>= 1).

    Returns:
        The averaged measurement's reliability (NaN if ``test_retest`` is NaN); a negative
        ``test_retest`` (no reliable signal) is treated as 0.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    if math.isnan(test_retest):
        return math.nan
    r = max(0.0, test_retest)
    return replicates * r / (1 + (replicates - 1) * r)


def attenuation_ceiling(reliability: float) -> float:
    """The largest correlation any estimate can expect against a noisy reference.

    Spearman's attenuation (Spearman 1904, "The proof and measurement of association between
    two things", eq. for r_pq / sqrt(r_pp r_qq)): an error-free estimate of the reference's
    true values correlates with the measured reference at ``sqrt(reliability)``, where the
    reliability is the correlation between two independent measurements. An estimate whose
    errors are correlated with the reference's own (a shorter run of the same seed, say) can
    exceed it. Applied to rank correlations it is an approximation.

    Args:
        reliability: The reference's reliability, e.g. :func:`mean_reliability` of two seeds'
            correlation.

    Returns:
        ``sqrt`` of the reliability clipped to [0, 1] (NaN if ``reliability`` is NaN).
    """
    return math.nan if math.isnan(reliability) else math.sqrt(max(0.0, min(1.0, reliability)))
