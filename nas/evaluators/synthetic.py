"""``synthetic``: a made-up accuracy at a fixed cost, for dry runs of a search set-up and storage benchmarks.

No training and no data: the "accuracy" is a smooth, saturating function of the genome's
exact params and MACs (bigger networks score higher, with diminishing returns), after the
evaluator has waited ``synthetic_seconds`` (``--set synthetic_seconds=2``) as a real
evaluation would. It exercises everything of a search except learning: many workers on
one storage, heartbeats, crash recovery, the duplicate cache, outputs. Never use its
numbers as results.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.settings import knob
from search_spaces import cost
from search_spaces.genome import Network

__all__ = ["SyntheticAccuracy", "SyntheticSettings", "synthetic_accuracy"]


@dataclass(frozen=True)
class SyntheticSettings:
    """Knobs of the ``synthetic`` evaluator."""

    synthetic_seconds: float = knob(0.0, "seconds each evaluation waits, as a real one would", low=0.0,
                                    high=86_400.0)


def synthetic_accuracy(params: float, macs: float) -> float:
    """0.5 plus up to 0.2 each for params (scale 5M) and MACs (scale 400M), through ``tanh``."""
    return 0.5 + 0.2 * math.tanh(params / 5e6) + 0.2 * math.tanh(macs / 4e8)


class SyntheticAccuracy(Evaluator):
    """A deterministic stand-in accuracy that takes ``synthetic_seconds`` (default 0) to compute."""

    name = "synthetic"
    provides = ("accuracy",)
    settings = SyntheticSettings

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        time.sleep(ctx.settings(SyntheticSettings).synthetic_seconds)
        c = cost(genome)
        return Metrics(accuracy=synthetic_accuracy(c.params, c.macs))
