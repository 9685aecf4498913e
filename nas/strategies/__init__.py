"""Search strategies by name: ``names()``, ``get(name)``.

Optuna samplers (:mod:`nas.strategies.optuna_samplers`): ``tpe``, ``nsga2``, ``random``,
``gp``, ``cmaes``. NNI 3.0 strategies through a thin adapter
(:mod:`nas.strategies.nni_adapter`, NNI imported lazily): ``evolution``
(RegularizedEvolution), ``nni-tpe``, ``nni-random``, ``grid``. ``rl``: the MnasNet
controller built here (:mod:`nas.strategies.rl`; NNI's PolicyBasedRL needs tianshou 0.x
and gym, which do not run on this stack). Whatever proposes, every trial is recorded in
the one Optuna study (see :mod:`nas.strategies.base`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nas.strategies.base import Driver, Outcome, StopSearch, Strategy
from nas.strategies.optuna_samplers import OPTUNA_STRATEGIES
from search_spaces.registry import Registry, lazy

__all__ = ["STRATEGIES", "Driver", "Outcome", "StopSearch", "Strategy", "get", "names", "summary"]

#: name -> zero-argument factory of a fresh strategy.
STRATEGIES: Registry[Callable[[], Strategy]] = Registry("strategy")
for _name, _factory in OPTUNA_STRATEGIES.items():
    STRATEGIES.register(_name, _factory)
for _name, _module, _cls in (
    ("evolution", "nni_adapter", "EvolutionStrategy"),
    ("nni-tpe", "nni_adapter", "NNITPEStrategy"),
    ("nni-random", "nni_adapter", "NNIRandomStrategy"),
    ("grid", "nni_adapter", "GridStrategy"),
    ("rl", "rl", "RLStrategy"),
):
    STRATEGIES.register(_name, lazy(f"nas.strategies.{_module}", _cls))


def names() -> list[str]:
    """All registered strategy names, sorted."""
    return STRATEGIES.names()


def get(name: str, **options: Any) -> Strategy:
    """A fresh strategy ``name`` with knobs ``options`` (:mod:`nas.settings`); unknown names raise with close suggestions."""
    return STRATEGIES.get(name)(**options)


def summary(name: str) -> str:
    """The strategy's one-line description (its module is imported; NNI itself is not)."""
    return get(name).summary
