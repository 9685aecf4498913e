"""How each strategy's params, MACs and activations grow with the FLOPs multiple ``s`` (analytic, no torch).

For an ideal network (every layer a repeated block whose cost is ``d w^2 r^2``), a rule of
Dollár et al. (CVPR 2021, "Fast and Accurate Model Scaling", Table 1) grows params as
``s^(e_d + e_w)``, MACs as ``s`` and activations as ``s^(e_d + e_w/2 + e_r)``
(:meth:`scaling.strategies.Exponents.growth`). A real base deviates; :func:`growth` fits the
real log-log exponents over the levels and explains the gap by undoing, one at a time, what
makes a real genome differ from the ideal (:data:`STEPS`, cumulative):

1. ``resolution rounding``: the input size rounds to a multiple of 4 (and a cap stops it):
   MACs and activations are rescaled by ``(nominal / real resolution)^2``;
2. ``depth rounding``: every stage's layer count is ``ceil``-ed (a one-layer stage doubles
   at any depth factor above 1): each stage's surplus ``n - d * n0`` blocks are taken out at
   the cost of one repeated block (measured as the cost of adding one);
3. ``stem and head``: they grow with width and resolution, never with depth: dropped;
4. ``first blocks``: a stage's first block (stride, new width) is not one of its repeats and
   does not multiply with depth: every block is counted as a repeat.

What is left between the last step and the analytic exponent is channel rounding (to multiples
of 8, with the 90% guard that rounds 17.9 channels up to 24), feature-map sizes (a stride-2
layer outputs ``ceil(r / 2)``) and the layer mix (a depthwise convolution's MACs and params
grow as ``w``, not ``w^2``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from scaling.strategies import Rule, ScalingStrategy
from search_spaces import cost
from search_spaces.cost import cost_parts
from search_spaces.errors import GenomeError, ParameterError
from search_spaces.genome import Network
from search_spaces.layers import Cost

__all__ = ["LEVELS", "METRICS", "STEPS", "Growth", "LevelMember", "fit_exponent", "fit_line", "growth", "ideal_costs",
           "members"]

#: FLOPs multiples the analysis builds, as the issue of Dollár et al.'s plots (2x to 32x).
LEVELS = (2.0, 4.0, 8.0, 16.0, 32.0)
#: What grows.
METRICS = ("params", "macs", "activations")
#: The cumulative corrections, in order (see the module docstring).
STEPS = ("real", "resolution rounding", "depth rounding", "stem and head", "first blocks")


@dataclass(frozen=True)
class LevelMember:
    """A strategy's genome at one FLOPs multiple, or why there is none.

    Attributes:
        strategy: The strategy's label.
        s: The FLOPs multiple.
        genome: The member, ``None`` when the vocabulary cannot hold it.
        cost: Its exact cost.
        problem: Why there is no member (empty otherwise).
    """

    strategy: str
    s: float
    genome: Network | None
    cost: Cost | None = None
    problem: str = ""


def members(base: Network, strategies: Sequence[ScalingStrategy], levels: Sequence[float] = LEVELS) -> list[LevelMember]:
    """Every strategy's member at every level (nominal ``s``, as the analytic exponents assume)."""
    rows = []
    for strategy in strategies:
        for s in levels:
            try:
                genome = strategy.scale(base, s)
                rows.append(LevelMember(strategy.label, s, genome, cost(genome)))
            except (GenomeError, ParameterError) as err:
                rows.append(LevelMember(strategy.label, s, None, problem=str(err)))
    return rows


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and the line's R^2 (nan for fewer than two distinct ``x``)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    return float(slope), (1.0 - float(np.sum(residual ** 2)) / total) if total > 0 else 1.0


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope of ``log y`` on ``log x`` and its R^2 (nan for fewer than two points)."""
    return fit_line(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)))


def ideal_costs(base: Network, strategy: Rule, s: float, genome: Network) -> dict[str, tuple[float, float, float]]:
    """(params, MACs, activations) of ``genome`` (``strategy`` at ``s``) after each of :data:`STEPS`, cumulatively."""
    depth_mult, _, resolution_mult = strategy.split.multipliers(s)
    nominal = base.resolution * resolution_mult
    if strategy.max_resolution is not None:
        nominal = min(nominal, max(strategy.max_resolution, base.resolution))
    area = (nominal / genome.resolution) ** 2
    parts = cost_parts(genome)
    # One block per stage, then one stage at two: a stage's first block and one repeat (every later block
    # costs what the second does), without writing out stages deeper than a genome may hold.
    single = replace(genome, depth_mult=1.0, stages=tuple(replace(st, depth=1) for st in genome.stages))
    firsts = cost_parts(single).stages
    exact_depths = [st.depth * genome.depth_mult for st in genome.stages]
    extra = body = ideal_body = np.zeros(3)
    for i, (exact, real, first) in enumerate(zip(exact_depths, genome.depths(), firsts)):
        two = replace(single, stages=single.stages[:i] + (replace(single.stages[i], depth=2),) + single.stages[i + 1:])
        one = _vec(cost_parts(two).stages[i]) - _vec(first)
        extra = extra + one * (real - exact)
        body = body + _vec(parts.stages[i])
        ideal_body = ideal_body + one * exact
    total = _vec(parts.stem + parts.head) + body
    scale = np.array([1.0, area, area])
    steps = {"real": total, "resolution rounding": total * scale, "depth rounding": (total - extra) * scale,
             "stem and head": (body - extra) * scale, "first blocks": ideal_body * scale}
    return {k: tuple(float(x) for x in v) for k, v in steps.items()}


def _vec(c: Cost) -> np.ndarray:
    return np.array([c.params, c.macs, c.activations], dtype=float)


@dataclass(frozen=True)
class Growth:
    """One strategy's growth exponents.

    Attributes:
        strategy: Its label.
        analytic: Ideal exponents per metric (``None`` for a rule without Dollár's form).
        real: Fitted exponents of the real members per metric.
        steps: Exponents per metric after each of :data:`STEPS` (``real`` first); empty without ``analytic``.
        missing: ``s -> why`` for levels without one.
    """

    strategy: str
    analytic: dict[str, float] | None
    real: dict[str, float]
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    missing: dict[float, str] = field(default_factory=dict)

    def causes(self, metric: str) -> list[tuple[str, float]]:
        """How much each step moved the exponent of ``metric`` toward the analytic one, and the remainder
        (``channel rounding and layer mix``), largest first."""
        if not self.steps or self.analytic is None:
            return []
        values = [self.steps[step][metric] for step in STEPS]
        moves = [(STEPS[i], values[i] - values[i - 1]) for i in range(1, len(STEPS))]
        moves.append(("channel rounding, map sizes, layer mix", self.analytic[metric] - values[-1]))
        return sorted(moves, key=lambda m: -abs(m[1]))


def growth(base: Network, strategies: Sequence[ScalingStrategy], levels: Sequence[float] = LEVELS,
           rows: Sequence[LevelMember] | None = None) -> list[Growth]:
    """Fit every strategy's exponents over ``levels`` (members from :func:`members` unless given)."""
    rows = list(rows) if rows is not None else members(base, strategies, levels)
    result = []
    for strategy in strategies:
        mine = [r for r in rows if r.strategy == strategy.label]
        built = [r for r in mine if r.genome is not None and r.cost is not None]
        xs = [r.s for r in built]
        real = {m: fit_exponent(xs, [getattr(r.cost, m) for r in built])[0] for m in METRICS}
        exps = strategy.exponents()
        steps: dict[str, dict[str, float]] = {}
        if exps is not None and isinstance(strategy, Rule) and len(built) >= 2:
            ideal = [ideal_costs(base, strategy, r.s, r.genome) for r in built]
            for step in STEPS:
                steps[step] = {m: fit_exponent(xs, [v[step][i] for v in ideal])[0] for i, m in enumerate(METRICS)}
        result.append(Growth(strategy.label, exps.growth() if exps else None, real, steps,
                             {r.s: r.problem for r in mine if r.genome is None}))
    return result
