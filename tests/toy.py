"""``toy``: a test-only evaluator whose accuracy is a pure function of the genome's cost.

Searches and grid searches in the tests use it to run real studies in a fraction of a
second. Hooks make candidates fail (NaN) or interrupt (Ctrl-C) on demand.
"""

from __future__ import annotations

import math

import search_spaces as ss
from nas.evaluators import EVALUATORS, Evaluator, Metrics, RunContext

__all__ = ["CALLS", "FAIL_NAMES", "INTERRUPT_AT", "ToyAccuracy"]

CALLS: list[str] = []
FAIL_NAMES: set[str] = set()
INTERRUPT_AT: list[int] = []  # raise KeyboardInterrupt on the n-th toy evaluation (1-based)


class ToyAccuracy(Evaluator):
    """Accuracy rising with params and MACs, saturating; optional failures and interrupts for tests."""

    name = "toy"
    provides = ("accuracy",)

    def run(self, genome: ss.Network, ctx: RunContext) -> Metrics:
        CALLS.append(genome.name)
        if INTERRUPT_AT and len(CALLS) == INTERRUPT_AT[0]:
            raise KeyboardInterrupt
        c = ss.cost(genome)
        if genome.name in FAIL_NAMES:
            return Metrics(accuracy=float("nan"))
        return Metrics(accuracy=0.5 + 0.2 * math.tanh(c.params / 5e6) + 0.2 * math.tanh(c.macs / 4e8))


if "toy" not in EVALUATORS:
    EVALUATORS.register("toy", ToyAccuracy)
