"""A worker's view of the study: its trials, refreshed incrementally, and what the search asks of them.

Every worker decides from the study alone (it may share it with workers on other
machines): how many trials count toward ``--trials``, which genome is being or has been
evaluated, which trials were interrupted and still need a retry. Reading a whole study
before every trial costs O(trials) (at 10,000 trials, seconds); :meth:`StudyView.refresh`
reads only the trials created since the last read and those that were still running then.

What the trial states mean to a search (user attributes written by the driver):

- ``COMPLETE`` / ``PRUNED``, and ``FAIL`` with a ``reason`` (a candidate that failed:
  NaN loss, out of memory): finished results; they count toward the trial budget.
- ``RUNNING``: being evaluated; counts (a worker that died is failed by heartbeat later).
- ``FAIL`` without a reason: interrupted (Ctrl-C, SIGTERM, a killed worker failed as
  stale); does not count, and is retried (a later trial has ``retry_of`` = its number).
- ``FAIL`` with ``surplus``: created when the budget was already full (two workers started
  the last trial at once); never evaluated, does not count, is not retried.
"""

from __future__ import annotations

from collections import defaultdict

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.search import optuna_compat

__all__ = ["StudyView", "counts", "has_result", "interrupted"]


def has_result(trial: FrozenTrial) -> bool:
    """A finished evaluation: complete, or a candidate that failed with a recorded reason."""
    return trial.state == TrialState.COMPLETE or (trial.state == TrialState.FAIL and "reason" in trial.user_attrs)


def counts(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward the trial budget: a result, pruned, or running."""
    return has_result(trial) or trial.state in (TrialState.PRUNED, TrialState.RUNNING)


def interrupted(trial: FrozenTrial) -> bool:
    """Stopped before it finished (and so to be retried): failed without a reason, not a surplus trial."""
    return (trial.state == TrialState.FAIL and "reason" not in trial.user_attrs
            and "surplus" not in trial.user_attrs)


class StudyView:
    """The trials of ``study``, with the indexes a search needs, kept current by :meth:`refresh`.

    Attributes:
        trials: Every trial read so far, by trial id.
        counting: Ids of the trials that count toward the budget.
        running: Ids of the running trials.
        by_key: Genome key -> ids of the trials of that genome, oldest first.
        pending: Interrupted trials not yet retried, by number.
    """

    def __init__(self, study: optuna.Study) -> None:
        #: The storage itself, past Optuna's caching wrapper of RDB storages: this view is the cache.
        self.storage = optuna_compat.uncached(optuna_compat.study_storage(study))
        self._study_id = optuna_compat.study_id(study)
        self.trials: dict[int, FrozenTrial] = {}
        self.counting: set[int] = set()
        self.running: set[int] = set()
        self.by_key: dict[str, list[int]] = defaultdict(list)
        self.pending: dict[int, FrozenTrial] = {}
        self._retried: set[int] = set()
        self._max_id = -1
        self._written: dict[int, FrozenTrial] = {}  # trials this worker wrote, as it wrote them

    def written(self, trial_id: int, trial: FrozenTrial) -> None:
        """This worker wrote ``trial`` as ``trial_id``: take it as is instead of reading it back.

        A trial already in the view is updated at once (its finished state, results).
        """
        self._written[trial_id] = trial
        if trial_id in self.trials:
            self._index(optuna_compat.with_ids(trial, self.trials[trial_id].number, trial_id), new=False)
            if trial.state.is_finished():  # never read again (only new and running trials are)
                del self._written[trial_id]

    def refresh(self) -> list[FrozenTrial]:
        """Read what changed since the last refresh; the trials that are new or changed state, oldest first."""
        fresh = None
        if isinstance(self.storage, optuna.storages.RDBStorage):
            fresh = self._read_rdb()
        elif hasattr(self.storage, "changed_trials"):  # the journal storage: its replay of the log, in memory
            fresh = self.storage.changed_trials(self._study_id, len(self.trials), self.running)
        if fresh is None:
            fresh = [t for t in self.storage.get_all_trials(self._study_id, deepcopy=False)
                     if optuna_compat.trial_id(t) > self._max_id or optuna_compat.trial_id(t) in self.running]
        changed = []
        for trial in sorted(fresh, key=optuna_compat.trial_id):
            old = self.trials.get(optuna_compat.trial_id(trial))
            if old is not None and old.state == trial.state:
                continue
            self._index(trial, new=old is None)
            changed.append(trial)
        return changed

    def _read_rdb(self) -> list[FrozenTrial] | None:
        """New and formerly running trials: ids and states in one light query, then only what must be loaded.

        A trial this worker wrote is not read back (its 40-odd params and attributes would be
        most of the cost); only trials of other workers, or of its own that changed behind its
        back (failed as stale), are loaded in full. ``None``: no light query with this Optuna.
        """
        rows = optuna_compat.rdb_trial_states(self.storage, self._study_id, self._max_id, self.running)
        if rows is None:
            return None
        fresh, load = [], set()
        for tid, number, state in rows:
            mine = self._written.get(tid)
            if mine is not None and mine.state == state:
                fresh.append(optuna_compat.with_ids(mine, number, tid))
            elif tid not in self.trials or self.trials[tid].state != state:
                load.add(tid)
        if load:
            fresh += optuna_compat.rdb_trials(self.storage, self._study_id, load)
        return fresh

    def _index(self, trial: FrozenTrial, new: bool) -> None:
        tid = optuna_compat.trial_id(trial)
        self.trials[tid] = trial
        self._max_id = max(self._max_id, tid)
        for ids, member in ((self.counting, counts(trial)), (self.running, trial.state == TrialState.RUNNING)):
            if member:
                ids.add(tid)
            else:
                ids.discard(tid)
        if new and "genome_key" in trial.user_attrs:
            self.by_key[trial.user_attrs["genome_key"]].append(tid)
        retry_of = trial.user_attrs.get("retry_of")
        if new and retry_of is not None:
            self._retried.add(retry_of)
            self.pending.pop(retry_of, None)
        if interrupted(trial) and trial.number not in self._retried and trial.params:
            self.pending[trial.number] = trial

    def ahead(self, trial_id: int) -> int:
        """How many trials created before ``trial_id`` count toward the budget."""
        return sum(1 for i in self.counting if i < trial_id)

    def claims(self, key: str, before: int) -> list[FrozenTrial]:
        """The trials of genome ``key`` created before trial id ``before``, oldest first."""
        return [self.trials[i] for i in self.by_key.get(key, ()) if i < before]

    def settled(self, key: str) -> bool:
        """Whether genome ``key`` has a result or a running evaluation (so retrying it would add nothing)."""
        return any(has_result(self.trials[i]) or i in self.running for i in self.by_key.get(key, ()))
