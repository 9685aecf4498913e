"""Connect evaluators' intermediate values to Optuna pruners (median, successive halving, Hyperband).

``RunContext.report(step, value)`` is called by evaluators that learn over time (``train``
after each validation); here it becomes ``trial.report`` plus ``trial.should_prune()``,
raising ``optuna.TrialPruned``, which :func:`nas.evaluators.evaluate` lets through.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nas.evaluators.base import Pruned, RunContext

__all__ = ["optuna_context"]


def optuna_context(trial: Any, base: RunContext | None = None) -> RunContext:
    """``base`` (device, seed, data, settings, ...) with reports that drive ``trial``'s pruner.

    Args:
        trial: An ``optuna.trial.Trial``.
        base: The run's context (default: a fresh one).
    """
    import optuna  # late: evaluators work without a study

    def report(step: int, value: float) -> None:
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} with validation accuracy {value:.4f}")

    return dataclasses.replace(base or RunContext(), report=report, propagate=(Pruned, optuna.TrialPruned))
