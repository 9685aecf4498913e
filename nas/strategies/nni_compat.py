"""Every use of NNI's private API (and of the NNI classes our adapter subclasses), and the check that it holds.

Tested with NNI 3.0 (:data:`TESTED`), its last release; ``pyproject.toml`` asks for
``nni>=3.0``. NNI is imported only when an NNI strategy runs (:func:`load`). What
:mod:`nas.strategies.nni_adapter` relies on, by feature (``_NEEDS``):

- *space*: ``ExecutableModelSpace``'s methods our proposal space overrides and calls,
  ``MutableDict``'s, ``ModelStatus.Frozen`` and ``nni.report_final_result``: how NNI runs a
  sample at all, so a change there stops NNI strategies with :class:`NNICompatError`;
- *tpe-loop*: ``HPOTunerStrategy._run`` and its ``_model_count``, ``_model_to_id`` and
  ``tuner``, overridden to drop NNI's one-second sleep per proposal; without them, NNI's
  own TPE loop runs (one second slower per trial);
- *evolution-state*: the ``population`` and ``dedup_history`` of ``RegularizedEvolution``'s
  ``state_dict`` and ``Individual(x, y)``, for a resumed search's warm start; without
  them, evolution starts from a random population (the study's results still answer
  repeated proposals);
- *tpe-dedup*: ``TpeTuner``'s ``dedup``, ``_history``, ``args``, ``rng`` and ``space``, its
  module's ``suggest``, the random tuner's ``suggest_parameter`` and ``Deduplicator._not_dup``, to replace NNI's
  answer to a repeated TPE proposal (:class:`ResamplingDedup`); without them NNI's own runs,
  which swaps every repeat for the next point of a grid search that starts at every
  parameter's first value: once TPE converges, most proposals are repeats, and the search
  walks that grid (on NAS-Bench-201 it proposed ``none`` on half the edges and did worse
  than random search; docs/BENCHMARKS.md).

:func:`check` says each change in one sentence (:mod:`nas.compat`);
``tests/test_compat.py`` fails with the first. At run time each feature is checked the
first time it is used, whatever NNI's version; a failed one takes its fallback after one
:class:`NNICompatWarning` naming the change.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from nas.compat import PrivateAPI, needs

__all__ = [
    "TESTED", "NNICompatError", "NNICompatWarning", "ResamplingDedup", "check", "forget", "load", "require",
    "seed_population", "supported",
]

#: The NNI releases this module was tested with.
TESTED = ("3.0",)

SPACE, TPE_LOOP, EVOLUTION_STATE, TPE_DEDUP = "space", "tpe-loop", "evolution-state", "tpe-dedup"

#: What this module relies on: ``feature  module:dotted.name`` and the parameters a function takes
#: (:func:`nas.compat.needs` reads the table).
_NEEDS = needs("""
space            nni.nas.space:ExecutableModelSpace.leaf_mutables(is_leaf)
space            nni.nas.space:ExecutableModelSpace.check_contains(sample)
space            nni.nas.space:ExecutableModelSpace.freeze(sample)
space            nni.nas.space:ExecutableModelSpace.execute()
space            nni.nas.space:ExecutableModelSpace.validate(sample)
space            nni.nas.space:ModelStatus.Frozen
space            nni.mutable:MutableDict.leaf_mutables(is_leaf)
space            nni.mutable:MutableDict.check_contains(sample)
space            nni:report_final_result(metric)
tpe-loop         nni.nas.strategy.base:Strategy._run()
tpe-loop         nni.nas.strategy.base:Strategy.{engine model_space}
tpe-loop         nni.nas.strategy:TPE().{_model_count _model_to_id}
tpe-loop         nni.nas.strategy:TPE().tuner.generate_parameters(parameter_id, kwargs)
tpe-loop         nni.nas.strategy:TPE().tuner.update_search_space(space)
tpe-loop         nni.nas.execution:SequentialExecutionEngine.budget_available()
tpe-loop         nni.nas.execution:SequentialExecutionEngine.submit_models(models)
tpe-loop         nni.mutable:Categorical.as_legacy_dict()
tpe-loop         nni:NoMoreTrialError
evolution-state  nni.nas.strategy:RegularizedEvolution().state_dict()#population
evolution-state  nni.nas.strategy:RegularizedEvolution().state_dict()#dedup_history
evolution-state  nni.nas.strategy:RegularizedEvolution.load_state_dict(state_dict)
evolution-state  nni.nas.strategy.evolution:Individual(x, y)
tpe-dedup        nni.nas.strategy:TPE().tuner.{dedup _history args rng space}
tpe-dedup        nni.algorithms.hpo.tpe_tuner:suggest(args, rng, space, history)
tpe-dedup        nni.algorithms.hpo.random_tuner:suggest_parameter(rng, spec)
tpe-dedup        nni.common.hpo_utils.dedup:Deduplicator._not_dup(formatted_parameters)
tpe-dedup        nni.common.hpo_utils:ParameterSpec.is_nested()
""")

#: What runs instead when a feature's check fails (the end of the warning's sentence).
_FALLBACK = {
    TPE_LOOP: "NNI's own TPE loop runs (it sleeps a second after each proposal)",
    EVOLUTION_STATE: "a resumed evolution starts from a random population",
    TPE_DEDUP: "NNI's deduplication runs (a repeated TPE proposal becomes the next point of a grid search)",
}



def _quietly(make: Callable[[type], Any]) -> Callable[[type], Any]:
    """``make``, with NNI's info lines ("Using random seed 0") held back while it runs."""

    def made(cls: type) -> Any:
        logger = logging.getLogger("nni")
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            return make(cls)
        finally:
            logger.setLevel(level)

    return made


