"""NNI 3.0's NAS strategies over our search spaces, run in-process, every trial recorded in the study.

Four strategies, one class each: ``evolution`` (:class:`EvolutionStrategy`, NNI's
``RegularizedEvolution``), ``nni-tpe`` (:class:`NNITPEStrategy`, NNI's ``TPE``),
``nni-random`` (:class:`NNIRandomStrategy`, NNI's ``Random``) and ``grid``
(:class:`GridStrategy`, NNI's ``GridSearch``). NNI is imported only when a strategy runs.

How a run is wired (NNI 3.0, ``nni.nas``):

- the space NNI explores is a ``nni.nas.space.ExecutableModelSpace`` whose leaf mutables
  are one ``nni.mutable.Categorical`` per parameter, labelled with the parameter's name;
  executing a frozen model decodes its sample to our parameters, evaluates them through
  :meth:`Driver.evaluate <nas.strategies.base.Driver.evaluate>` and reports the reward
  with ``nni.report_final_result``, which is the metric NNI's strategy sees;
- models run on ``nni.nas.execution.SequentialExecutionEngine``: in this process, one
  at a time, no NNI manager, no files (the multi-process engine hangs when the space is
  defined in ``__main__``, nni#5684). The engine has no budget of its own: the driver is
  the budget, and its :class:`~nas.strategies.base.StopSearch` propagates out of
  :meth:`run` (the engine runs with ``continue_on_failure=False`` and NNI's strategy
  re-raises); a strategy that runs out of candidates (grid, a small space) just returns;
- the NNI strategy is initialised and run directly, as ``nni.nas.experiment.NasExperiment``
  does after it has started its web manager, log files and checkpoint directory.

Parameters as NNI choices. Every parameter becomes a choice among *levels*, and NNI
chooses the level's index (so NNI never compares our values):

- ``Categorical``: its choices;
- ``IntRange`` with at most ``levels`` values on its step grid: all of them;
- larger ``IntRange`` and every ``FloatRange``: :func:`discretize` spaces ``levels``
  points (16 by default) between ``low`` and ``high`` (evenly, or evenly in log when
  ``log``), snaps them to the step grid (ints, and floats with a ``step``) or to 4
  significant digits (other floats), clamps them into the range and drops duplicates. Both
  ends are levels, and every level is a value the distribution ``contains``.

All four strategies use the same levels: NNI's evolution mutates and its grid enumerates
choices, and its TPE wrapper accepts only choices. Random search therefore draws
uniformly among the levels (log-uniformly over the range when ``log``).

Conditional parameters. NNI's choices have no conditions, so NNI gives every parameter a
value; decoding keeps only the active ones, checking conditions in the space's order
against the parameters kept so far (as :meth:`SearchSpace.sample_params` does), and the
driver sees only those. Two NNI samples that differ only in inactive parameters are the
same candidate: a proposal whose active parameters equal an earlier one (of this run, or
of the resumed study's history) is answered with the earlier reward without a new trial.

Rewards and failures. NNI maximises its metric: the reward is passed as is when the
driver's direction is ``maximize`` and negated when ``minimize``. A failed candidate
(:attr:`Outcome.failed`) reports no metric: NNI marks the model trained without a metric,
evolution leaves it out of its population (NNI's "has no metric. Skip."), TPE leaves it
out of its history, random and grid search go on.

Seeds. The driver's seed seeds the NNI strategy's own generator (NumPy ``RandomState``
or ``Generator``); nothing draws from a global generator, so the same seed gives the
same proposals.

Resume. With outcomes in :meth:`Driver.history <nas.strategies.base.Driver.history>`,
every strategy answers repeated proposals from them (above); evolution also warm-starts:
its population is the most recent ``population_size`` successful outcomes, each snapped
to the nearest levels (inactive parameters at level 0) with its recorded reward, so it
goes on mutating instead of sampling a fresh random population.

Deviations from plain NNI: NNI's ``TPE`` wrapper sleeps one second after every
proposal (it polls a multi-worker engine); the sequential engine needs no polling, so
ours runs the same loop without the sleep. NNI's log lines go to Python logging (not
NNI's stdout handler) at ``WARNING`` and above while a strategy runs; the error lines NNI
logs just before re-raising an exception (the engine's and the strategy's) and
evolution's warning for each model without a metric are dropped: the exception and the
driver's own record of the failed trial say more.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

from nas.settings import knob
from nas.strategies import nni_compat
from nas.strategies.base import Driver, Strategy
from nas.strategies.levels import LEVELS, discretize, nearest
from search_spaces.errors import UserInputError
from search_spaces.spaces.base import Categorical, SearchSpace, params_digest

__all__ = [
    "LEVELS", "EvolutionStrategy", "GridStrategy", "Levels", "NNIRandomStrategy", "NNIStrategy", "NNITPEStrategy",
    "discretize", "evolution_settings",
]


@dataclass(frozen=True)
class Levels:
    """A space as NNI's discrete choices: per parameter, in the space's order, the values NNI picks by index."""

    space: SearchSpace
    values: dict[str, tuple[Any, ...]]

    @classmethod
    def of(cls, space: SearchSpace, levels: int = LEVELS) -> Levels:
        return cls(space, {d.name: discretize(d, levels) for d in space.distributions()})

    def decode(self, sample: Mapping[str, int]) -> dict[str, Any]:
        """The active parameters of an NNI sample (level indices of every parameter)."""
        return self.space.assign(lambda dist: self.values[dist.name][sample[dist.name]])

    def encode(self, params: Mapping[str, Any]) -> dict[str, int] | None:
        """The NNI sample nearest to ``params``: nearest level of each range, level 0 for inactive parameters.

        ``None`` if a categorical value is not one of the space's choices (a study of another space).
        """
        sample: dict[str, int] = {}
        for dist in self.space.distributions():
            values = self.values[dist.name]
            if dist.name not in params:
                sample[dist.name] = 0
            elif isinstance(dist, Categorical):
                key = (isinstance(params[dist.name], bool), params[dist.name])
                matches = [i for i, v in enumerate(values) if (isinstance(v, bool), v) == key]
                if not matches:
                    return None
                sample[dist.name] = matches[0]
            else:
                sample[dist.name] = nearest(values, params[dist.name], dist.log)
        return sample


def evolution_settings(trials: int, n_params: int, population_size: int | None = None,
                       sample_size: int | None = None, mutation_prob: float | None = None) -> tuple[int, int, float]:
    """``(population_size, sample_size, mutation_prob)`` for a search of ``trials`` trials, given ones kept.

    Real et al. (2019, "Regularized Evolution for Image Classifier Architecture Search",
    Algorithm 1) use a population of 100 and tournaments of 25 for 20,000 models. For
    20-1000 trials a population of 100 would leave little or nothing to evolution, so the
    population is a fifth of the trials, clipped to [10, 100]; the tournament keeps the
    paper's ratio (a quarter of the population, at least 2). The paper mutates exactly one
    thing per child, NNI mutates each parameter with ``mutation_prob`` (a child equal to
    its parent is rejected and redrawn), so ``1 / n_params`` makes one mutation per child
    on average.
    """
    population = population_size if population_size is not None else min(100, max(10, trials // 5))
    sample = sample_size if sample_size is not None else min(population, max(2, population // 4))
    mutation = mutation_prob if mutation_prob is not None else 1.0 / max(1, n_params)
    return population, sample, mutation


def levels_knob() -> Any:
    """The ``levels`` knob of every NNI strategy."""
    return knob(LEVELS, "values a float or a wide int range is discretised into", low=2, high=10_000)


@dataclass(frozen=True)
class NNISettings:
    """Knobs of ``nni-random``."""

    levels: int = levels_knob()


class NNIStrategy(Strategy):
    """An NNI 3.0 NAS strategy run on the sequential engine, proposals evaluated by the driver.

    Subclasses give the NNI strategy (:meth:`nni_strategy`) and may seed it with the
    study's history (:meth:`warm_start`); every settings class has ``levels``, the levels a
    large int range or a float range is discretised into (:func:`discretize`).
    """

    multi_objective: ClassVar[bool] = False
    settings: ClassVar[type | None] = NNISettings

    @property
    def levels(self) -> int:
        """Levels a large int range or a float range is discretised into."""
        return int(self.options.levels)

    @abstractmethod
    def nni_strategy(self, nni: SimpleNamespace, driver: Driver, levels: Levels) -> Any:
        """A fresh NNI strategy for this run, seeded with the driver's seed."""

    def warm_start(self, strategy: Any, nni: SimpleNamespace, driver: Driver, levels: Levels, sign: float) -> None:
        """Seed the initialised NNI strategy with the history of a resumed study (default: nothing)."""

    def run(self, driver: Driver) -> None:
        if len(driver.directions) != 1:
            raise UserInputError(f"strategy {self.name!r} optimises one objective, the reward has "
                                 f"{len(driver.directions)}; use tpe or nsga2 for several")
        nni = _nni(self.name)
        levels = Levels.of(driver.space, self.levels)
        sign = 1.0 if driver.directions[0] == "maximize" else -1.0
        # Active params digest -> metric NNI saw (None: failed); history first, so repeats cost no trial.
        known: dict[str, float | None] = {
            params_digest(o.params): None if o.failed or o.value is None else sign * o.value
            for o in driver.history()}

        def evaluate(sample: Mapping[str, int]) -> float | None:
            params = levels.decode(sample)
            key = params_digest(params)
            if key not in known:
                outcome = driver.evaluate(params)
                known[key] = None if outcome.failed or outcome.value is None else sign * outcome.value
            return known[key]

        mutables = nni.MutableDict({name: nni.Categorical(list(range(len(values))), label=name)
                                    for name, values in levels.values.items()})
        with _nni_logging():
            strategy = self.nni_strategy(nni, driver, levels)
            strategy.initialize(nni.ProposalSpace(mutables, evaluate), nni.SequentialExecutionEngine())
            self.warm_start(strategy, nni, driver, levels, sign)
            strategy.run()


