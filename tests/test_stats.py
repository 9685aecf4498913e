"""Rank correlations: known values, ties, constant inputs, and agreement with SciPy."""

from __future__ import annotations

import math
import random

import pytest

from nas.stats import attenuation_ceiling, kendall, mean_reliability, ranks, spearman, spearman_interval


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


def test_spearman_brown_known_values() -> None:
    assert mean_reliability(0.5, 1) == pytest.approx(0.5)
    assert mean_reliability(0.5, 2) == pytest.approx(2 / 3)  # 2 * 0.5 / 1.5
    assert mean_reliability(0.6, 4) == pytest.approx(2.4 / 2.8)
    assert mean_reliability(-0.2, 2) == 0.0 and math.isnan(mean_reliability(math.nan, 2))
    with pytest.raises(ValueError):
        mean_reliability(0.5, 0)


def test_a_perfect_estimate_reaches_the_ceiling_and_no_further() -> None:
    """Simulated: true values plus independent noise per replicate; the true values themselves are the perfect estimate."""
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    true = rng.normal(0, 1.0, 20000)
    first, second = (true + rng.normal(0, 0.8, true.size) for _ in range(2))
    r = float(np.corrcoef(first, second)[0, 1])  # about 1 / (1 + 0.64)
    assert r == pytest.approx(1 / 1.64, abs=0.02)
    assert float(np.corrcoef(true, first)[0, 1]) == pytest.approx(attenuation_ceiling(r), abs=0.01)
    mean = (first + second) / 2
    assert float(np.corrcoef(true, mean)[0, 1]) == pytest.approx(attenuation_ceiling(mean_reliability(r, 2)), abs=0.01)
    assert spearman(true, first) == pytest.approx(attenuation_ceiling(spearman(first, second)), abs=0.02)
    assert math.isnan(attenuation_ceiling(math.nan)) and attenuation_ceiling(-0.1) == 0.0


def test_the_bootstrap_interval_holds_the_estimate_and_narrows_with_more_pairs() -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(1)
    true = rng.normal(size=400)
    noisy = true + rng.normal(size=400)
    small, large = spearman_interval(true[:30], noisy[:30]), spearman_interval(true, noisy)
    assert small[0] <= spearman(true[:30], noisy[:30]) <= small[1]
    assert large[0] <= spearman(true, noisy) <= large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 2  # about sqrt(400 / 30) = 3.7 times narrower
    assert spearman_interval(true[:30], noisy[:30]) == small  # seeded
    assert all(math.isnan(v) for v in spearman_interval([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        spearman_interval([1, 2, 3], [1, 2, 3], level=1.5)
