"""``toy``: a test-only evaluator whose accuracy is a pure function of the genome's cost.

Searches and grid searches in the tests use it to run real studies in a fraction of a
second. Hooks make candidates fail (NaN) or interrupt (Ctrl-C) on demand.
"""

from __future__ import annotations

import search_spaces as ss
from nas.evaluators import EVALUATORS, Evaluator, Metrics, RunContext
from nas.evaluators.synthetic import synthetic_accuracy

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
        if genome.name in FAIL_NAMES:
            return Metrics(accuracy=float("nan"))
        c = ss.cost(genome)
        return Metrics(accuracy=synthetic_accuracy(c.params, c.macs))


if "toy" not in EVALUATORS:
    EVALUATORS.register("toy", ToyAccuracy)