@dataclass(frozen=True)
class EvolutionSettings:
    """Knobs of ``evolution`` (defaults: :func:`evolution_settings`)."""

    population_size: int | None = knob(None, "individuals kept", low=1, high=1_000_000,
                                       none="a fifth of the trials, within [10, 100]")
    sample_size: int | None = knob(None, "tournament size", low=1, high=1_000_000,
                                   none="a quarter of the population, at least 2")
    mutation_prob: float | None = knob(None, "per-parameter mutation probability", low=0.0, low_open=True, high=1.0,
                                       none="one over the number of parameters")
    crossover: bool = knob(False, "make each child from two tournament winners (NNI's option; the paper does not)")
    levels: int = levels_knob()

    def __post_init__(self) -> None:
        if self.sample_size is not None and self.population_size is not None and self.sample_size > self.population_size:
            raise UserInputError(f"evolution: sample_size ({self.sample_size}) must not exceed population_size "
                                 f"({self.population_size})")


class EvolutionStrategy(NNIStrategy):
    """Regularized (aging) evolution through NNI's ``RegularizedEvolution`` (knobs: :class:`EvolutionSettings`)."""

    name = "evolution"
    summary = "NNI RegularizedEvolution: aging evolution with tournament selection (Real et al. 2019)"
    settings = EvolutionSettings

    def nni_strategy(self, nni: SimpleNamespace, driver: Driver, levels: Levels) -> Any:
        trials = len(driver.history()) + driver.remaining()
        o = self.options
        population, sample, mutation = evolution_settings(trials, len(levels.values), o.population_size,
                                                          o.sample_size, o.mutation_prob)
        return nni.RegularizedEvolution(population_size=population, sample_size=min(sample, population),
                                        mutation_prob=mutation, crossover=o.crossover, dedup=True,
                                        seed=_nni_seed(driver.seed))

    def warm_start(self, strategy: Any, nni: SimpleNamespace, driver: Driver, levels: Levels, sign: float) -> None:
        done = [o for o in driver.history() if not o.failed and o.value is not None]
        individuals = []
        for outcome in done[-strategy.population_size:]:
            sample = levels.encode(outcome.params)
            if sample is not None:
                individuals.append(nni.Individual(sample, sign * outcome.value))
        if individuals:
            nni_compat.seed_population(strategy, individuals)


