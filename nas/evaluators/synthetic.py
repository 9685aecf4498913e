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

from nas.evaluators.base import Evaluator, Metrics, RunContext
from search_spaces import cost
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

__all__ = ["SyntheticAccuracy", "synthetic_accuracy"]


def synthetic_accuracy(params: float, macs: float) -> float:
    """0.5 plus up to 0.2 each for params (scale 5M) and MACs (scale 400M), through ``tanh``."""
    return 0.5 + 0.2 * math.tanh(params / 5e6) + 0.2 * math.tanh(macs / 4e8)


class SyntheticAccuracy(Evaluator):
    """A deterministic stand-in accuracy that takes ``synthetic_seconds`` (default 0) to compute."""

    name = "synthetic"
    provides = ("accuracy",)

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        seconds = ctx.get("synthetic_seconds", 0.0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
            raise UserInputError(f"synthetic_seconds must be a number of seconds >= 0, got {seconds!r}")
        time.sleep(seconds)
        c = cost(genome)
        return Metrics(accuracy=synthetic_accuracy(c.params, c.macs))
