"""The search driver: records every proposal in the Optuna study, evaluates it once, scores it.

:class:`SearchDriver` implements :class:`nas.strategies.base.Driver`. The study is the
system of record, and the only thing workers share (on one machine or many): each trial
holds its params, its state, and user attributes

- ``genome``: the genome's YAML, ``genome_key``: a digest of it (the duplicate cache's key),
- ``metrics``: every metric the evaluators produced (JSON), ``reward``: the reward value(s),
- ``reason``: why a candidate failed (NaN loss, out of memory, invalid genome...),
- ``cached_from``: the earlier trial whose result was reused for the same genome,
- ``retry_of``: the interrupted trial this one runs again,
- ``strategy``, ``worker``, ``host`` and ``pid``: who proposed and ran it.

A trial's life, in three writes:

1. **Claim.** Once proposed, the trial is created ``RUNNING`` with its params, genome and
   first heartbeat, in one transaction. Creation is serialised per study (Optuna locks the
   study row; SQLite and the journal file serialise every write), so a worker that reads
   the study after creating its trial sees every trial created before it. Two rules
   follow, decided alike by every worker from that read:

   - *budget*: if the trials created before it that count already reach ``--trials``, it
     is marked ``surplus`` (FAIL, never evaluated) and the worker waits for a free slot, so
     the study ends with exactly ``--trials`` counted trials however many workers race;
   - *one evaluation per genome*: if an earlier trial has the same genome, the result is
     taken from it (``cached_from``), after waiting for it if it is still running.

2. **Evaluate**, with heartbeats from a background thread.
3. **Finish**: metrics, reward and state in one transaction.

A worker killed at any moment leaves at worst a ``RUNNING`` trial that stops beating;
any worker fails it once its heartbeat is older than the grace period, and the next
proposal of any worker retries it (same params, ``retry_of``). Ctrl-C and SIGTERM finish
the trial as interrupted (FAIL without a reason: not counted, retried). Before stopping, a
worker whose budget is reached waits while other workers' trials run: one of them may die,
and its trial must then be run again. :mod:`nas.search.view` lists the states.

Optuna samplers propose on an in-memory *mirror* study holding the same finished trials
(synchronised from the storage before each proposal): Optuna's own per-parameter writes
cost several times the rest of the search's overhead per trial (docs/BENCHMARKS.md, "Search
overhead per trial").
External strategies (NNI, the RL controller) propose params that are evaluated the same way.
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.evaluators import Evaluator, RunContext, evaluate, optuna_context
from nas.rewards import Reward, Targets
from nas.search import optuna_compat
from nas.search.heartbeat import Heartbeat, StaleTrials, process_start
from nas.search.interrupts import Interrupts
from nas.search.view import StudyView, has_result, interrupted
from nas.strategies.base import Outcome, StopSearch, Strategy
from search_spaces.codec import genome_key, to_yaml
from search_spaces.genome import Network
from search_spaces.spaces.base import Categorical, Distribution, FloatRange, IntRange, SearchSpace

__all__ = ["SearchDriver", "TrialRecord", "optuna_distribution"]

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


#: When this process started (see :func:`nas.search.heartbeat.process_alive`), recorded with each trial it claims.
_PID_START = process_start(os.getpid())


class _CandidateFailed(Exception):
    """Internal: the candidate failed; the trial becomes FAIL with this reason."""


class _Surplus(Exception):
    """Internal: the trial was created when the budget was already full."""


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
        trials: Total trials the study should reach (earlier runs' and other workers' trials count).
        timeout: Seconds this worker may run (``None``: no limit).
        on_trial: Called with each finished :class:`TrialRecord` (progress bar, log line).
        worker: This worker's index (recorded per trial).
        poll: Seconds between reads of the study while waiting on other workers' trials.
    """

    def __init__(self, study: optuna.Study, space: SearchSpace, strategy: Strategy, reward: Reward, targets: Targets,
                 evaluators: Sequence[Evaluator], context: RunContext, trials: int, timeout: float | None = None,
                 on_trial: Callable[[TrialRecord], None] | None = None, worker: int = 0, poll: float = 0.5) -> None:
        self.study, self.space, self.strategy, self.reward = study, space, strategy, reward
        self.targets, self.evaluators, self.context = targets, list(evaluators), context
        self.trials, self.timeout, self.on_trial, self.worker, self.poll = trials, timeout, on_trial, worker, poll
        self.seed = context.seed
        self.directions = reward.directions(targets)
        self._required = reward.required(targets)
        self._start = time.monotonic()
        self._stop_requested = False
        self._distributions = {d.name: d for d in space.distributions()}
        self._cache: dict[str, TrialRecord] = {}
        self._history: list[Outcome] = []
        self._own: set[int] = set()  # ids of the trials this worker wrote (reported when written, not re-read)
        self._host = socket.gethostname()
        # Optuna samplers propose on this in-memory copy (see the module docstring); made on first use.
        self._mirror: optuna.Study | None = None
        self._unmirrored: list[FrozenTrial] = []
        #: Ctrl-C / SIGTERM policy: deferred outside evaluations once the caller installs it.
        self.interrupts = Interrupts()
        self.view = StudyView(study)
        self._stale = StaleTrials(study)
        self._heartbeat = Heartbeat(optuna_compat.study_storage(study))
        self._stale.check(force=True)
        self._refresh()
        self._waited: set[int] = set()  # running trials of other workers this worker has said it waits for
        self._fail_dead_local()

    # ------------------------------------------------------------------ state of the study

    def _refresh(self) -> None:
        """Read what changed in the study; take in other workers' (and earlier runs') finished trials."""
        self._refreshed = time.monotonic()
        for trial in self.view.refresh():
            if not trial.state.is_finished() or optuna_compat.trial_id(trial) in self._own:
                continue
            if interrupted(trial) or "surplus" in trial.user_attrs:
                continue
            self._unmirrored.append(trial)
            if has_result(trial):
                outcome = _outcome(trial)
                self._history.append(outcome)
                key = trial.user_attrs.get("genome_key")
                if key and key not in self._cache and not outcome.cached:
                    self._cache[key] = TrialRecord(trial.number, None, trial.user_attrs.get("metrics", {}),
                                                   outcome.values, trial.user_attrs.get("reason", ""), None,
                                                   outcome.params)

    def remaining(self) -> int:
        """Trials still to start under the trial budget, as of the last read of the study."""
        return max(0, self.trials - len(self.view.counting))

    def history(self) -> Sequence[Outcome]:
        return list(self._history)

    def taken(self, params: Mapping[str, Any]) -> bool:
        """Whether the study already has a result for these params or a running trial of them."""
        self._refresh()
        params = dict(params)
        trials = (self.view.trials[i] for i in self.view.by_key.get(genome_key(self.space.decode(params)), ()))
        running = self.view.running
        return any(t.params == params and (has_result(t) or optuna_compat.trial_id(t) in running) for t in trials)

    def request_stop(self) -> None:
        """Ask the search to stop before its next trial (a signal handler or a callback may call it)."""
        self._stop_requested = True

    def _check_continue(self) -> None:
        """Return when a trial may start; raise :class:`StopSearch` when the search is over.

        With the budget reached but other workers' trials still running, wait: a trial whose
        worker dies is failed by heartbeat and must be run again.
        """
        while True:
            self.interrupts.check()  # a Ctrl-C that arrived during bookkeeping stops here, with no write in flight
            if self._stop_requested or (self.timeout is not None and time.monotonic() - self._start >= self.timeout):
                raise StopSearch
            self._stale.check()
            if self.remaining() > 0 and time.monotonic() - self._refreshed < 0.1:
                return  # just read (this worker's last claim): the claim re-checks the budget anyway
            self._refresh()
            if self.remaining() > 0:
                return
            if not self.view.running or not self._stale.enabled:  # without heartbeats a dead worker is undetectable
                raise StopSearch
            self._fail_dead_local()
            self._say_waiting()
            time.sleep(self.poll)

    def _fail_dead_local(self) -> None:
        """Fail at once the running trials of this machine's worker processes that no longer exist."""
        running = [self.view.trials[i] for i in self.view.running if i not in self._own]
        dead = self._stale.fail_dead_local(running, self._host) if self._stale.enabled else []
        if dead:
            print(f"nas.search: trial(s) {', '.join(map(str, dead))} belonged to worker processes of this machine "
                  f"that no longer exist; failed now, to be run again", file=sys.stderr)
            self._refresh()

    def _say_waiting(self) -> None:
        """Say once per trial what the worker waits for, and for how long at most (no silent wait)."""
        new = [self.view.trials[i] for i in sorted(self.view.running) if i not in self._own and i not in self._waited]
        if not new:
            return
        self._waited.update(optuna_compat.trial_id(t) for t in new)
        where = ", ".join(f"trial {t.number} ({t.user_attrs.get('host', '?')} pid {t.user_attrs.get('pid', '?')})"
                          for t in new[:3])
        print(f"nas.search: the budget is reached; waiting for {where} of other workers to finish, or to miss "
              f"heartbeats for {2 * self._stale.interval:.0f} s if a worker died (then it is run again)",
              file=sys.stderr)

    def pending_retries(self) -> int:
        """Interrupted trials (Ctrl-C, a killed worker) waiting to be run again."""
        return sum(1 for t in self.view.pending.values() if not self.view.settled(t.user_attrs.get("genome_key", "")))

    def _next_retry(self) -> FrozenTrial | None:
        """The oldest interrupted trial whose genome nobody has evaluated or is evaluating since."""
        while self.view.pending:
            number = min(self.view.pending)
            trial = self.view.pending.pop(number)
            if not self.view.settled(trial.user_attrs.get("genome_key", "")):
                return trial
        return None

    # ------------------------------------------------------------------ proposing

    def _sync_mirror(self) -> optuna.Study:
        """The mirror, holding every finished trial of the study (a resumed study; other workers' trials)."""
        if self._mirror is None:
            self._mirror = optuna.create_study(directions=list(self.directions), sampler=self.study.sampler,
                                               pruner=self.study.pruner)
        for trial in self._unmirrored:
            self._mirror.add_trial(optuna.trial.create_trial(
                state=trial.state, params=trial.params, distributions=trial.distributions, values=trial.values,
                intermediate_values=trial.intermediate_values))
        self._unmirrored.clear()
        return self._mirror

    def sampled(self) -> Outcome:
        """One trial proposed by the study's sampler (Optuna strategies), proposed on the mirror.

        An interrupted trial is proposed first again (enqueued on the mirror with its params).
        """
        while True:
            self._check_continue()
            mirror = self._sync_mirror()
            retry = self._next_retry()
            if retry is not None:
                mirror.enqueue_trial(retry.params, skip_if_exists=False)
            trial = mirror.ask()
            genome = self.space.suggest(trial)
            try:
                return self._run(genome, dict(trial.params), trial.distributions, trial,
                                 None if retry is None else retry.number)
            except _Surplus:
                continue

    def evaluate(self, params: Mapping[str, Any]) -> Outcome:
        """Evaluate a full assignment chosen by an external strategy, then record it in the study.

        Interrupted trials are run again first, each as its own trial (the strategy sees only
        the outcome of what it proposed).
        """
        params = {d.name: params[d.name] for d in self.space.active(params) if d.name in params}
        self.space.check(params)
        while True:
            self._check_continue()
            retry = self._next_retry()
            chosen, retry_of = (params, None) if retry is None else (retry.params, retry.number)
            distributions = {k: optuna_distribution(self._distributions[k]) for k in chosen}
            try:
                outcome = self._run(self.space.decode(chosen), dict(chosen), distributions, None, retry_of)
            except _Surplus:
                continue
            if retry is None or retry.params == params:  # the retry was this very proposal: it is answered
                return outcome

    # ------------------------------------------------------------------ evaluating

    def _run(self, genome: Network, params: dict[str, Any], distributions: dict[str, Any],
             trial: optuna.Trial | None = None, retry_of: int | None = None) -> Outcome:
        """Claim, evaluate (or look up) and finish one proposal; report it.

        Raises:
            _Surplus: the budget was full when the trial was created (it is marked so; propose again).
        """
        started = datetime.datetime.now()
        attrs: dict[str, Any] = {"genome_key": genome_key(genome), "genome": to_yaml(genome),
                                 "strategy": self.strategy.name, "worker": self.worker, "host": self._host,
                                 "pid": os.getpid(), "pid_start": _PID_START}
        if retry_of is not None:
            attrs["retry_of"] = retry_of
        trial_id = self._claim(params, distributions, attrs, started)
        number = self.view.trials[trial_id].number
        values: tuple[float, ...] | None = None
        with self._heartbeat.beating(trial_id):
            try:
                if self.view.ahead(trial_id) >= self.trials:
                    self._finish(trial_id, trial, TrialState.FAIL, None, {"surplus": True})
                    raise _Surplus
                results: dict[str, Any] = {}
                values = self._evaluate(genome, trial, attrs["genome_key"], trial_id, results)
                state = TrialState.FAIL if values is None else TrialState.COMPLETE
            except optuna.TrialPruned as pruned:
                state, results["pruned"] = TrialState.PRUNED, str(pruned)
            except KeyboardInterrupt:
                # Finished without a reason: it does not count, and the next proposal runs it again.
                self._finish(trial_id, trial, TrialState.FAIL, None, {"interrupted": True})
                raise
        if not self._finish(trial_id, trial, state, values, results):
            return Outcome(params, None, True, number, False)
        attrs.update(results)
        return self._record(number, genome, params, attrs, values)

    def _claim(self, params: dict[str, Any], distributions: dict[str, Any], attrs: dict[str, Any],
               started: datetime.datetime) -> int:
        """Create the trial ``RUNNING`` (params, attributes, first heartbeat) in one write; read the study; its id."""
        frozen = optuna.trial.create_trial(state=TrialState.RUNNING, params=params, distributions=distributions,
                                           user_attrs=attrs)
        frozen.datetime_start = started  # the time the evaluation started, for durations in optuna-dashboard
        template = optuna_compat.shallow_template(frozen)  # never mutated after: no deep copy needed
        created = self.view.storage.create_new_trial(optuna_compat.study_id(self.study), template_trial=template)
        self._own.add(created)
        self.view.written(created, frozen)
        self._refresh()  # every trial created before this one is visible now
        return created

    def _finish(self, trial_id: int, trial: optuna.Trial | None, state: TrialState,
                values: tuple[float, ...] | None, attrs: dict[str, Any]) -> bool:
        """Write the results of a claimed trial in one transaction (and tell the mirror); ``False`` if it was lost.

        A trial is lost when another worker failed it as stale first (this worker stalled past
        the grace period); it is then retried like any interrupted trial, and this result is dropped.
        """
        storage = self.view.storage
        intermediate: dict[int, float] = {}
        if trial is not None:
            intermediate = self._mirror.tell(trial, None if values is None else list(values),
                                             state=state).intermediate_values
            for step, value in intermediate.items():
                storage.set_trial_intermediate_value(trial_id, step, value)
        claimed = self.view.trials[trial_id]
        try:
            _finish_trial(storage, trial_id, state, values, attrs)
        except optuna.exceptions.UpdateFinishedTrialError:
            print(f"nas.search: trial {claimed.number} was failed by another worker (no heartbeat within the grace "
                  f"period) before it finished; its result is dropped and the trial is retried", file=sys.stderr)
            return False
        done = copy.copy(claimed)  # the same trial, finished as written (no re-validation of 40-odd params)
        done.state, done.values, done.datetime_complete = state, None if values is None else list(values), \
            datetime.datetime.now()
        done.user_attrs, done.intermediate_values = {**claimed.user_attrs, **attrs}, dict(intermediate)
        self.view.written(trial_id, done)
        return True

    def _evaluate(self, genome: Network, trial: optuna.Trial | None, key: str, trial_id: int,
                  attrs: dict[str, Any]) -> tuple[float, ...] | None:
        """The reward (``None``: failed), from an earlier trial of the genome or the evaluators; fills ``attrs``."""
        earlier = self._earlier_result(key, trial_id)
        if earlier is not None:
            attrs.update(metrics=earlier.metrics, cached_from=earlier.number)
            if earlier.values is None:
                attrs["reason"] = earlier.reason or "failed before"
            else:
                attrs["reward"] = list(earlier.values)
            return earlier.values
        ctx = self.context
        if trial is not None:  # intermediate values reach the study's pruner
            ctx = optuna_context(trial, self.context)
        with self.interrupts.immediate():
            metrics = evaluate(genome, self.evaluators, ctx)
        attrs["metrics"] = flat = metrics.flat()
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

    def _earlier_result(self, key: str, trial_id: int) -> TrialRecord | None:
        """The result of genome ``key`` from another trial, waiting while an older trial of it runs.

        ``None``: this trial is the genome's oldest live claim, so it evaluates.
        """
        while True:
            if key in self._cache:
                return self._cache[key]
            if not self._stale.enabled or not any(optuna_compat.trial_id(t) in self.view.running
                                                  for t in self.view.claims(key, trial_id)):
                return None
            time.sleep(self.poll)
            self.interrupts.check()
            self._stale.check()
            self._refresh()
            self._fail_dead_local()

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
        if not pruned and "cached_from" not in attrs:
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


def _finish_trial(storage: optuna.storages.BaseStorage, trial_id: int, state: TrialState,
                  values: tuple[float, ...] | None, attrs: dict[str, Any]) -> None:
    """Results, then the finished state: in one transaction where the storage offers it."""
    finish = getattr(storage, "finish_trial", None)
    if finish is not None:
        finish(trial_id, state, None if values is None else list(values), attrs, new_keys=True)
        return
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    storage.set_trial_state_values(trial_id, state, None if values is None else list(values))


def _outcome(trial: FrozenTrial) -> Outcome:
    values = tuple(trial.values) if trial.state == TrialState.COMPLETE and trial.values is not None else None
    return Outcome(dict(trial.params), values, values is None, trial.number, "cached_from" in trial.user_attrs)