#: How to make the sample instance whose attributes are checked, by class name.
_SAMPLES: dict[str, Callable[[type], Any]] = {
    "TPE": _quietly(lambda cls: cls(seed=0)),
    "RegularizedEvolution": _quietly(lambda cls: cls(dedup=True, seed=0)),
}


class NNICompatError(RuntimeError):
    """This NNI changed how a sample is run, which the NNI strategies cannot do without."""


class NNICompatWarning(RuntimeWarning):
    """This NNI changed a private name a feature relies on; the feature takes its fallback."""


@functools.cache
def _api() -> PrivateAPI:
    nni = load().nni
    return PrivateAPI("nni", nni.__version__, TESTED, _NEEDS, _SAMPLES, _FALLBACK, NNICompatWarning)


def check(feature: str | None = None) -> list[str]:
    """Every change of what NNI strategies rely on (of one ``feature``, or all), one sentence each; read afresh."""
    return _api().check(feature)


def supported(feature: str) -> bool:
    """Whether ``feature`` may take its fast path (checked once per process; warns once when not)."""
    return _api().supported(feature)


def forget() -> None:
    """Check every feature again on its next use (tests that change NNI)."""
    _api().forget()
    _required.cache_clear()


def require(feature: str) -> None:
    """Raise :class:`NNICompatError` naming the first change of ``feature`` (one without a fallback), if any."""
    problems = _required(feature)
    if problems:
        raise NNICompatError(f"{problems[0]}, which the NNI strategies cannot run without (tested with nni "
                             f"{', '.join(TESTED)})")


@functools.cache
def _required(feature: str) -> tuple[str, ...]:
    return tuple(check(feature))


def seed_population(strategy: Any, individuals: Sequence[Any]) -> None:
    """Make ``individuals`` the population of an initialised ``RegularizedEvolution`` (and seen by its dedup).

    Nothing changes where the *evolution-state* check failed.
    """
    if not supported(EVOLUTION_STATE):
        return
    state = strategy.state_dict()
    state["population"] = list(individuals)
    # NNI's dedup history holds each sample as a frozenset of its items.
    state["dedup_history"] = list(state["dedup_history"]) + [frozenset(i.x.items()) for i in individuals]
    strategy.load_state_dict(state)


