"""Evaluators by name: ``names()``, ``get(name)``, ``parse("train,latency")``, and :func:`evaluate`.

Registered: ``cost`` (params/MACs), ``train`` (proxy training on real data), ``zero-cost``
(training-free proxies), ``latency`` (measured), ``latency-lut`` (predicted from a per-block
table), ``train-step`` (training step time), ``synthetic`` (a made-up accuracy at a fixed
cost: dry runs and benchmarks of a search set-up), ``nb201`` (NAS-Bench-201's table: the accuracy
its cells reached, looked up), ``supernet`` (accuracy with a trained supernet's weights),
``predictor`` (accuracy foreseen by an MLP fitted on supernet scores). Each module registers
itself on import.
"""

from __future__ import annotations

from collections.abc import Callable

from nas.evaluators.base import Evaluator, Metrics, Pruned, RunContext, evaluate, resolve_device
from nas.evaluators.cost import CostEvaluator
from nas.evaluators.pruning import optuna_context
from search_spaces.errors import UserInputError
from search_spaces.registry import Registry, lazy

__all__ = ["EVALUATORS", "Evaluator", "Metrics", "Pruned", "RunContext", "evaluate", "get", "names",
           "optuna_context", "parse", "resolve_device"]

#: name -> zero-argument factory of a fresh evaluator.
EVALUATORS: Registry[Callable[[], Evaluator]] = Registry("evaluator")
EVALUATORS.register("cost", CostEvaluator)


EVALUATORS.register("train", lazy("nas.evaluators.train", "TrainEvaluator"))
EVALUATORS.register("zero-cost", lazy("nas.evaluators.zero_cost", "ZeroCostEvaluator"))
EVALUATORS.register("latency", lazy("nas.evaluators.latency", "LatencyEvaluator"))
EVALUATORS.register("latency-lut", lazy("nas.evaluators.latency", "LatencyLUTEvaluator"))
EVALUATORS.register("train-step", lazy("nas.evaluators.train_step", "TrainStepEvaluator"))
EVALUATORS.register("synthetic", lazy("nas.evaluators.synthetic", "SyntheticAccuracy"))
EVALUATORS.register("nb201", lazy("nas.evaluators.nb201", "NB201Evaluator"))
EVALUATORS.register("supernet", lazy("nas.evaluators.supernet", "SupernetEvaluator"))
EVALUATORS.register("predictor", lazy("nas.evaluators.predictor", "PredictorEvaluator"))


def names() -> list[str]:
    """All registered evaluator names, sorted."""
    return EVALUATORS.names()


def get(name: str) -> Evaluator:
    """A fresh evaluator ``name``; unknown names raise with close suggestions."""
    return EVALUATORS.get(name)()


def parse(spec: str) -> list[Evaluator]:
    """``"train,latency"`` -> the evaluators, in order (duplicates refused)."""
    parts = [p.strip() for p in spec.split(",")]
    if not spec.strip() or any(not p for p in parts):
        raise UserInputError(f"--evaluator must be a comma-separated list of names ({', '.join(names())}), "
                             f"got {spec!r}")
    if len(set(parts)) != len(parts):
        raise UserInputError(f"--evaluator lists a name twice: {spec!r}")
    return [get(p) for p in parts]
