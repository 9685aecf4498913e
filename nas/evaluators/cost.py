"""``cost``: exact params and MACs by arithmetic, no module built (:func:`search_spaces.cost`)."""

from __future__ import annotations

from nas.evaluators.base import Evaluator, Metrics, RunContext
from search_spaces import cost
from search_spaces.genome import Network

__all__ = ["CostEvaluator"]


class CostEvaluator(Evaluator):
    """Params and MACs at the genome's resolution (``budget['resolution']`` overrides it)."""

    name = "cost"
    provides = ("params", "macs")

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        c = cost(genome, ctx.get("cost_resolution", None))
        return Metrics(params=c.params, macs=c.macs, extra={"activations": float(c.activations)})
