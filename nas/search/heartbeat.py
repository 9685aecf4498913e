"""Heartbeats of a running trial, and failing the trials whose worker stopped beating.

A worker records a heartbeat for its running trial every ``interval`` seconds from a
background thread, so a long evaluation (minutes of training) keeps its trial alive. A
worker killed by SIGKILL, a lost machine or a preemption stops beating; after the grace
period (twice the interval) any other worker fails the trial
(:func:`optuna.storages.fail_stale_trials`), and the search retries it.

A trial whose worker was a process of *this* machine that no longer exists (a search killed
and resumed on the same machine) is failed at once instead (:meth:`StaleTrials.fail_dead_local`):
waiting for its heartbeat to go stale would only make the resume sit still for up to the
grace period. A process is recognised by the host name, its pid and its start time (so a
reused pid is not mistaken for the worker).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.search import optuna_compat

__all__ = ["Heartbeat", "StaleTrials", "process_alive", "process_start"]


def process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat``); empty where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    return fields[19] if len(fields) > 19 else ""


def process_alive(pid: int, started: str = "") -> bool:
    """Whether process ``pid`` of this machine exists and, if ``started`` is known, is the one that started then."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's): not provably dead
    return not started or process_start(pid) in ("", started)


class Heartbeat:
    """Records heartbeats for the trial a worker is running, from one background thread for its life.

    (One thread per trial cost a start and a join on every trial of a search.) The first
    heartbeat of a trial is the one its storage writes with it (``heartbeat_with_new_trial``);
    with other storages it is written when :meth:`beating` starts.
    """

    def __init__(self, storage: optuna.storages.BaseStorage) -> None:
        self.storage = storage
        self.enabled = optuna_compat.heartbeat_enabled(storage)
        self._first_written = bool(getattr(optuna_compat.uncached(storage), "heartbeat_with_new_trial", False))
        self._trial: int | None = None
        self._thread: threading.Thread | None = None

    def beating(self, trial_id: int) -> Heartbeat:
        """Beat for ``trial_id`` until the ``with`` block this is used in ends (nothing without heartbeats)."""
        if self.enabled:
            if not self._first_written:
                self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
                self._thread.start()
            self._trial = trial_id
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._trial = None

    def _beat(self) -> None:
        interval = float(self.storage.get_heartbeat_interval())  # type: ignore[attr-defined]
        warned = False
        while True:
            time.sleep(interval)
            trial = self._trial
            if trial is None:
                continue
            try:
                self.storage.record_heartbeat(trial)  # type: ignore[attr-defined]
            except Exception as err:  # noqa: BLE001 (a lost connection: keep trying, say so once)
                if not warned:
                    print(f"nas.search: heartbeat of a running trial failed ({type(err).__name__}: {err}); "
                          f"retrying", file=sys.stderr)
                    warned = True


class StaleTrials:
    """Fails a study's stale trials, at most once per heartbeat interval (the check is a query)."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        storage = optuna_compat.study_storage(study)
        self.enabled = optuna_compat.heartbeat_enabled(storage)
        self.interval = float(storage.get_heartbeat_interval()) if self.enabled else 0.0  # type: ignore[attr-defined]
        self._last = -float("inf")

    def fail_dead_local(self, trials: Iterable[FrozenTrial], host: str) -> list[int]:
        """Fail now the running ``trials`` whose worker was a process of ``host`` (this machine) that is gone.

        Returns:
            The numbers of the trials failed (they are retried like any interrupted trial).
        """
        storage = optuna_compat.uncached(optuna_compat.study_storage(self.study))
        failed = []
        for trial in trials:
            attrs = trial.user_attrs
            pid = attrs.get("pid")
            if attrs.get("host") != host or not isinstance(pid, int) or process_alive(pid, attrs.get("pid_start", "")):
                continue
            try:
                storage.set_trial_state_values(optuna_compat.trial_id(trial), TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # it finished meanwhile
            failed.append(trial.number)
        return failed

    def check(self, force: bool = False) -> None:
        """Fail every running trial whose worker has not beaten within the grace period."""
        if not self.enabled or (not force and time.monotonic() - self._last < self.interval):
            return
        self._last = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
