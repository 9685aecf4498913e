"""Search rewards: pure functions of a candidate's metrics and the user's targets, each from its paper.

Every single-objective reward here is accuracy times a product of MnasNet-style factors
``(x / T) ** w`` (Tan et al. 2019, "MnasNet", eq. 2):

- ``mnas``: ``ACC * (LAT / T) ** w`` with ``w = alpha`` if ``LAT <= T`` else ``beta``;
  soft constraint ``alpha = beta = -0.07``, hard ``alpha = 0, beta = -1`` (sec. 3).
- ``flops``: EfficientNet's ``ACC * (FLOPS / T) ** w`` with ``w = -0.07`` and ``T`` the
  MACs target (Tan & Le 2019, "EfficientNet", sec. 4; FLOPS there are our MACs).
- ``v2``: EfficientNetV2's training-aware ``A * S ** w * P ** v`` with ``w = -0.07``,
  ``v = -0.05`` (Tan & Le 2021, sec. 3.3); ``S`` is the normalised training step time
  (``train_step_ratio``: ours / the reference network's) and ``P`` the parameter count in
  millions (any unit gives the same ranking: it only scales the reward).
- ``pareto``: multi-objective, accuracy up and MACs (and latency, when a latency target
  is given) down; the strategy returns the Pareto front. ``pareto-latency``: accuracy up
  and latency down, two objectives (MACs left out), e.g. against a benchmark table's latency.
- ``flops-hard``: the same with MnasNet's hard constraint (``w = 0`` within the budget,
  ``-1`` above): the most accurate network within the MACs budget, size otherwise free.
- ``accuracy``: the accuracy alone, for spaces whose networks cost about the same, or whose
  cost the user constrains with targets (the hard constraint below): NAS-Bench-201's cells, found
  by the accuracy its table gives them (Dong & Yang 2020, sec. 5).
- ``zero-cost``: the ``flops`` form with NASWOT's training-free score in place of accuracy
  (Mellor et al. 2021, "Neural Architecture Search without Training": log-determinant of
  the activation-pattern kernel, larger is better), for quick searches and scaling grids
  with the ``zero-cost`` evaluator. Its ranking is only as good as the proxy's: see
  docs/BENCHMARKS.md ("Evaluator fidelity") before trusting it.

A target the reward does not already score becomes a *hard constraint* factor (MnasNet's
``alpha = 0, beta = -1``): ``v2`` with ``--budget 400M`` is ``A * S^w * P^v`` times
``(MACs / 400M) ** -1`` above 400M MACs and times 1 at or below it, so the search keeps to
the budget the user asked for. ``pareto`` ignores targets (the front shows every trade-off).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from search_spaces.errors import UserInputError
from search_spaces.registry import Registry

__all__ = [
    "REWARDS", "AccuracyReward", "FlopsReward", "MnasReward", "ParetoLatencyReward", "ParetoReward", "Reward",
    "Targets", "V2Reward", "constraint_factor", "get", "hypervolume", "mnas_factor", "names", "pareto_front",
]

SOFT_W = -0.07  # MnasNet's soft exponent, also EfficientNet's and EfficientNetV2's w
V2_V = -0.05  # EfficientNetV2's parameter exponent


@dataclass(frozen=True)
class Targets:
    """What the user asked for: a MACs budget and/or a latency target (``None``: none)."""

    macs: float | None = None
    latency_ms: float | None = None


def mnas_factor(value: float, target: float, alpha: float, beta: float) -> float:
    """MnasNet eq. 2's factor ``(value / target) ** w``, ``w = alpha`` if ``value <= target`` else ``beta``."""
    return (value / target) ** (alpha if value <= target else beta)


def constraint_factor(value: float, target: float) -> float:
    """MnasNet's hard constraint (sec. 3, ``alpha = 0, beta = -1``): 1 within ``target``, ``target / value`` above."""
    return mnas_factor(value, target, 0.0, -1.0)


