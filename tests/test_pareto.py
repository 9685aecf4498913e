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
