"""Design-space comparison by error EDFs (Radosavovic et al. 2020, "Designing Network Design
Spaces", sec. 3.1-3.2; Radosavovic et al. 2019, "On Network Design Spaces for Visual
Recognition", sec. 3-4).

A design space is judged by the distribution of a metric (error, usually) over models
sampled from it, not by its best model:

- sample ``n`` models, optionally inside a complexity band (DDS sec. 3.1 works in the
  400MF regime): :func:`sample_models`;
- the empirical distribution function (DDS eq. 1) ``F(e) = 1/n * sum_i 1[e_i < e]``:
  :func:`edf_at`, and its step curve for plotting: :func:`edf_curve`;
- the *normalized* EDF (the 2019 paper's normalized comparison, which DDS sec. 3 builds on),
  removing the effect of differing complexity distributions: ``F(e) = sum_i w_i 1[e_i < e]``
  with weights making the complexity distribution uniform: the complexity range is cut
  into ``k`` bins and each of the ``m_j`` models in bin ``j`` weighs ``w_j = 1 / (k m_j)``:
  :func:`complexity_weights` (bins shared between the compared spaces:
  :func:`shared_edges`);
- the Kolmogorov-Smirnov statistic ``D = sup_e |F1(e) - F2(e)|``, the 2019 paper's test of
  whether two EDFs differ: :func:`ks_statistic`;
- EDFs of several spaces in one PNG: :func:`plot_edfs`; all of it at once:
  :func:`compare_spaces`.

The metric is any callable ``Network -> float``: an evaluator's error later, the exact cost
(params, MACs) where a cheap deterministic metric is enough.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from search_spaces.files import atomic_write
from search_spaces.genome import Network
from search_spaces.spaces.base import SearchSpace, as_rng

__all__ = [
    "EDF", "compare_spaces", "complexity_weights", "edf_at", "edf_curve", "ks_statistic", "macs", "plot_edfs",
    "sample_models", "shared_edges",
]

Metric = Callable[[Network], float]


def macs(genome: Network) -> float:
    """MACs of ``genome`` at its own resolution (the papers' "flops"), the default complexity."""
    from search_spaces.cost import cost  # late: keeps this module free of torch until used

    return float(cost(genome).macs)


def _checked(values: Sequence[float], weights: Sequence[float] | None) -> tuple[list[float], list[float]]:
    """Validate values and weights; return them as lists with the weights summing to 1."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("an EDF needs at least one value")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"EDF values must be finite numbers, got {values!r}")
    if weights is None:
        return vals, [1.0 / len(vals)] * len(vals)
    ws = [float(w) for w in weights]
    if len(ws) != len(vals):
        raise ValueError(f"got {len(ws)} weights for {len(vals)} values")
    if any(not math.isfinite(w) or w < 0 for w in ws) or sum(ws) <= 0:
        raise ValueError(f"weights must be non-negative, finite and not all zero, got {weights!r}")
    total = sum(ws)
    return vals, [w / total for w in ws]


def edf_at(values: Sequence[float], points: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    """The (weighted) EDF evaluated at ``points`` (DDS eq. 1): ``F(e) = sum_i w_i 1[e_i < e]``.

    Args:
        values: Per-model metric ``e_i`` (e.g. error).
        points: Where to evaluate ``F``.
        weights: Per-model weights (normalised to sum 1); ``None`` is ``1/n`` each (eq. 1).

    Returns:
        ``F(e)`` for each point: the weighted fraction of models with a metric strictly below it.
    """
    vals, ws = _checked(values, weights)
    return [sum(w for v, w in zip(vals, ws) if v < e) for e in points]


def edf_curve(values: Sequence[float], weights: Sequence[float] | None = None) -> tuple[list[float], list[float]]:
    """Step curve of the EDF: distinct sorted values and the weighted fraction at or below each.

    ``ys[k] = F(xs[k]+)``, the value ``F`` takes just after the step at ``xs[k]``; the last is 1.
    """
    vals, ws = _checked(values, weights)
    xs: list[float] = []
    ys: list[float] = []
    acc = 0.0
    for v, w in sorted(zip(vals, ws)):
        acc += w
        if xs and xs[-1] == v:
            ys[-1] = acc
        else:
            xs.append(v)
            ys.append(acc)
    ys[-1] = 1.0  # exact, whatever the float sum of the weights
    return xs, ys


def shared_edges(*complexities: Sequence[float], bins: int = 10, log: bool = False) -> list[float]:
    """``bins + 1`` bin edges spanning the complexities of all the model sets being compared.

    Args:
        complexities: One sequence per model set.
        bins: Number of bins ``k``.
        log: Space the edges evenly in log (complexities spanning orders of magnitude).
    """
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    pooled = [float(c) for cs in complexities for c in cs]
    if not pooled:
        raise ValueError("no complexities to bin")
    if log and min(pooled) <= 0:
        raise ValueError("log-spaced bins need positive complexities")
    low, high = (math.log(min(pooled)), math.log(max(pooled))) if log else (min(pooled), max(pooled))
    edges = [low + (high - low) * i / bins for i in range(bins + 1)]
    return [math.exp(e) for e in edges] if log else edges


def complexity_weights(complexities: Sequence[float], edges: Sequence[float]) -> list[float]:
    """Weights that make a model set's complexity distribution uniform over the bins.

    2019 paper's normalized comparison: a model in bin ``j`` (holding ``m_j`` models) gets ``1 / (k m_j)``, with
    ``k`` the number of non-empty bins so that the weights sum to 1. Bins are half-open
    ``[edges[j], edges[j+1])`` except the last, which includes its upper edge.

    Raises:
        ValueError: if a complexity lies outside ``[edges[0], edges[-1]]``.
    """
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be at least two increasing numbers, got {edges!r}")
    index = []
    for c in complexities:
        if not edges[0] <= c <= edges[-1]:
            raise ValueError(f"complexity {c!r} is outside the bins [{edges[0]!r}, {edges[-1]!r}]")
        index.append(min(bisect.bisect_right(edges, c) - 1, len(edges) - 2))
    if not index:
        raise ValueError("no complexities to weight")
    counts = {j: index.count(j) for j in set(index)}
    return [1.0 / (len(counts) * counts[j]) for j in index]


def ks_statistic(a: Sequence[float], b: Sequence[float], weights_a: Sequence[float] | None = None,
                 weights_b: Sequence[float] | None = None) -> float:
    """Kolmogorov-Smirnov distance ``sup_e |F_a(e) - F_b(e)|`` between two (weighted) EDFs."""
    points = sorted({float(v) for v in (*a, *b)})
    points.append(math.inf)  # F just above the largest value
    fa, fb = edf_at(a, points, weights_a), edf_at(b, points, weights_b)
    return max(abs(x - y) for x, y in zip(fa, fb))


def sample_models(space: SearchSpace, n: int, seed: int | random.Random | None = 0,
                  constraint: Callable[[Network], bool] | None = None, max_tries: int = 1000) -> list[Network]:
    """``n`` seeded samples of ``space``, each satisfying ``constraint`` (e.g. a ``MacsRange`` band).

    Raises:
        InfeasibleError: if a sample needs more than ``max_tries`` draws.
    """
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = as_rng(seed)
    return [space.sample(rng, constraint=constraint, max_tries=max_tries) for _ in range(n)]


@dataclass(frozen=True)
class EDF:
    """One model set's metric distribution.

    Attributes:
        label: Legend name (the space's).
        values: Per-model metric.
        complexities: Per-model complexity (for the normalisation).
        weights: Per-model weights summing to 1 (uniform unless normalised).
        xs: Step curve x (distinct sorted metric values).
        ys: Step curve y (weighted fraction at or below each x).
    """

    label: str
    values: tuple[float, ...]
    complexities: tuple[float, ...]
    weights: tuple[float, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]


def compare_spaces(spaces: Mapping[str, SearchSpace], n: int, metric: Metric, *, seed: int = 0,
                   constraint: Callable[[Network], bool] | None = None, normalize: bool = False,
                   complexity: Metric = macs, bins: int = 10, log_bins: bool = False,
                   path: str | Path | None = None, xlabel: str = "error", max_tries: int = 1000) -> dict[str, EDF]:
    """Sample each space, evaluate ``metric``, and return (and optionally plot) their EDFs.

    Args:
        spaces: Label -> space.
        n: Models per space.
        metric: The per-model value whose distribution is compared (error, params, ...).
        seed: Seed; space ``i`` samples with ``seed + i``.
        constraint: Complexity band every sample must satisfy (e.g. ``MacsRange(360e6, 400e6)``).
        normalize: Weight models so each complexity bin counts equally (bins shared by all spaces).
        complexity: Per-model complexity, recorded and used by the normalisation (MACs by default).
        bins: Number of complexity bins.
        log_bins: Log-spaced bins.
        path: Where to write the PNG; ``None`` draws nothing.
        xlabel: Axis label of the metric.
        max_tries: Draws allowed per sample under ``constraint``.
    """
    models = {label: sample_models(space, n, seed + i, constraint, max_tries)
              for i, (label, space) in enumerate(spaces.items())}
    values = {label: [float(metric(g)) for g in gs] for label, gs in models.items()}
    cx = {label: [float(complexity(g)) for g in gs] for label, gs in models.items()}
    edges = shared_edges(*cx.values(), bins=bins, log=log_bins) if normalize else None
    out: dict[str, EDF] = {}
    for label in models:
        weights = complexity_weights(cx[label], edges) if edges is not None else [1.0 / n] * n
        xs, ys = edf_curve(values[label], weights)
        out[label] = EDF(label, tuple(values[label]), tuple(cx[label]), tuple(weights), tuple(xs), tuple(ys))
    if path is not None:
        title = f"{'normalized ' if normalize else ''}EDF of {xlabel}, n = {n} per space"
        plot_edfs(out.values(), path, xlabel=xlabel, title=title)
    return out


def plot_edfs(edfs: Iterable[EDF] | Mapping[str, EDF], path: str | Path, xlabel: str = "error",
              title: str = "") -> Path:
    """Draw the EDF step curves of several model sets in one PNG (written atomically).

    Args:
        edfs: The curves (an iterable of :class:`EDF`, or a mapping whose values are).
        path: Output file.
        xlabel: Metric label.
        title: Figure title.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg, without touching the global backend
    from matplotlib.figure import Figure

    curves = list(edfs.values()) if isinstance(edfs, Mapping) else list(edfs)
    if not curves:
        raise ValueError("nothing to plot: no EDFs given")
    fig = Figure(figsize=(5, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for curve in curves:
        label = f"{curve.label} (n={len(curve.values)})"
        ax.step([curve.xs[0], *curve.xs], [0.0, *curve.ys], where="post", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cumulative prob.")
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return atomic_write(path, lambda handle: fig.savefig(handle, format="png"))
