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
        self._storage = study._storage
        self._study_id = study._study_id
        self.trials: dict[int, FrozenTrial] = {}
        self.counting: set[int] = set()
        self.running: set[int] = set()
        self.by_key: dict[str, list[int]] = defaultdict(list)
        self.pending: dict[int, FrozenTrial] = {}
        self._retried: set[int] = set()
        self._max_id = -1

    def refresh(self) -> list[FrozenTrial]:
        """Read what changed since the last refresh; the trials that are new or changed state, oldest first."""
        if isinstance(self._storage, optuna.storages.RDBStorage):
            fresh = self._storage._get_trials(self._study_id, None, set(self.running), self._max_id)
        else:  # the journal storage replays its log in memory: listing is cheap
            fresh = [t for t in self._storage.get_all_trials(self._study_id, deepcopy=False)
                     if t._trial_id > self._max_id or t._trial_id in self.running]
        changed = []
        for trial in sorted(fresh, key=lambda t: t._trial_id):
            old = self.trials.get(trial._trial_id)
            if old is not None and old.state == trial.state:
                continue
            self._index(trial, new=old is None)
            changed.append(trial)
        return changed

    def _index(self, trial: FrozenTrial, new: bool) -> None:
        tid = trial._trial_id
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
