"""Saturating power laws ``error(C) = E + A * C^(-c)``, fitted per strategy, with bootstrap intervals.

The form is the one scaling-law papers fit to error against compute (Hestness et al. 2017;
Rosenfeld et al. 2020, eq. 1; Kaplan et al. 2020 without the floor): ``E`` the error no
amount of compute removes at this training budget, ``A`` the reducible error at ``C = 1`` and
``c`` how fast it goes. ``C`` is measured in units of the base network's MACs, so ``A`` is the
base's reducible error and the fit is well conditioned for any base.

Fitting is by variable projection: for a fixed ``c`` the law is linear in ``E`` and ``A``, so
they have a closed form (clamped to ``E >= 0``, ``A >= 0``); ``c`` is profiled over a log grid
and refined by a bounded scalar search. Strategies can share one floor ``E`` (the data's and
the training budget's floor, not the architecture's): :func:`fit_laws` with ``shared_floor``
then profiles ``E`` as well, and each strategy keeps its own ``A`` and ``c``. With four or five
points a strategy, sharing the floor is what makes an extrapolation stable.

Intervals come from a residual bootstrap (Efron & Tibshirani 1993, sec. 9.5): residuals pooled
over every strategy, rescaled by ``sqrt(n / (n - p))`` for the parameters fitted, added to the
fitted values and refitted ``draws`` times; an interval is the percentile range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = ["C_GRID", "Fit", "PowerLaw", "bootstrap", "fit_laws", "fit_power_law"]

#: Exponents ``c`` profiled before refining: 0.005 to 5 (log spaced).
C_GRID = np.geomspace(0.005, 5.0, 400)


@dataclass(frozen=True)
class PowerLaw:
    """``error(C) = floor + scale * C^(-exponent)``, ``C`` in units of the base's MACs."""

    floor: float
    scale: float
    exponent: float

    def __call__(self, compute: float | np.ndarray) -> float | np.ndarray:
        return self.floor + self.scale * np.power(compute, -self.exponent)


def _profile(x: np.ndarray, y: np.ndarray, cs: np.ndarray, floor: float | None) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """For each ``c`` in ``cs``: the least-squares (E, A) >= 0 and the sum of squared residuals.

    ``floor`` fixes E (a shared floor); otherwise E and A solve the 2x2 normal equations, with
    a negative one clamped to 0 and the other refitted alone.
    """
    z = np.power(x[None, :], -cs[:, None])  # (len(cs), n)
    if floor is not None:
        r = y - floor
        a = np.maximum(0.0, (z * r).sum(1) / np.maximum((z * z).sum(1), 1e-300))
        e = np.full_like(a, floor)
    else:
        n, sz, szz, sy, szy = len(y), z.sum(1), (z * z).sum(1), y.sum(), (z * y).sum(1)
        det = n * szz - sz * sz
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(np.abs(det) > 1e-300, (n * szy - sz * sy) / det, 0.0)
            e = np.where(np.abs(det) > 1e-300, (sy - a * sz) / n, sy / n)
        neg_e = e < 0  # floor at 0: A alone
        a = np.where(neg_e, np.maximum(0.0, szy / np.maximum(szz, 1e-300)), a)
        e = np.where(neg_e, 0.0, e)
        neg_a = a < 0  # no decrease with compute: a flat line at the mean
        e = np.where(neg_a, sy / n, e)
        a = np.where(neg_a, 0.0, a)
    sse = ((e[:, None] + a[:, None] * z - y[None, :]) ** 2).sum(1)
    return e, a, sse


