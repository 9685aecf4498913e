"""Optuna's own samplers as strategies: the study's sampler proposes every trial.

- ``tpe``: multivariate TPE (Bergstra et al. 2011; Falkner et al. 2018's multivariate
  kernel), which models the joint distribution, grouped (``group=True``) for a space with
  conditional parameters; with several objectives it is MOTPE.
- ``nsga2``: NSGA-II (Deb et al. 2002), the multi-objective genetic algorithm.
- ``random``: independent uniform sampling, the baseline every search should beat.
- ``gp``: Gaussian-process Bayesian optimisation (Optuna's ``GPSampler``, log EI).
- ``cmaes``: CMA-ES (Hansen 2016) over the numeric parameters, TPE for the categorical
  ones; only for spaces with at least two numeric parameters (``regnet``, the cell spaces'
  ``filters``): an all-categorical space like ``mbconv`` gives CMA-ES nothing to adapt.

Each sampler is seeded with the search's seed, so the same seed gives the same search.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import optuna

from nas.strategies.base import Driver, Strategy
from search_spaces.errors import UserInputError
from search_spaces.spaces.base import Categorical, SearchSpace

__all__ = ["CmaEsStrategy", "GPStrategy", "NSGA2Strategy", "OptunaStrategy", "RandomStrategy", "TPEStrategy"]


@contextmanager
def _stable() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning (TPE's multivariate/group/constant_liar and GPSampler carry it for
    years; users cannot act on it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


class OptunaStrategy(Strategy):
    """A strategy whose proposals come from the study's Optuna sampler."""

    def run(self, driver: Driver) -> None:
        while True:
            driver.sampled()


class TPEStrategy(OptunaStrategy):
    name = "tpe"
    summary = "Optuna multivariate TPE (MOTPE with several objectives)"
    multi_objective = True

    #: Random trials before TPE models the results (Optuna's default is 10; small searches need fewer).
    startup: ClassVar[int] = 10

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        # ``group`` splits a conditional space into the parameter sets that occur together. Optuna recomputes
        # that over every finished trial at each proposal (a tenth of the search's overhead at 1,000 trials),
        # so a space without conditions, whose one group is the whole space, goes without it.
        conditional = any(d.when is not None for d in space.distributions())
        with _stable():
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=conditional, constant_liar=True,
                                              n_startup_trials=self.startup)


class NSGA2Strategy(OptunaStrategy):
    name = "nsga2"
    summary = "Optuna NSGA-II genetic algorithm (Deb et al. 2002), for the pareto reward"
    multi_objective = True

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)


class RandomStrategy(OptunaStrategy):
    name = "random"
    summary = "uniform random sampling (the baseline)"
    multi_objective = True

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)


class GPStrategy(OptunaStrategy):
    name = "gp"
    summary = "Optuna Gaussian-process Bayesian optimisation"
    multi_objective = True

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        with _stable():
            return optuna.samplers.GPSampler(seed=seed, deterministic_objective=False)


class CmaEsStrategy(OptunaStrategy):
    name = "cmaes"
    summary = "CMA-ES over numeric parameters, TPE for categorical ones (spaces with >= 2 numeric parameters)"

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        numeric = [d.name for d in space.distributions() if not isinstance(d, Categorical) and d.when is None]
        if len(numeric) < 2:
            raise UserInputError(f"strategy 'cmaes' needs a space with at least two numeric parameters; space "
                                 f"{space.name!r} has {len(numeric)} (use tpe, gp or evolution)")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                            independent_sampler=optuna.samplers.TPESampler(seed=seed))


#: The Optuna strategies by name (registered in :mod:`nas.strategies`).
OPTUNA_STRATEGIES: dict[str, Callable[[], Strategy]] = {
    cls.name: cls for cls in (TPEStrategy, NSGA2Strategy, RandomStrategy, GPStrategy, CmaEsStrategy)
}
