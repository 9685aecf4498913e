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

import importlib
from collections.abc import Callable

from nas.strategies.base import Driver, Outcome, StopSearch, Strategy
from nas.strategies.optuna_samplers import OPTUNA_STRATEGIES
from search_spaces.registry import Registry

__all__ = ["STRATEGIES", "Driver", "Outcome", "StopSearch", "Strategy", "get", "names", "summary"]

#: name -> zero-argument factory of a fresh strategy.
STRATEGIES: Registry[Callable[[], Strategy]] = Registry("strategy")
for _name, _factory in OPTUNA_STRATEGIES.items():
    STRATEGIES.register(_name, _factory)


class _Lazy:
    """A factory importing its module on first use (keeps NNI and the controller out of plain imports)."""

    def __init__(self, module: str, cls: str, summary: str) -> None:
        self.module, self.cls, self.summary = module, cls, summary

    def __call__(self) -> Strategy:
        return getattr(importlib.import_module(self.module), self.cls)()


for _name, _cls, _summary in (
    ("evolution", "EvolutionStrategy", "NNI RegularizedEvolution (Real et al. 2019, aging evolution)"),
    ("nni-tpe", "NNITPEStrategy", "NNI's TPE"),
    ("nni-random", "NNIRandomStrategy", "NNI's random search"),
    ("grid", "GridStrategy", "NNI grid search over the (discretised) space"),
):
    STRATEGIES.register(_name, _Lazy("nas.strategies.nni_adapter", _cls, _summary))
STRATEGIES.register("rl", _Lazy("nas.strategies.rl", "RLStrategy",
                                 "MnasNet RL controller (LSTM policy, PPO; Tan et al. 2019)"))


def names() -> list[str]:
    """All registered strategy names, sorted."""
    return STRATEGIES.names()


def get(name: str) -> Strategy:
    """A fresh strategy ``name``; unknown names raise with close suggestions."""
    return STRATEGIES.get(name)()


def summary(name: str) -> str:
    """The one-line description of ``name`` without importing its module."""
    factory = STRATEGIES.get(name)
    return getattr(factory, "summary", "")
