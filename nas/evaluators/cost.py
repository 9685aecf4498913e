"""``cost``: exact params and MACs by arithmetic, no module built (:func:`search_spaces.cost`)."""

from __future__ import annotations

from dataclasses import dataclass

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.settings import knob
from search_spaces import cost
from search_spaces.genome import MAX_RESOLUTION, Network

__all__ = ["CostEvaluator", "CostSettings"]


@dataclass(frozen=True)
class CostSettings:
    """Knobs of the ``cost`` evaluator."""

    cost_resolution: int | None = knob(None, "input size the params and MACs are counted at", low=1,
                                       high=MAX_RESOLUTION, none="the genome's resolution")


class CostEvaluator(Evaluator):
    """Params and MACs (and activations) at the genome's resolution, or at ``cost_resolution``."""

    name = "cost"
    provides = ("params", "macs")
    settings = CostSettings

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        c = cost(genome, ctx.settings(CostSettings).cost_resolution)
        return Metrics(params=c.params, macs=c.macs, extra={"activations": float(c.activations)})
