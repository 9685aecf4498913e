"""Rank correlations: known values, ties, constant inputs, and agreement with SciPy."""

from __future__ import annotations

import math
import random

import pytest

from nas.stats import kendall, ranks, spearman


def test_ranks_average_ties() -> None:
    assert ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_perfect_and_reversed_orders() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)


def test_known_small_case() -> None:
    # one swapped pair out of 6: tau = (5 - 1) / 6; rho = 1 - 6 * 2 / (4 * 15)
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_constant_input_has_no_correlation() -> None:
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(kendall([1, 2, 3], [5, 5, 5]))


def test_bad_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2, 3])


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_scipy_including_ties(seed: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(seed)
    a = [rng.randint(0, 6) for _ in range(25)]
    b = [x + rng.gauss(0, 3) for x in a]
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-12)
    assert kendall(a, b) == pytest.approx(stats.kendalltau(a, b)[0], abs=1e-12)
