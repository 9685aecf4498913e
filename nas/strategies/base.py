"""The strategy contract: who proposes the next architecture, and the driver that evaluates it.

A search has one system of record, an Optuna study. Every strategy, whether an Optuna
sampler or an external proposer (NNI's strategies, our MnasNet controller), hands its
proposals to a :class:`Driver`, which records each one as a trial of that study (params,
metrics, genome, state), evaluates it (or answers from the cache when the genome was
evaluated before) and returns the reward. Strategies therefore never touch storage,
evaluators or files; they only decide what to try next.

Two ways to propose:

- :meth:`Driver.sampled` lets the study's own Optuna sampler choose (Optuna strategies);
- :meth:`Driver.evaluate` takes a full parameter assignment the strategy chose itself;
  the driver enqueues it, so the study shows it as an ordinary trial.

Both raise :class:`StopSearch` once the trial budget, the timeout or a Ctrl-C says to
stop; a strategy lets it propagate (the driver catches it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import optuna

from nas import settings
from search_spaces.spaces.base import SearchSpace

__all__ = ["Driver", "Outcome", "StopSearch", "Strategy"]


class StopSearch(Exception):
    """The search must stop now (trial budget reached, timeout, interrupt); strategies let it propagate."""


@dataclass(frozen=True)
class Outcome:
    """What one evaluated proposal earned.

    Attributes:
        params: The full assignment of the active parameters.
        values: The reward (one value) or the objectives (several, for ``pareto``); ``None`` if failed.
        failed: Whether the candidate failed (NaN loss, out of memory, invalid); ``values`` is then ``None``.
        trial: The study's trial number.
        cached: Whether the result came from an earlier trial with the same genome.
    """

    params: dict[str, Any]
    values: tuple[float, ...] | None
    failed: bool
    trial: int
    cached: bool = False

    @property
    def value(self) -> float | None:
        """The single reward (``None`` when failed or multi-objective)."""
        return self.values[0] if self.values is not None and len(self.values) == 1 else None


class Driver(Protocol):
    """What a strategy may use. Implemented by :class:`nas.search.driver.SearchDriver`."""

    space: SearchSpace
    seed: int
    #: ``maximize`` / ``minimize`` per objective (one entry for a scalar reward).
    directions: tuple[str, ...]

    def remaining(self) -> int:
        """Trials still to run under the trial budget (the timeout may stop the search sooner)."""

    def evaluate(self, params: Mapping[str, Any]) -> Outcome:
        """Record, evaluate and score one full assignment chosen by the strategy; raises :class:`StopSearch`."""

    def sampled(self) -> Outcome:
        """One trial whose params the study's sampler chooses; raises :class:`StopSearch`."""

    def history(self) -> Sequence[Outcome]:
        """Finished trials of the study so far (earlier runs of a resumed study included), oldest first."""

    def taken(self, params: Mapping[str, Any]) -> bool:
        """Whether the study already has a result for these params or another worker is evaluating them."""


class Strategy(ABC):
    """A named way to propose architectures.

    Subclasses set ``name``, say whether they handle several objectives, give the study's
    sampler and implement :meth:`run`.
    """

    name: ClassVar[str] = ""
    #: Whether the strategy can optimise several objectives at once (the ``pareto`` reward).
    multi_objective: ClassVar[bool] = False
    #: A one-line description for ``--help``.
    summary: ClassVar[str] = ""
    #: Its knobs: a settings class (:mod:`nas.settings`), or ``None`` for a strategy without any.
    settings: ClassVar[type | None] = None

    def __init__(self, **options: Any) -> None:
        """Take ``options`` (text from ``--set`` or typed values) as the strategy's knobs.

        Raises:
            nas.settings.SettingError: an option the strategy does not have, or a bad value.
        """
        settings.check(options, [settings.Owner("strategy", self.name, self.settings)])
        #: The resolved knobs (a ``settings`` instance; ``None`` for a strategy without knobs).
        self.options: Any = settings.resolve(self.settings, options) if self.settings is not None else None

    def sampler(self, space: SearchSpace, seed: int, directions: Sequence[str]) -> optuna.samplers.BaseSampler:
        """The sampler the study is created (and resumed) with.

        External proposers enqueue every trial's params, so their study's sampler only
        fills parameters they left out; a seeded random sampler is right for them.
        """
        return optuna.samplers.RandomSampler(seed=seed)

    @abstractmethod
    def run(self, driver: Driver) -> None:
        """Propose trials through ``driver`` until it raises :class:`StopSearch` (or the strategy is exhausted)."""
