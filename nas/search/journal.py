"""Optuna's journal file storage, with heartbeats: many processes on one machine, no database.

SQLite serialises writers with a file lock that every write waits on; Optuna's journal
storage appends one JSON line per operation to a log file instead, and each process
replays the log into memory. That suits many worker processes on one machine (one file
system; the lock is a symlink or an ``open(O_EXCL)``), not several machines: use
PostgreSQL for those.

Optuna gives heartbeats (and so :func:`optuna.storages.fail_stale_trials`) only to RDB
storages. :class:`JournalStore` adds them: a heartbeat is the trial system attribute
``heartbeat`` (seconds since the epoch, this machine's clock, which every process on the
machine shares), and a running trial whose last heartbeat is older than the grace period
is stale. Like Optuna's, a running trial that never had a heartbeat is never stale.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial, TrialState

from nas.search import optuna_compat

__all__ = ["LOCK_GRACE_S", "JournalStore"]

#: A lock left by a killed process is broken after this many seconds (a write holds it for milliseconds).
LOCK_GRACE_S = 10

_HEARTBEAT = "heartbeat"


class JournalStore(JournalStorage, optuna_compat.HeartbeatStorage):
    """A journal file storage whose running trials have heartbeats.

    Args:
        path: The log file (created if missing).
        heartbeat_interval: Seconds between a running trial's heartbeats (``None``: no heartbeats).
        grace_period: A trial is stale after this many seconds without one (default twice the interval).
    """

    #: A trial created ``RUNNING`` gets its first heartbeat in the same log line (:meth:`create_new_trial`).
    heartbeat_with_new_trial = True

    def __init__(self, path: str, heartbeat_interval: int | None = None, grace_period: int | None = None) -> None:
        lock = JournalFileOpenLock(path, grace_period=LOCK_GRACE_S)
        backend = JournalFileBackend(path, lock_obj=lock)
        _drop_half_written_line(lock, Path(path))
        super().__init__(backend)
        self.path = path
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        """Optuna's, with the first heartbeat written in the same log line for a running trial."""
        if template_trial is not None and template_trial.state == TrialState.RUNNING and self.heartbeat_interval:
            template_trial = _with_system_attr(template_trial, _HEARTBEAT, time.time())
        return super().create_new_trial(study_id, template_trial)

    def changed_trials(self, study_id: int, known: int, watch: Collection[int]) -> list[FrozenTrial]:
        """The study's trials after its first ``known`` ones, and those with ids in ``watch``: O(changes), not O(trials)."""
        return optuna_compat.journal_changed_trials(self, study_id, known, watch)

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, _HEARTBEAT, time.time())

    def stale_trial_ids(self, study_id: int) -> list[int]:
        assert self.heartbeat_interval is not None
        grace = self.grace_period or 2 * self.heartbeat_interval
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [optuna_compat.trial_id(t) for t in running
                if _HEARTBEAT in t.system_attrs and now - float(t.system_attrs[_HEARTBEAT]) > grace]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return None

    def finish_trial(self, trial_id: int, state: TrialState, values: Sequence[float] | None,
                     attrs: Mapping[str, Any], new_keys: bool = False) -> None:
        """Append the results (user attributes, values, state) as one write, so no reader sees half of them.

        ``new_keys`` is accepted for the RDB storage's signature (appending costs the same either way).
        (:func:`nas.search.optuna_compat.journal_finish` says how.)

        Raises:
            optuna.exceptions.UpdateFinishedTrialError: the trial was already finished (failed as stale).
        """
        before, trial = optuna_compat.journal_finish(self, trial_id, state, values, attrs)
        written = (not before.state.is_finished() and trial.state == state
                   and trial.values == (None if values is None else list(values))
                   and all(trial.user_attrs.get(key) == value for key, value in attrs.items()))
        if not written:
            raise optuna.exceptions.UpdateFinishedTrialError(
                f"trial {trial.number} was finished by another process ({trial.state.name}) before its results")


def _drop_half_written_line(lock: JournalFileOpenLock, path: Path) -> None:
    """Cut a last line left half-written by a killed writer, under the journal's lock.

    Readers already skip such a line, but the next append would land after it and make one
    undecodable line in the middle of the log, which no reader can pass. It was never a
    complete operation, so no process has applied it: cutting it loses nothing.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    lock.acquire()
    try:
        with path.open("rb+") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 1))
            if log.read(1) != b"\n":
                log.seek(0)
                log.truncate(log.read().rfind(b"\n") + 1)
    finally:
        lock.release()


def _with_system_attr(trial: FrozenTrial, key: str, value: Any) -> FrozenTrial:
    """``trial`` with one more system attribute (a shallow copy: the template is not re-validated)."""
    copied = copy.copy(trial)
    copied.system_attrs = {**trial.system_attrs, key: value}
    return copied
