"""The search driver: records every proposal in the Optuna study, evaluates it once, scores it.

:class:`SearchDriver` implements :class:`nas.strategies.base.Driver`. The study is the
system of record: each trial holds its params, its state, and user attributes

- ``genome``: the genome's YAML, ``genome_key``: a digest of it (the duplicate cache's key),
- ``metrics``: every metric the evaluators produced (JSON), ``reward``: the reward value(s),
- ``reason``: why a candidate failed (NaN loss, out of memory, invalid genome...),
- ``cached_from``: the earlier trial whose result was reused for the same genome,
- ``strategy`` and ``worker``: who proposed it.

Every trial is written once, when it has finished, in one transaction
(``create_new_trial`` from a finished template): an ``mbconv`` genome has 42 parameters,
and Optuna's per-parameter writes cost about 110 ms per trial on SQLite (random search,
30 trials), more than twice the search's whole overhead budget of 50 ms. Optuna samplers
therefore propose on an in-memory *mirror* study, made on first use, that holds the same
finished trials (synchronised from the storage before each proposal when several workers
share it), and the trial is then added to the storage; external strategies (NNI, the RL
controller) propose params that are evaluated and added the same way. So workers can
never swap each other's proposals, and a worker that dies mid-trial leaves nothing
half-written: its proposal is simply made again.

A candidate that fails is a ``FAIL`` trial with its reason and counts toward the trial
budget. A trial interrupted by Ctrl-C is written as ``FAIL`` *without* a reason: it does
not count, and on resume :meth:`SearchDriver.requeue_interrupted` has the sampler propose
it first again.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.evaluators import Evaluator, Metrics, RunContext, evaluate, optuna_context
from nas.rewards import Reward, Targets
from nas.search.interrupts import Interrupts
from nas.strategies.base import Outcome, StopSearch, Strategy
from scaling.rounding import round_repeats
from search_spaces.codec import to_yaml
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.spaces.base import Categorical, Distribution, FloatRange, IntRange, SearchSpace

__all__ = ["SearchDriver", "TrialRecord", "flat_metrics", "genome_key", "optuna_distribution"]

#: Trial states that count toward the trial budget (plus FAIL trials that carry a reason).
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def genome_key(genome: Network) -> str:
    """A digest of the genome's architecture (its name left out: two names, one network, one key).

    Fields at their default value are left out too, so adding a field with a default to the
    genome vocabulary (as each new block family does) leaves every existing key, and so a
    resumed study's duplicate cache and settings check, unchanged. The depth multiplier is
    folded into the stage depths first (``ceil`` or ``round``, as resolving does), so two
    depth multipliers that round to the same layer counts (compound scaling's alpha 1.1 and
    1.2 on short stages) are one network and one key.
    """
    depths = tuple(dataclasses.replace(s, depth=round_repeats(s.depth, genome.depth_mult, genome.quirks.depth_rounding))
                   for s in genome.stages)
    data = _without_defaults(dataclasses.replace(genome, stages=depths, depth_mult=1.0))
    data.pop("name", None)
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _without_defaults(value: Any) -> Any:
    """Plain data of a genome part, dataclass fields equal to their defaults omitted (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.default is not dataclasses.MISSING and v == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and v == f.default_factory():
                continue
            out[f.name] = _without_defaults(v)
        return out
    if isinstance(value, (tuple, list)):
        return [_without_defaults(v) for v in value]
    return value


def flat_metrics(metrics: Metrics) -> dict[str, float]:
    """Every estimated metric of ``metrics`` by name (``extra`` included), numbers only."""
    out: dict[str, float] = {}
    for name in ("accuracy", "latency_ms", "train_step_ms", "params", "macs"):
        value = getattr(metrics, name)
        if value is not None:
            out[name] = float(value)
    out.update({k: float(v) for k, v in metrics.extra.items()})
    out["wall_s"] = float(metrics.wall_s)
    return out


_OPTUNA_DISTRIBUTIONS: dict[type, Callable[[Any], optuna.distributions.BaseDistribution]] = {
    Categorical: lambda d: optuna.distributions.CategoricalDistribution(list(d.choices)),
    IntRange: lambda d: optuna.distributions.IntDistribution(d.low, d.high, log=d.log, step=d.step),
    FloatRange: lambda d: optuna.distributions.FloatDistribution(d.low, d.high, log=d.log, step=d.step),
}


def optuna_distribution(dist: Distribution) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution ``dist.suggest(trial)`` would use (for trials added from outside)."""
    return _OPTUNA_DISTRIBUTIONS[type(dist)](dist)


@dataclass
class TrialRecord:
    """One finished trial as the driver reports it (to the log and the strategy)."""

    number: int
    genome: Network | None
    metrics: dict[str, float]
    values: tuple[float, ...] | None
    reason: str = ""
    cached_from: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


class _CandidateFailed(Exception):
    """Internal: the candidate failed; the trial becomes FAIL with this reason."""


class SearchDriver:
    """Runs one worker's share of a search on a study.

    Args:
        study: The Optuna study (created or loaded by the caller with ``strategy.sampler``).
        space: The search space.
        strategy: Who proposes.
        reward: Turns metrics into the value(s) the study optimises.
        targets: The user's MACs / latency targets.
        evaluators: Run in order on every new genome.
        context: Device, seed, data and evaluator budget.
        trials: Total trials the study should reach (earlier runs' trials count).
        timeout: Seconds this worker may run (``None``: no limit).
        on_trial: Called with each finished :class:`TrialRecord` (progress bar, log line).
        worker: This worker's index (recorded per trial).
        shared: Other workers run on the same study: count its trials afresh before each one.
    """

    def __init__(self, study: optuna.Study, space: SearchSpace, strategy: Strategy, reward: Reward, targets: Targets,
                 evaluators: Sequence[Evaluator], context: RunContext, trials: int, timeout: float | None = None,
                 on_trial: Callable[[TrialRecord], None] | None = None, worker: int = 0, shared: bool = False) -> None:
        self.study, self.space, self.strategy, self.reward = study, space, strategy, reward
        self.targets, self.evaluators, self.context = targets, list(evaluators), context
        self.trials, self.timeout, self.on_trial, self.worker = trials, timeout, on_trial, worker
        self.shared = shared
        self.seed = context.seed
        self.directions = reward.directions(targets)
        self._required = reward.required(targets)
        self._start = time.monotonic()
        self._stop_requested = False
        self._distributions = {d.name: d for d in space.distributions()}
        self._cache: dict[str, TrialRecord] = {}
        self._history: list[Outcome] = []
        self._counted = 0
        self._retry: list[tuple[int, dict[str, Any]]] = []
        # Optuna samplers propose on this in-memory copy (see the module docstring); made on first use.
        self._mirror: optuna.Study | None = None
        self._mirrored: set[int] = set()
        #: Ctrl-C policy: deferred outside evaluations once the caller installs it (``with driver.interrupts.installed()``).
        self.interrupts = Interrupts()
        self._load_history()

    # ------------------------------------------------------------------ state of the study

    def _load_history(self) -> None:
        """Fill the duplicate cache, the outcome history and the count from the study (a resumed search)."""
        for trial in self.study.get_trials(deepcopy=False):
            if _counts(trial):
                self._counted += 1
            if trial.state == TrialState.COMPLETE or (trial.state == TrialState.FAIL and "reason" in trial.user_attrs):
                outcome = _outcome(trial)
                self._history.append(outcome)
                key = trial.user_attrs.get("genome_key")
                if key and key not in self._cache and not outcome.cached:
                    self._cache[key] = TrialRecord(trial.number, None, trial.user_attrs.get("metrics", {}),
                                                   outcome.values, trial.user_attrs.get("reason", ""), None,
                                                   outcome.params)

    def remaining(self) -> int:
        """Trials still to start under the trial budget (counted once at start, then by this worker)."""
        return max(0, self.trials - self._counted)

    def history(self) -> Sequence[Outcome]:
        return list(self._history)

    def request_stop(self) -> None:
        """Ask the search to stop before its next trial (a signal handler or a callback may call it)."""
        self._stop_requested = True

    def _check_continue(self) -> list[FrozenTrial] | None:
        """Raise :class:`StopSearch` if the search is over; when shared, the study's trials as just read."""
        self.interrupts.check()  # a Ctrl-C that arrived during bookkeeping stops here, with no write in flight
        trials = None
        if self.shared:  # other workers add trials: count (and later mirror) them afresh, one read
            trials = self.study.get_trials(deepcopy=False)
            self._counted = sum(1 for t in trials if _counts(t))
        if self._stop_requested or self.remaining() <= 0:
            raise StopSearch
        if self.timeout is not None and time.monotonic() - self._start >= self.timeout:
            raise StopSearch
        return trials

    def requeue_interrupted(self) -> int:
        """Queue every trial interrupted before it finished (no reason recorded, not yet re-run) to run first again.

        Only sampler strategies take the queue; an external strategy proposes afresh.
        """
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        self._retry = [(t.number, dict(t.params)) for t in trials
                       if _interrupted(t) and t.number not in retried and t.params]
        return len(self._retry)

    # ------------------------------------------------------------------ proposing

    def _sync_mirror(self, trials: Sequence[FrozenTrial] | None = None) -> optuna.Study:
        """The mirror, holding every finished trial of the study (a resumed study; other workers' trials)."""
        if self._mirror is None:
            self._mirror = optuna.create_study(directions=list(self.directions), sampler=self.study.sampler,
                                               pruner=self.study.pruner)
            trials = None  # first use: read everything
        for trial in self.study.get_trials(deepcopy=False) if trials is None else trials:
            if trial.number in self._mirrored or not trial.state.is_finished() or _interrupted(trial):
                continue
            self._mirrored.add(trial.number)
            self._mirror.add_trial(optuna.trial.create_trial(
                state=trial.state, params=trial.params, distributions=trial.distributions, values=trial.values,
                intermediate_values=trial.intermediate_values))
        return self._mirror

    def sampled(self) -> Outcome:
        """One trial proposed by the study's sampler (Optuna strategies), proposed on the mirror."""
        trials = self._check_continue()
        mirror = self._sync_mirror(trials) if self._mirror is None or self.shared else self._mirror
        retry_of = None
        if self._retry:
            retry_of, params = self._retry.pop(0)
            mirror.enqueue_trial(params, skip_if_exists=False)
        trial = mirror.ask()
        genome = self.space.suggest(trial)
        return self._run(genome, dict(trial.params), trial.distributions, trial, retry_of)

    def evaluate(self, params: Mapping[str, Any]) -> Outcome:
        """Evaluate a full assignment chosen by an external strategy, then add it to the study as finished."""
        self._check_continue()
        params = {d.name: params[d.name] for d in self.space.active(params) if d.name in params}
        self.space.check(params)
        distributions = {k: optuna_distribution(self._distributions[k]) for k in params}
        return self._run(self.space.decode(params), params, distributions)

    # ------------------------------------------------------------------ evaluating

    def _run(self, genome: Network, params: dict[str, Any], distributions: dict[str, Any],
             trial: optuna.Trial | None = None, retry_of: int | None = None) -> Outcome:
        """Evaluate (or look up) one proposal, tell the mirror (sampled trials), write it, report it."""
        self._counted += 1
        started = datetime.datetime.now()
        attrs: dict[str, Any] = {"genome_key": genome_key(genome), "genome": to_yaml(genome),
                                 "strategy": self.strategy.name, "worker": self.worker}
        if retry_of is not None:
            attrs["retry_of"] = retry_of
        values: tuple[float, ...] | None = None
        try:
            values = self._evaluate(genome, trial, attrs)
            state = TrialState.FAIL if values is None else TrialState.COMPLETE
        except optuna.TrialPruned as pruned:
            state, attrs["pruned"] = TrialState.PRUNED, str(pruned)
        except KeyboardInterrupt:
            # Written without a reason: it does not count, and a resumed search runs it first.
            self._counted -= 1
            attrs["interrupted"] = True
            self._write(params, distributions, TrialState.FAIL, None, attrs, trial, started)
            raise
        number = self._write(params, distributions, state, values, attrs, trial, started)
        return self._record(number, genome, params, attrs, values)

    def _write(self, params: dict[str, Any], distributions: dict[str, Any], state: TrialState,
               values: tuple[float, ...] | None, attrs: dict[str, Any], trial: optuna.Trial | None,
               started: datetime.datetime) -> int:
        """Finish a sampled trial in the mirror, then add the trial to the study in one transaction; its number.

        The trial keeps the time its evaluation started, so the study (and optuna-dashboard) show real durations.
        """
        intermediate: dict[int, float] = {}
        if trial is not None:
            intermediate = self._mirror.tell(trial, None if values is None else list(values),
                                             state=state).intermediate_values
        frozen = optuna.trial.create_trial(
            state=state, params=params, distributions=distributions, values=None if values is None else list(values),
            user_attrs=attrs, intermediate_values=intermediate)
        frozen.datetime_start = started
        number = _add_trial(self.study, frozen)
        self._mirrored.add(number)
        return number

    def _evaluate(self, genome: Network, trial: optuna.Trial | None, attrs: dict[str, Any]) -> tuple[float, ...] | None:
        """The reward (``None``: failed), from the cache or the evaluators; fills ``attrs`` with what was found."""
        earlier = self._cache.get(attrs["genome_key"])
        if earlier is not None:
            attrs.update(metrics=earlier.metrics, cached_from=earlier.number)
            if earlier.values is None:
                attrs["reason"] = earlier.reason or "failed before"
            else:
                attrs["reward"] = list(earlier.values)
            return earlier.values
        ctx = self.context
        if trial is not None:  # intermediate values reach the study's pruner
            c = self.context
            ctx = optuna_context(trial, device=c.device, seed=c.seed, data=c.data, budget=c.budget, threads=c.threads)
        with self.interrupts.immediate():
            metrics = evaluate(genome, self.evaluators, ctx)
        attrs["metrics"] = flat = flat_metrics(metrics)
        if metrics.failed:
            attrs["reason"] = metrics.reason
            return None
        try:
            values = self._score(flat)
        except _CandidateFailed as err:
            attrs["reason"] = str(err)
            return None
        attrs["reward"] = list(values)
        return values

    def _score(self, metrics: dict[str, float]) -> tuple[float, ...]:
        lacking = [m for m in self._required if m not in metrics]
        broken = [m for m in self._required if m in metrics and not math.isfinite(metrics[m])]
        if broken:
            raise _CandidateFailed(f"{broken[0]} is {metrics[broken[0]]} (not a finite number)")
        if lacking:
            raise _CandidateFailed(f"reward {self.reward.name!r} needs {', '.join(lacking)}, which no evaluator "
                                   f"reported")
        values = self.reward.score(metrics, self.targets)
        if not all(math.isfinite(v) for v in values):
            raise _CandidateFailed(f"reward {self.reward.name!r} is not finite: {values}")
        return values

    def _record(self, number: int, genome: Network, params: dict[str, Any], attrs: dict[str, Any],
                values: tuple[float, ...] | None) -> Outcome:
        """Remember a finished trial (duplicate cache, history) and report it; pruned ones are not cached."""
        pruned = attrs.get("pruned")
        record = TrialRecord(number, genome, attrs.get("metrics", {}), values,
                             f"pruned: {pruned}" if pruned else attrs.get("reason", ""), attrs.get("cached_from"),
                             params)
        if not pruned:
            self._cache.setdefault(attrs["genome_key"], record)
        outcome = Outcome(params, values, values is None, number, "cached_from" in attrs)
        self._history.append(outcome)
        if self.on_trial is not None:
            self.on_trial(record)
        return outcome

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        """Let the strategy propose until the budget, the timeout or :meth:`request_stop` ends the search."""
        try:
            self.strategy.run(self)
        except StopSearch:
            pass


def _counts(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward the budget: finished, running, or failed with a recorded reason."""
    return trial.state in _COUNTED or (trial.state == TrialState.FAIL and "reason" in trial.user_attrs)


def _interrupted(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and "reason" not in trial.user_attrs


def _outcome(trial: FrozenTrial) -> Outcome:
    values = tuple(trial.values) if trial.state == TrialState.COMPLETE and trial.values is not None else None
    return Outcome(dict(trial.params), values, values is None, trial.number, "cached_from" in trial.user_attrs)


def _add_trial(study: optuna.Study, trial: FrozenTrial) -> int:
    """Add a finished trial and return its number.

    ``Study.add_trial`` returns nothing, and finding the new trial by listing the study
    costs O(trials) per call; the storage's ``create_new_trial`` (what ``add_trial`` calls)
    gives its id directly.
    """
    trial._validate()  # what Study.add_trial checks first
    storage = study._storage
    trial_id = storage.create_new_trial(study._study_id, template_trial=trial)
    return storage.get_trial_number_from_id(trial_id)


def check_required(reward: Reward, targets: Targets, chosen: Sequence[Evaluator],
                   available: Sequence[Evaluator]) -> None:
    """Raise :class:`UserInputError` if the ``chosen`` evaluators cannot give a metric the reward needs.

    The sentence names, for the first missing metric, the ``available`` evaluators that report it.
    """
    provided = {m for e in chosen for m in e.provides}
    lacking = [m for m in reward.required(targets) if m not in provided]
    if lacking:
        givers = [e.name for e in available if lacking[0] in e.provides]
        raise UserInputError(f"reward {reward.name!r} needs {', '.join(lacking)}, which the chosen evaluators do not "
                             f"report; add {' or '.join(givers) or 'an evaluator that does'} to --evaluator")