@dataclass(frozen=True)
class NNITPESettings:
    """Knobs of ``nni-tpe``."""

    startup_trials: int = knob(10, "random proposals before TPE models the results (NNI's default is 20; 10, as "
                                   "the Optuna tpe, suits short searches)", low=0, high=1_000_000)
    levels: int = levels_knob()


class NNITPEStrategy(NNIStrategy):
    """Tree-structured Parzen estimator through NNI's ``TPE`` (its HPO ``TpeTuner``)."""

    name = "nni-tpe"
    summary = "NNI TPE tuner over the discretised space (Bergstra et al. 2011)"
    settings = NNITPESettings

    def nni_strategy(self, nni: SimpleNamespace, driver: Driver, levels: Levels) -> Any:
        return nni.TPE(optimize_mode="maximize", seed=_nni_seed(driver.seed),
                       tpe_args={"n_startup_jobs": self.options.startup_trials})


class NNIRandomStrategy(NNIStrategy):
    """Uniform random search over the levels through NNI's ``Random`` (never the same candidate twice)."""

    name = "nni-random"
    summary = "NNI Random: uniform random search over the discretised space (Bergstra & Bengio 2012)"

    def nni_strategy(self, nni: SimpleNamespace, driver: Driver, levels: Levels) -> Any:
        return nni.Random(dedup=True, seed=_nni_seed(driver.seed))


