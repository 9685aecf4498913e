"""A small learned correction on top of the per-block table sum, fitted on measured whole models.

A block timed in isolation runs again and again on the same weights and input, which stay
in the CPU caches; inside a whole network they have been evicted by the blocks before.
Inside a network small blocks take longer than in isolation and the largest,
activation-bound ones about as long, so the plain sum of block times undershoots whole
networks (measured in docs/BENCHMARKS.md, "Latency predictor vs measurement"). The
correction is a linear model

    predicted = w0 + w1 * table_sum + w2 * MACs + w3 * params + w4 * activations + w5 * blocks

fitted by ridge-regularised least squares on *relative* error (each row divided by its
measured time, so a 10 ms and a 100 ms network count alike), with NumPy only. Features are
standardised, the penalty is relative to the mean diagonal of the normal equations (so it
does not depend on the unit of time), and the intercept is not penalised.

Honest accounting: :func:`fit_correction` reports its fit on the fitting models and a
k-fold cross-validated estimate; the held-out evaluation in
``benchmarks/latency_predictor.py`` uses models never seen by the fit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nas.latency.lut import LatencyTable
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.resolve import ResolvedNet

__all__ = ["FEATURES", "Accuracy", "Correction", "LatencyPredictor", "accuracy", "features", "fit_correction"]

#: Names of the correction's inputs, in order (MACs and activations per call, i.e. times the table's batch).
FEATURES = ("table_ms", "macs_g", "params_m", "activations_m", "blocks")


def features(table: LatencyTable, genome: Network | ResolvedNet, resolution: int | None = None, *,
             missing: str | None = None) -> tuple[float, ...]:
    """The correction's inputs for one genome (see :data:`FEATURES`)."""
    total = table.predict(genome, resolution, missing=missing)
    prof = table.profile(genome, resolution)
    c = prof.cost
    return (total, c.macs * table.batch / 1e9, c.params / 1e6, c.activations * table.batch / 1e6, float(prof.blocks))


@dataclass(frozen=True)
class Accuracy:
    """How close predictions are to measurements.

    Attributes:
        n: Models compared.
        within_10: Share of models predicted within +-10% of measured.
        within_5: Share within +-5%.
        mean_abs_pct: Mean absolute relative error, percent.
        max_abs_pct: Largest absolute relative error, percent.
        mean_pct: Mean signed relative error, percent (negative: undershoots).
    """

    n: int
    within_10: float
    within_5: float
    mean_abs_pct: float
    max_abs_pct: float
    mean_pct: float


def accuracy(predicted: Sequence[float], measured: Sequence[float]) -> Accuracy:
    """Compare predictions with measurements (relative error = predicted / measured - 1)."""
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    if p.shape != m.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"need two equally long non-empty sequences, got {p.shape} and {m.shape}")
    rel = p / m - 1.0
    err = np.abs(rel)
    return Accuracy(len(p), float(np.mean(err <= 0.10)), float(np.mean(err <= 0.05)), float(100 * err.mean()),
                    float(100 * err.max()), float(100 * rel.mean()))


