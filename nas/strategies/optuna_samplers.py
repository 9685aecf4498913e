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
from dataclasses import dataclass

import optuna

from nas.settings import knob
from nas.strategies.base import Driver, Strategy
from search_spaces.errors import UserInputError
from search_spaces.spaces.base import Categorical, SearchSpace

__all__ = ["CmaEsStrategy", "GPStrategy", "NSGA2Strategy", "OptunaStrategy", "RandomStrategy", "TPEStrategy"]


@dataclass(frozen=True)
class TPESettings:
    """Knobs of ``tpe``."""

    startup_trials: int = knob(10, "random trials before TPE models the results (Optuna's default is 10)",
                               low=0, high=1_000_000)
    ei_candidates: int = knob(24, "candidates drawn per proposal, the best expected improvement wins", low=1,
                              high=100_000)


@dataclass(frozen=True)
class NSGA2Settings:
    """Knobs of ``nsga2``."""

    population_size: int = knob(20, "individuals per generation", low=2, high=100_000)
    crossover_prob: float = knob(0.9, "probability that a child is a crossover of two parents", low=0.0, high=1.0)


@dataclass(frozen=True)
class GPSettings:
    """Knobs of ``gp``."""

    startup_trials: int = knob(10, "random trials before the Gaussian process models the results", low=0,
                               high=1_000_000)


@dataclass(frozen=True)
class CmaEsSettings:
    """Knobs of ``cmaes``."""

    startup_trials: int = knob(1, "independent (TPE) trials before CMA-ES starts", low=0, high=1_000_000)
    sigma0: float | None = knob(None, "initial step size, in the units of the normalised parameters", low=0.0,
                                low_open=True, high=1e6, none="Optuna's: a sixth of the smallest range")
    restart: str = knob("", "restart strategy when the search stagnates: ipop, bipop or none ('')",
                        choices=("", "ipop", "bipop"))


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
    settings = TPESettings

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        # ``group`` splits a conditional space into the parameter sets that occur together. Optuna recomputes
        # that over every finished trial at each proposal (a tenth of the search's overhead at 1,000 trials),
        # so a space without conditions, whose one group is the whole space, goes without it.
        conditional = any(d.when is not None for d in space.distributions())
        with _stable():
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=conditional, constant_liar=True,
                                              n_startup_trials=self.options.startup_trials,
                                              n_ei_candidates=self.options.ei_candidates)


class NSGA2Strategy(OptunaStrategy):
    name = "nsga2"
    summary = "Optuna NSGA-II genetic algorithm (Deb et al. 2002), for the pareto reward"
    multi_objective = True
    settings = NSGA2Settings

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=self.options.population_size,
                                             crossover_prob=self.options.crossover_prob)


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
    settings = GPSettings

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        with _stable():
            return optuna.samplers.GPSampler(seed=seed, deterministic_objective=False,
                                             n_startup_trials=self.options.startup_trials)


class CmaEsStrategy(OptunaStrategy):
    name = "cmaes"
    summary = "CMA-ES over numeric parameters, TPE for categorical ones (spaces with >= 2 numeric parameters)"
    settings = CmaEsSettings

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        numeric = [d.name for d in space.distributions() if not isinstance(d, Categorical) and d.when is None]
        if len(numeric) < 2:
            raise UserInputError(f"strategy 'cmaes' needs a space with at least two numeric parameters; space "
                                 f"{space.name!r} has {len(numeric)} (use tpe, gp or evolution)")
        o = self.options
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False, sigma0=o.sigma0,
                                            n_startup_trials=o.startup_trials, restart_strategy=o.restart or None,
                                            independent_sampler=optuna.samplers.TPESampler(seed=seed))


#: The Optuna strategies by name (registered in :mod:`nas.strategies`).
OPTUNA_STRATEGIES: dict[str, Callable[[], Strategy]] = {
    cls.name: cls for cls in (TPEStrategy, NSGA2Strategy, RandomStrategy, GPStrategy, CmaEsStrategy)
}