class ResamplingDedup:
    """What a NNI ``TpeTuner`` does with a proposal it made before: ask its model again, then look next to it.

    Up to ``attempts`` fresh TPE proposals (the tuner's generator has moved on, so they may differ);
    if all were seen, the last one with one parameter redrawn at random, then two, and so on (up to
    ``10 * attempts`` draws): once TPE has converged its proposals repeat, and its neighbourhood is
    where the next candidate should come from. Only then NNI's own deduplicator (its grid walk, for
    a space nearly exhausted). NNI's record of what was proposed is kept.
    """

    def __init__(self, tuner: Any, attempts: int = 20) -> None:
        from nni.algorithms.hpo import random_tuner, tpe_tuner

        self.tuner, self.attempts, self.nni_dedup = tuner, attempts, tuner.dedup
        self._tpe, self._redraw = tpe_tuner.suggest, random_tuner.suggest_parameter

    def __call__(self, params: Any) -> Any:
        t, seen = self.tuner, self.nni_dedup
        for _ in range(self.attempts):
            if seen._not_dup(params):  # records it as proposed when new
                return params
            params = self._tpe(t.args, t.rng, t.space, t._history)
        keys = [key for key in params if not t.space[key].is_nested()]
        for draw in range(10 * self.attempts):
            near = dict(params)
            changed = min(len(keys), 1 + draw // self.attempts)
            for i in t.rng.choice(len(keys), size=changed, replace=False):
                near[keys[i]] = self._redraw(t.rng, t.space[keys[i]])
            if seen._not_dup(near):
                return near
        return seen(params)


@functools.cache
def load() -> SimpleNamespace:
    """NNI's classes the adapter uses, and ours built on them (imports NNI: seconds, once).

    Raises:
        ImportError: NNI (or a package it needs) is not installed.
    """
    with warnings.catch_warnings():
        # NNI 3.0 warns about every torch.nn class newer than itself ("is found to be not a nn.Module").
        warnings.simplefilter("ignore", RuntimeWarning)
        import nni
        from nni.mutable import Categorical, MutableDict
        from nni.nas.execution import SequentialExecutionEngine
        from nni.nas.space import ExecutableModelSpace, ModelStatus
        from nni.nas.strategy import TPE, GridSearch, Random, RegularizedEvolution
        from nni.nas.strategy.evolution import Individual

    class ProposalSpace(ExecutableModelSpace):
        """Our space as NNI sees it: labelled choices; executing a frozen model evaluates its sample."""

        def __init__(self, mutables: MutableDict, evaluate: Callable[[Mapping[str, int]], float | None]) -> None:
            super().__init__()
            self.mutables, self.evaluate = mutables, evaluate
            self.evaluator = None
            self.sample = None

        def leaf_mutables(self, is_leaf: Callable[[Any], bool]) -> Iterator[Any]:
            yield from self.mutables.leaf_mutables(is_leaf)

        def check_contains(self, sample: Mapping[str, Any]) -> Any:
            return self.mutables.check_contains(sample)

        def freeze(self, sample: Mapping[str, Any]) -> ProposalSpace:
            self.validate(sample)
            model = ProposalSpace(self.mutables, self.evaluate)
            model.sample, model.status = dict(sample), ModelStatus.Frozen
            return model

        def execute(self) -> None:
            metric = self.evaluate(self.sample)
            if metric is not None:
                nni.report_final_result(metric)

    class SequentialTPE(TPE):
        """NNI's TPE wrapper without its one-second sleep per proposal (nothing to poll on the sequential engine)."""

        def _run(self) -> None:
            if not supported(TPE_LOOP):
                return super()._run()
            space = {label: mutable.as_legacy_dict() for label, mutable in self.model_space.simplify().items()}
            self.tuner.update_search_space(space)
            if supported(TPE_DEDUP):
                self.tuner.dedup = ResamplingDedup(self.tuner)
            while self.engine.budget_available():
                try:
                    params = self.tuner.generate_parameters(self._model_count)
                except nni.NoMoreTrialError:
                    return None
                model = self.model_space.freeze(params)
                self._model_to_id[model] = self._model_count
                self._model_count += 1
                self.engine.submit_models(model)
            return None

    return SimpleNamespace(nni=nni, Categorical=Categorical, MutableDict=MutableDict, ProposalSpace=ProposalSpace,
                           SequentialExecutionEngine=SequentialExecutionEngine,
                           RegularizedEvolution=RegularizedEvolution, TPE=SequentialTPE, Random=Random,
                           GridSearch=GridSearch, Individual=Individual)