@dataclass(frozen=True)
class Correction:
    """A fitted linear correction: ``intercept + sum(weights * features)`` milliseconds.

    Attributes:
        weights: One per :data:`FEATURES` name, in raw (unstandardised) units.
        intercept: Milliseconds.
        ridge: The penalty it was fitted with.
        train: Accuracy on the fitting models.
        cross_validated: k-fold cross-validated accuracy on the fitting models (``None`` if too few).
        features: The feature names (stored so a file from another version is refused, not misread).
    """

    weights: tuple[float, ...]
    intercept: float
    ridge: float
    train: Accuracy
    cross_validated: Accuracy | None
    features: tuple[str, ...] = FEATURES

    def apply(self, x: Sequence[float]) -> float:
        """Corrected milliseconds for one feature vector."""
        return self.intercept + sum(w * v for w, v in zip(self.weights, x))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Correction:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` for another feature set."""
        names = tuple(data["features"])
        if names != FEATURES:
            raise ValueError(f"correction uses features {names}, this version expects {FEATURES}")
        cv = data.get("cross_validated")
        return cls(tuple(float(w) for w in data["weights"]), float(data["intercept"]), float(data["ridge"]),
                   Accuracy(**data["train"]), Accuracy(**cv) if cv else None, names)


def _solve(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Ridge least squares on relative error; returns raw weights and intercept.

    A feature constant over the fitting models (every model has 5 blocks, say) carries no
    information there: it gets weight 0 instead of making the system singular.
    """
    mean, std = x.mean(axis=0), x.std(axis=0)
    used = std > 1e-12 * np.maximum(1.0, np.abs(mean))
    z = np.hstack([(x[:, used] - mean[used]) / std[used], np.ones((len(x), 1))])
    a = z / y[:, None]  # minimise sum(((z @ w) - y) / y) ** 2)
    gram = a.T @ a
    # Relative to the data's own scale (rows are divided by milliseconds), so ``ridge`` means the same at any speed.
    scale = float(np.mean(np.diag(gram)[:-1])) if used.any() else 0.0
    penalty = ridge * scale * np.diag([1.0] * int(used.sum()) + [0.0])
    w = np.linalg.lstsq(gram + penalty, a.T @ np.ones(len(x)), rcond=None)[0]
    weights = np.zeros(x.shape[1])
    weights[used] = w[:-1] / std[used]
    return weights, float(w[-1] - weights @ mean)


def fit_correction(x: Sequence[Sequence[float]], measured_ms: Sequence[float], *, ridge: float = 1e-3,
                   folds: int = 5, seed: int = 0) -> Correction:
    """Fit the correction on feature rows ``x`` (from :func:`features`) and measured milliseconds.

    Args:
        x: One feature row per fitting model.
        measured_ms: Their measured latencies.
        ridge: Penalty on the standardised weights, relative to the data's scale (see the module docstring).
        folds: k of the cross-validation estimate (skipped when fewer than ``2 * folds`` models).
        seed: Seed of the fold assignment.

    Raises:
        UserInputError: with fewer models than features + 2, or non-positive measurements.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(measured_ms, dtype=float)
    if xs.ndim != 2 or xs.shape[1] != len(FEATURES) or len(xs) != len(ys):
        raise ValueError(f"need rows of {len(FEATURES)} features, one per measurement; got {xs.shape}, {ys.shape}")
    if len(ys) < len(FEATURES) + 2:
        raise UserInputError(f"fitting the latency correction needs at least {len(FEATURES) + 2} measured models, "
                             f"got {len(ys)}")
    if not np.all(np.isfinite(ys)) or np.any(ys <= 0):
        raise UserInputError("measured latencies for the correction must be positive and finite")
    weights, intercept = _solve(xs, ys, ridge)
    train = accuracy(xs @ weights + intercept, ys)
    cross = None
    if len(ys) >= 2 * folds:
        order = np.random.default_rng(seed).permutation(len(ys))
        pred = np.empty(len(ys))
        for k in range(folds):
            test = order[k::folds]
            keep = np.setdiff1d(order, test)
            w, b = _solve(xs[keep], ys[keep], ridge)
            pred[test] = xs[test] @ w + b
        cross = accuracy(pred, ys)
    return Correction(tuple(float(w) for w in weights), intercept, ridge, train, cross)


class LatencyPredictor:
    """Table sum, optionally corrected: the latency predictor that answers in microseconds.

    Args:
        table: A filled (or to-be-filled) :class:`LatencyTable`.
        correction: A fitted :class:`Correction`; ``None`` predicts the plain table sum.
    """

    def __init__(self, table: LatencyTable, correction: Correction | None = None) -> None:
        self.table = table
        self.correction = correction

    def table_sum(self, genome: Network | ResolvedNet, resolution: int | None = None, *,
                  missing: str | None = None) -> float:
        """Plain sum of the table's stem, block and head entries (the uncorrected baseline)."""
        return self.table.predict(genome, resolution, missing=missing)

    def predict(self, genome: Network | ResolvedNet, resolution: int | None = None, *,
                missing: str | None = None) -> float:
        """Predicted milliseconds at the table's batch: corrected when a correction is fitted.

        A linear correction extrapolating far outside its fitting models could go wrong
        badly, even negative; the prediction is kept at least half the table sum, so it is
        always positive.
        """
        if self.correction is None:
            return self.table_sum(genome, resolution, missing=missing)
        x = features(self.table, genome, resolution, missing=missing)
        return max(self.correction.apply(x), 0.5 * x[0])

    def fit(self, genomes: Sequence[Network | ResolvedNet], measured_ms: Sequence[float], *,
            resolution: int | None = None, ridge: float = 1e-3, missing: str | None = "measure") -> Correction:
        """Fit (and keep) the correction on measured whole models; their parts are measured first if missing."""
        if len(genomes) != len(measured_ms):
            raise ValueError(f"{len(genomes)} genomes but {len(measured_ms)} measurements")
        rows = [features(self.table, g, resolution, missing=missing) for g in genomes]
        self.correction = fit_correction(rows, measured_ms, ridge=ridge)
        return self.correction

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the table and the correction into one JSON file, atomically."""
        if self.correction is None:
            self.table.extras.pop("correction", None)
        else:
            self.table.extras["correction"] = self.correction.to_dict()
        self.table.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, allow_other_device: bool = False,
             on_missing: str = "raise") -> LatencyPredictor:
        """Read a file written by :meth:`save` (or a bare table: then no correction); see :meth:`LatencyTable.load`."""
        table = LatencyTable.load(path, allow_other_device=allow_other_device, on_missing=on_missing)
        data = table.extras.get("correction")
        correction = None
        if data is not None:
            try:
                correction = Correction.from_dict(data)
            except (KeyError, TypeError, ValueError) as err:
                raise UserInputError(f"{path}: latency correction is unusable ({err})") from None
        if correction is not None and not all(math.isfinite(w) for w in correction.weights):
            raise UserInputError(f"{path}: latency correction has non-finite weights")
        return cls(table, correction)
