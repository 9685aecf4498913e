"""Measured cost on this machine: inference latency and training-step time of scaled members.

Dollár et al. (CVPR 2021, sec. 2 and Fig. 2) find that on GPUs a network's runtime follows
its activations far better than its FLOPs, which is why their dWr scaling (activations grow
as ``s^0.6``) runs faster than compound scaling (``s^0.83``) at equal FLOPs. Whether that
holds on a given machine is measured here: every member is built and timed (median of
``repeats`` after ``warmup``), and :func:`r_squared` tells how much of the spread in time a
straight line in MACs, or in activations, explains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nas.evaluators.train_step import StepConfig, time_train_steps
from scaling.laws.growth import fit_line
from nas.latency.measure import LatencyStats, fixed_threads, measure_genome
from search_spaces import cost
from search_spaces.genome import Network

__all__ = ["TIMINGS", "Timing", "r_squared", "time_genome"]


@dataclass(frozen=True)
class Timing:
    """One member's cost and measured times.

    Attributes:
        strategy: The strategy's label.
        s: Its FLOPs multiple.
        name: The genome's name.
        macs: Multiply-accumulates per image.
        activations: Output elements of its convolutions and linear layers per image.
        latency_ms: Median inference time of one image.
        train_step_ms: Median training-step time of a batch (forward, loss, backward, SGD update).
    """

    strategy: str
    s: float
    name: str
    macs: int
    activations: int
    latency_ms: float
    train_step_ms: float


def _latency(genome: Network, batch: int, warmup: int, repeats: int, threads: int | None, device: str) -> float:
    stats: LatencyStats = measure_genome(genome, batch=1, warmup=warmup, repeats=repeats, threads=threads,
                                         device=device)
    return stats.median_ms


def _train_step(genome: Network, batch: int, warmup: int, repeats: int, threads: int | None, device: str) -> float:
    # A training step costs tens of one-image calls: a third of the latency's warm-up steps (at least one).
    config = StepConfig(batch=batch, resolution=genome.resolution, warmup=max(1, warmup // 3), repeats=repeats)
    with fixed_threads(threads):
        return float(np.median(time_train_steps(genome, config, torch.device(device))))


#: What can be timed: name -> function(genome, batch, warmup, repeats, threads, device) -> milliseconds.
TIMINGS: dict[str, Callable[[Network, int, int, int, int | None, str], float]] = {
    "latency": _latency, "train-step": _train_step}


def time_genome(strategy: str, s: float, genome: Network, *, batch: int = 8, warmup: int = 5, repeats: int = 10,
                threads: int | None = None, device: str = "cpu", what: Sequence[str] = tuple(TIMINGS)) -> Timing:
    """Time ``genome``: one-image latency and a ``batch``-image training step (each if named in ``what``)."""
    c = cost(genome)
    times = {k: (TIMINGS[k](genome, batch, warmup, repeats, threads, device) if k in what else math.nan)
             for k in TIMINGS}
    return Timing(strategy, s, genome.name, c.macs, c.activations, times["latency"], times["train-step"])


def r_squared(x: Sequence[float], y: Sequence[float]) -> float:
    """R^2 of the least-squares line ``y = a + b x`` over the finite pairs (nan for fewer than three)."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    return fit_line(xs[keep], ys[keep])[1] if keep.sum() >= 3 else math.nan

