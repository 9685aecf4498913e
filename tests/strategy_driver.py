"""A small in-memory stand-in for the search driver, for strategy tests (no evaluators, no files).

It honours :class:`nas.strategies.base.Driver`: proposals become trials of an in-memory
Optuna study (enqueued params for :meth:`evaluate`, the study's sampler for
:meth:`sampled`), the reward is a pure function of the decoded genome, and
:class:`StopSearch` is raised once ``trials`` have run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from nas.strategies.base import Outcome, StopSearch, Strategy
from search_spaces.genome import Network
from search_spaces.spaces.base import SearchSpace


class ToyDriver:
    """Runs ``strategy`` on ``space`` for ``trials`` trials under ``reward(genome) -> value(s)``."""

    def __init__(self, space: SearchSpace, strategy: Strategy, reward: Callable[[Network], float | tuple[float, ...]],
                 trials: int, seed: int = 0, directions: Sequence[str] = ("maximize",)) -> None:
        self.space, self.seed, self.directions = space, seed, tuple(directions)
        self.reward, self.trials = reward, trials
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(directions=list(self.directions),
                                         sampler=strategy.sampler(space, seed, self.directions))
        self.outcomes: list[Outcome] = []

    def remaining(self) -> int:
        return self.trials - len(self.outcomes)

    def _run(self, trial: optuna.Trial) -> Outcome:
        genome = self.space.suggest(trial)
        params = {k: v for k, v in trial.params.items()}
        value = self.reward(genome)
        values = value if isinstance(value, tuple) else (value,)
        if not all(math.isfinite(v) for v in values):  # a failed candidate, as the real driver records it
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            outcome = Outcome(params, None, True, trial.number)
            self.outcomes.append(outcome)
            return outcome
        self.study.tell(trial, list(values) if len(values) > 1 else values[0])
        outcome = Outcome(params, tuple(float(v) for v in values), False, trial.number)
        self.outcomes.append(outcome)
        return outcome

    def evaluate(self, params: Mapping[str, Any]) -> Outcome:
        if self.remaining() <= 0:
            raise StopSearch
        self.space.check(params)
        self.study.enqueue_trial(dict(params), skip_if_exists=False)
        return self._run(self.study.ask())

    def sampled(self) -> Outcome:
        if self.remaining() <= 0:
            raise StopSearch
        return self._run(self.study.ask())

    def history(self) -> Sequence[Outcome]:
        return list(self.outcomes)

    def run(self, strategy: Strategy) -> list[Outcome]:
        try:
            strategy.run(self)
        except StopSearch:
            pass
        return self.outcomes
