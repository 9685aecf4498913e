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
  repeated proposals).

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
    "TESTED", "NNICompatError", "NNICompatWarning", "check", "forget", "load", "require", "seed_population",
    "supported",
]

#: The NNI releases this module was tested with.
TESTED = ("3.0",)

SPACE, TPE_LOOP, EVOLUTION_STATE = "space", "tpe-loop", "evolution-state"

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
""")

#: What runs instead when a feature's check fails (the end of the warning's sentence).
_FALLBACK = {
    TPE_LOOP: "NNI's own TPE loop runs (it sleeps a second after each proposal)",
    EVOLUTION_STATE: "a resumed evolution starts from a random population",
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