def fit_power_law(compute: Sequence[float], error: Sequence[float], floor: float | None = None) -> tuple[PowerLaw,
                                                                                                        float]:
    """Least-squares ``E + A C^(-c)`` through the points (``floor`` fixes ``E``); returns the law and its SSE.

    Raises:
        ValueError: fewer than two points, a non-positive compute or a non-finite value.
    """
    x, y = np.asarray(compute, float), np.asarray(error, float)
    if len(x) < 2 or len(x) != len(y):
        raise ValueError(f"a power law needs at least two (compute, error) pairs, got {len(x)} and {len(y)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0)):
        raise ValueError("compute must be positive and every value finite")
    e, a, sse = _profile(x, y, C_GRID, floor)
    best = int(np.argmin(sse))
    lo, hi = C_GRID[max(best - 1, 0)], C_GRID[min(best + 1, len(C_GRID) - 1)]

    def objective(c: float) -> float:
        return float(_profile(x, y, np.array([c]), floor)[2][0])

    c = C_GRID[best]
    if hi > lo:
        found = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
        if found.fun <= sse[best]:
            c = float(found.x)
    e1, a1, sse1 = (v[0] for v in _profile(x, y, np.array([c]), floor))
    return PowerLaw(float(e1), float(a1), float(c)), float(sse1)


def fit_laws(points: Mapping[str, tuple[Sequence[float], Sequence[float]]], shared_floor: bool = True
             ) -> dict[str, PowerLaw]:
    """One law per group (strategy), each through its own ``(compute, error)`` points.

    Args:
        points: Group -> (compute, error) sequences.
        shared_floor: One ``E`` for every group (profiled between 0 and the smallest error seen),
            each group with its own ``A`` and ``c``; ``False`` fits each group on its own.
    """
    if not shared_floor:
        return {k: fit_power_law(x, y)[0] for k, (x, y) in points.items()}
    lowest = min(float(np.min(y)) for _, y in points.values())

    def total(floor: float) -> float:
        return sum(fit_power_law(x, y, floor)[1] for x, y in points.values())

    grid = np.linspace(0.0, lowest, 41)[:-1]
    sses = [total(f) for f in grid]
    i = int(np.argmin(sses))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    floor = float(grid[i])
    if hi > lo:
        found = minimize_scalar(total, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
        if found.fun <= sses[i]:
            floor = float(found.x)
    return {k: fit_power_law(x, y, floor)[0] for k, (x, y) in points.items()}


@dataclass(frozen=True)
class Fit:
    """Fitted laws and their bootstrap draws.

    Attributes:
        laws: Group -> the law fitted to the data.
        draws: Group -> the laws refitted to each bootstrap sample.
        shared_floor: Whether the groups share ``E``.
        residual_sd: Pooled residual standard deviation (degrees of freedom corrected).
    """

    laws: dict[str, PowerLaw]
    draws: dict[str, list[PowerLaw]] = field(default_factory=dict)
    shared_floor: bool = True
    residual_sd: float = math.nan

    def predict(self, group: str, compute: float) -> float:
        """The fitted error of ``group`` at ``compute``."""
        return float(self.laws[group](compute))

    def interval(self, group: str, compute: float, level: float = 0.9) -> tuple[float, float]:
        """Percentile interval of the predicted error at ``compute`` over the bootstrap draws."""
        return _percentiles([law(compute) for law in self.draws.get(group, [])], level)

    def parameter_interval(self, group: str, name: str, level: float = 0.9) -> tuple[float, float]:
        """Percentile interval of ``floor``, ``scale`` or ``exponent`` over the draws."""
        return _percentiles([getattr(law, name) for law in self.draws.get(group, [])], level)


def _percentiles(values: Sequence[float], level: float) -> tuple[float, float]:
    """The central ``level`` percentile range of ``values`` (nan, nan when empty)."""
    if not len(values):
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.asarray(values, float), [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(points: Mapping[str, tuple[Sequence[float], Sequence[float]]], shared_floor: bool = True,
              draws: int = 500, seed: int = 0) -> Fit:
    """:func:`fit_laws` and ``draws`` residual-bootstrap refits (see the module docstring)."""
    laws = fit_laws(points, shared_floor)
    residuals, fitted = [], {}
    for k, (x, y) in points.items():
        fitted[k] = np.asarray(laws[k](np.asarray(x, float)), float)
        residuals.extend(np.asarray(y, float) - fitted[k])
    n = len(residuals)
    p = (2 * len(points) + 1) if shared_floor else 3 * len(points)
    res = np.asarray(residuals) * math.sqrt(n / (n - p)) if n > p else np.asarray(residuals)
    sd = float(np.sqrt(np.sum(np.asarray(residuals) ** 2) / (n - p))) if n > p else math.nan
    rng = np.random.default_rng(seed)
    samples: dict[str, list[PowerLaw]] = {k: [] for k in points}
    for _ in range(draws):
        sample = {k: (x, fitted[k] + rng.choice(res, size=len(fitted[k]), replace=True)) for k, (x, _) in points.items()}
        for k, law in fit_laws(sample, shared_floor).items():
            samples[k].append(law)
    return Fit(laws, samples, shared_floor, sd)