class Reward(ABC):
    """A named reward.

    Attributes:
        name: Registry name.
        summary: One line for ``--help``.
        needs: Metric names the reward reads (``accuracy``, ``latency_ms``, ``macs``,
            ``params``, ``train_step_ratio``) before target-specific ones.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ("accuracy",)
    #: Target metrics the reward's own term already scores (so no hard constraint is added for them).
    scored: ClassVar[tuple[str, ...]] = ()

    def required(self, targets: Targets) -> tuple[str, ...]:
        """Every metric this reward needs under ``targets`` (its own plus the constraints')."""
        extra = [m for m, t in (("macs", targets.macs), ("latency_ms", targets.latency_ms)) if t is not None]
        return tuple(dict.fromkeys((*self.needs, *extra)))

    def directions(self, targets: Targets) -> tuple[str, ...]:
        """Optuna directions of the values :meth:`score` returns."""
        return ("maximize",)

    def objective_names(self, targets: Targets) -> tuple[str, ...]:
        """Names of the values :meth:`score` returns (column names in outputs)."""
        return ("reward",)

    def score(self, metrics: dict[str, float], targets: Targets) -> tuple[float, ...]:
        """The reward of one candidate: its own term times the hard constraints of targets it does not score."""
        value = self.base(metrics, targets)
        for metric, target in (("macs", targets.macs), ("latency_ms", targets.latency_ms)):
            if target is not None and metric not in self.scored:
                value *= constraint_factor(metrics[metric], target)
        return (value,)

    @abstractmethod
    def base(self, metrics: dict[str, float], targets: Targets) -> float:
        """The paper's reward term."""

    def check(self, targets: Targets) -> None:
        """Raise :class:`UserInputError` if the reward cannot work with ``targets``."""


class MnasReward(Reward):
    """MnasNet ``ACC * (LAT / T) ** w`` (eq. 2), soft or hard."""

    needs = ("accuracy", "latency_ms")
    scored = ("latency_ms",)

    def __init__(self, alpha: float = SOFT_W, beta: float = SOFT_W) -> None:
        self.alpha, self.beta = alpha, beta

    def check(self, targets: Targets) -> None:
        if targets.latency_ms is None:
            raise UserInputError(f"reward {self.name!r} needs a latency target: give --latency-ms")

    def base(self, metrics: dict[str, float], targets: Targets) -> float:
        assert targets.latency_ms is not None
        return metrics["accuracy"] * mnas_factor(metrics["latency_ms"], targets.latency_ms, self.alpha, self.beta)


class MnasSoft(MnasReward):
    summary = "MnasNet ACC*(LAT/T)^w, soft: w = -0.07 (Tan et al. 2019, eq. 2); needs --latency-ms"
    name = "mnas"


class MnasHard(MnasReward):
    summary = "MnasNet hard constraint: w = 0 within --latency-ms, -1 above"
    name = "mnas-hard"

    def __init__(self) -> None:
        super().__init__(0.0, -1.0)


class AccuracyReward(Reward):
    """The accuracy alone (times the hard constraint of any target)."""

    name = "accuracy"
    summary = "the accuracy alone (targets as hard constraints); the nb201 space's default"

    def base(self, metrics: dict[str, float], targets: Targets) -> float:
        return metrics["accuracy"]


class FlopsReward(Reward):
    """EfficientNet's ``ACC * (FLOPS / T) ** w``, ``w = -0.07``, ``T`` the MACs budget."""

    name = "flops"
    summary = "EfficientNet ACC*(MACs/T)^-0.07 with T = --budget (Tan & Le 2019, sec. 4)"
    needs = ("accuracy", "macs")
    scored = ("macs",)
    #: The metric the MACs factor multiplies (accuracy; a training-free score for ``zero-cost``).
    quality: ClassVar[str] = "accuracy"

    def check(self, targets: Targets) -> None:
        if targets.macs is None:
            raise UserInputError(f"reward {self.name!r} needs a MACs target: give --budget")

    def base(self, metrics: dict[str, float], targets: Targets) -> float:
        assert targets.macs is not None
        return metrics[self.quality] * (metrics["macs"] / targets.macs) ** SOFT_W


class FlopsHardReward(FlopsReward):
    """``ACC * (FLOPS / T) ** w`` with MnasNet's hard constraint: ``w = 0`` within ``T``, ``-1`` above."""

    name = "flops-hard"
    summary = "accuracy within --budget MACs, ACC*(MACs/T)^-1 above it (MnasNet's hard constraint on MACs)"

    def base(self, metrics: dict[str, float], targets: Targets) -> float:
        assert targets.macs is not None
        return metrics[self.quality] * constraint_factor(metrics["macs"], targets.macs)


class ZeroCostReward(FlopsReward):
    """``NASWOT * (FLOPS / T) ** w``, ``w = -0.07``: EfficientNet's form on a training-free score."""

    name = "zero-cost"
    summary = "NASWOT score*(MACs/T)^-0.07 (Mellor et al. 2021), training-free; use with --evaluator zero-cost"
    needs = ("zc_naswot", "macs")
    quality = "zc_naswot"


class V2Reward(Reward):
    """EfficientNetV2's training-aware ``A * S ** w * P ** v`` (w = -0.07, v = -0.05)."""

    name = "v2"
    summary = ("EfficientNetV2 training-aware A*S^-0.07*P^-0.05 (Tan & Le 2021, sec. 3.3), "
               "targets as hard constraints")
    needs = ("accuracy", "train_step_ratio", "params")

    def base(self, metrics: dict[str, float], targets: Targets) -> float:
        return metrics["accuracy"] * metrics["train_step_ratio"] ** SOFT_W * (metrics["params"] / 1e6) ** V2_V


class ParetoReward(Reward):
    """Multi-objective: accuracy up; MACs down; latency down too when a latency target is given.

    The objectives are the metrics named by :meth:`objective_names`; accuracy is maximised, every
    other objective (a cost) minimised, and the reward needs exactly them.
    """

    name = "pareto"
    summary = "multi-objective: accuracy up, MACs (and latency with --latency-ms) down; writes pareto.yaml"
    needs = ("accuracy", "macs")

    def objective_names(self, targets: Targets) -> tuple[str, ...]:
        return self.needs + (("latency_ms",) if targets.latency_ms is not None else ())

    def required(self, targets: Targets) -> tuple[str, ...]:
        return self.objective_names(targets)

    def directions(self, targets: Targets) -> tuple[str, ...]:
        return tuple("maximize" if n == "accuracy" else "minimize" for n in self.objective_names(targets))

    def score(self, metrics: dict[str, float], targets: Targets) -> tuple[float, ...]:
        return tuple(float(metrics[name]) for name in self.objective_names(targets))

    def base(self, metrics: dict[str, float], targets: Targets) -> float:  # pragma: no cover - score overrides
        raise NotImplementedError


class ParetoLatencyReward(ParetoReward):
    """Multi-objective on two axes: accuracy up, latency down (MACs not an objective, a latency target ignored)."""

    name = "pareto-latency"
    summary = ("multi-objective: accuracy up, latency down (two objectives; the latency of the evaluator, e.g. "
               "latency-lut's prediction or a benchmark table's); writes pareto.yaml")
    needs = ("accuracy", "latency_ms")

    def objective_names(self, targets: Targets) -> tuple[str, ...]:
        return self.needs


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of the non-dominated points (a point dominates another if no worse in every objective, better in one).

    Points with a NaN are never on the front. Two objectives take a sort and one sweep
    (O(n log n): the 15,625 cells of a benchmark table in milliseconds); more take the
    pairwise check.
    """
    keyed = _maximised(points, directions)
    if len(directions) == 2:
        return _front_2d(keyed)
    return [i for i, a in keyed.items()
            if not any(all(x >= y for x, y in zip(b, a)) and any(x > y for x, y in zip(b, a))
                       for j, b in keyed.items() if j != i)]


def _maximised(points: Sequence[Sequence[float]], directions: Sequence[str]) -> dict[int, tuple[float, ...]]:
    """Index -> the point with minimised objectives negated (so larger is better everywhere); NaN points left out."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]
    keyed = {i: tuple(s * v for s, v in zip(signs, p)) for i, p in enumerate(points)}
    return {i: k for i, k in keyed.items() if not any(math.isnan(v) for v in k)}


def _front_2d(keyed: dict[int, tuple[float, ...]]) -> list[int]:
    """The front of two maximised objectives: a point is dominated by an earlier one of the sweep (larger first
    objective) with a second objective at least as large, or by one of equal first and larger second objective."""
    order = sorted(keyed, key=lambda i: keyed[i], reverse=True)
    front, best_before = [], -math.inf
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and keyed[order[end]][0] == keyed[order[start]][0]:
            end += 1
        group_best = keyed[order[start]][1]  # sorted: the group's largest second objective comes first
        front += [i for i in order[start:end] if keyed[i][1] > best_before and keyed[i][1] == group_best]
        best_before = max(best_before, group_best)
        start = end
    return sorted(front)


def hypervolume(points: Sequence[Sequence[float]], directions: Sequence[str], reference: Sequence[float]) -> float:
    """The area that two-objective ``points`` dominate, bounded by the ``reference`` point.

    The hypervolume indicator of Zitzler & Thiele 1998 in two dimensions: the union of the
    rectangles between each point and ``reference``, computed exactly by sweeping the points
    in order of the first objective. Points not strictly better than ``reference`` in both
    objectives add nothing; NaN points are ignored.

    Raises:
        ValueError: not exactly two objectives.
    """
    if len(directions) != 2 or len(reference) != 2:
        raise ValueError(f"hypervolume is implemented for two objectives, got {len(directions)}")
    ref = _maximised([reference], directions)[0]
    # As maximisation of both, swept by the first objective, best first.
    pts = sorted(_maximised(points, directions).values(), reverse=True)
    area, best_second = 0.0, ref[1]
    for first, second in pts:
        if first <= ref[0] or second <= best_second:
            continue
        area += (first - ref[0]) * (second - best_second)
        best_second = second
    return area


REWARDS: Registry[type[Reward]] = Registry("reward")
for _cls in (MnasSoft, MnasHard, AccuracyReward, FlopsReward, FlopsHardReward, V2Reward, ParetoReward,
             ParetoLatencyReward, ZeroCostReward):
    REWARDS.register(_cls.name, _cls)


def names() -> list[str]:
    """Registered reward names, sorted."""
    return REWARDS.names()


def get(name: str, **options: Any) -> Reward:
    """A fresh reward ``name``; unknown names raise with close suggestions."""
    return REWARDS.get(name)(**options)
