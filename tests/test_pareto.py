"""Two-objective Pareto tools: the hypervolume against a count of unit squares, and the pareto-latency reward."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from nas import rewards
from nas.rewards import Targets, hypervolume, pareto_front


def dominated_unit_squares(points: list[tuple[int, int]], reference: tuple[int, int]) -> int:
    """Unit squares (accuracy up, latency down) dominated by some point and beyond the reference, counted one by one."""
    ref_acc, ref_lat = reference
    count = 0
    for a, lat in itertools.product(range(ref_acc, ref_acc + 40), range(ref_lat - 40, ref_lat)):
        # The square [a, a+1] x [lat, lat+1] is dominated when a point has acc >= a+1 and latency <= lat.
        count += any(pa >= a + 1 and pl <= lat for pa, pl in points)
    return count


@pytest.mark.parametrize("seed", range(20))
def test_hypervolume_equals_the_dominated_area(seed: int) -> None:
    rng = random.Random(seed)
    reference = (0, 40)
    points = [(rng.randint(-5, 39), rng.randint(0, 45)) for _ in range(rng.randint(1, 12))]
    area = hypervolume(points, ("maximize", "minimize"), reference)
    assert area == dominated_unit_squares(points, reference)
    # Only the front matters, and order does not.
    front = [points[i] for i in pareto_front(points, ("maximize", "minimize"))]
    assert hypervolume(front[::-1], ("maximize", "minimize"), reference) == area


def test_hypervolume_ignores_nan_and_points_behind_the_reference() -> None:
    assert hypervolume([(math.nan, 1.0), (-1.0, 0.5), (0.5, 2.0)], ("maximize", "minimize"), (0.0, 1.0)) == 0.0
    assert hypervolume([(1.0, 0.0)], ("maximize", "minimize"), (0.0, 1.0)) == 1.0


def test_hypervolume_refuses_three_objectives() -> None:
    with pytest.raises(ValueError, match="two objectives"):
        hypervolume([(1, 2, 3)], ("maximize", "minimize", "minimize"), (0, 0, 0))


def test_pareto_latency_scores_accuracy_and_latency_alone() -> None:
    reward = rewards.get("pareto-latency")
    targets = Targets(macs=4e8)
    assert reward.directions(targets) == ("maximize", "minimize")
    assert reward.required(targets) == ("accuracy", "latency_ms")
    assert reward.score({"accuracy": 0.9, "latency_ms": 3.0, "macs": 1e9}, targets) == (0.9, 3.0)


def brute_front(points: list[tuple[float, ...]], directions: tuple[str, ...]) -> list[int]:
    signs = [1 if d == "maximize" else -1 for d in directions]
    k = [tuple(s * v for s, v in zip(signs, p)) for p in points]
    return [i for i, a in enumerate(k) if not any(math.isnan(v) for v in a) and not any(
        all(x >= y for x, y in zip(b, a)) and any(x > y for x, y in zip(b, a))
        for j, b in enumerate(k) if j != i and not any(math.isnan(v) for v in b))]


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("directions", [("maximize", "minimize"), ("minimize", "minimize"), ("maximize", "maximize")])
def test_two_objective_front_sweep_equals_the_pairwise_definition(seed: int, directions: tuple[str, str]) -> None:
    rng = random.Random(seed)
    # Few distinct values, so ties and duplicate points are common.
    points = [(float(rng.randint(0, 6)), float(rng.randint(0, 6))) for _ in range(rng.randint(0, 25))]
    if points and seed % 3 == 0:
        points[0] = (math.nan, 1.0)
    assert pareto_front(points, directions) == brute_front(points, directions)


def test_three_objective_front_is_pairwise() -> None:
    points = [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (0.0, 0.0, 5.0), (2.0, 1.0, 1.0)]
    directions = ("maximize", "minimize", "maximize")
    assert pareto_front(points, directions) == brute_front(points, directions) == [1, 2, 3]