@dataclass(frozen=True)
class GridSettings:
    """Knobs of ``grid``."""

    shuffle: bool = knob(True, "shuffle the order within each run of 100 candidates (NNI's default)")
    levels: int = levels_knob()


class GridStrategy(NNIStrategy):
    """Every combination of levels through NNI's ``GridSearch``; :meth:`run` returns once all are tried.

    NNI enumerates depth first (the first parameter changes slowest) and, with ``shuffle``,
    shuffles each run of 100 candidates with the seed; a budget smaller than the grid
    therefore explores mostly the last parameters. The grid has the product of the level
    counts as points.
    """

    name = "grid"
    summary = "NNI GridSearch: every combination of the discretised space, shuffled in blocks of 100"
    settings = GridSettings

    def nni_strategy(self, nni: SimpleNamespace, driver: Driver, levels: Levels) -> Any:
        return nni.GridSearch(shuffle=self.options.shuffle, seed=_nni_seed(driver.seed), dedup=True)


def _nni_seed(seed: int) -> int:
    """The driver's seed as NumPy's ``RandomState`` takes it (``[0, 2**32)``)."""
    return int(seed) % 2**32


def _nni(strategy: str) -> SimpleNamespace:
    """NNI's classes and ours built on them; :class:`UserInputError` naming ``strategy`` if NNI is missing."""
    try:
        nni = nni_compat.load()
    except ImportError as err:
        raise UserInputError(f"strategy {strategy!r} needs NNI 3.0, which cannot be imported ({err}); "
                             f"install it with: pip install nni pytorch-lightning") from err
    nni_compat.require(nni_compat.SPACE)
    return nni


class _DropNoise(logging.Filter):
    """Drops NNI's lines that repeat what the driver reports: the errors its engine and strategy log just
    before re-raising (no traceback attached) and evolution's "has no metric. Skip." for a failed candidate."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "nni.nas.strategy.evolution":
            return "has no metric" not in str(record.msg)
        return not (record.levelno >= logging.ERROR and record.exc_info is None)


@contextmanager
def _nni_logging() -> Iterator[None]:
    """While a strategy runs: NNI's records at WARNING and above go to Python logging, not NNI's stdout handler."""
    logger = logging.getLogger("nni")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    loggers = [logging.getLogger(name) for name in
               ("nni.nas.execution.sequential", "nni.nas.strategy.base", "nni.nas.strategy.evolution")]
    drop = _DropNoise()
    logger.setLevel(logging.WARNING)
    for handler in saved[1]:
        logger.removeHandler(handler)
    logger.propagate = True
    for child in loggers:
        child.addFilter(drop)
    try:
        yield
    finally:
        for child in loggers:
            child.removeFilter(drop)
        logger.setLevel(saved[0])
        for handler in saved[1]:
            logger.addHandler(handler)
        logger.propagate = saved[2]
