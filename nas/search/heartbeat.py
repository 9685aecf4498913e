"""Heartbeats of a running trial, and failing the trials whose worker stopped beating.

A worker records a heartbeat for its running trial every ``interval`` seconds from a
background thread, so a long evaluation (minutes of training) keeps its trial alive. A
worker killed by SIGKILL, a lost machine or a preemption stops beating; after the grace
period (twice the interval) any other worker fails the trial
(:func:`optuna.storages.fail_stale_trials`), and the search retries it.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled

__all__ = ["StaleTrials", "beating"]


@contextmanager
def beating(storage: optuna.storages.BaseStorage, trial_id: int) -> Iterator[None]:
    """Record heartbeats for ``trial_id`` while the block runs (nothing if the storage has none)."""
    if not is_heartbeat_enabled(storage):
        yield
        return
    stop = threading.Event()
    interval = float(storage.get_heartbeat_interval())  # type: ignore[attr-defined]

    def beat() -> None:
        warned = False
        while not stop.wait(interval):
            try:
                storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            except Exception as err:  # noqa: BLE001 (a lost connection: keep trying, say so once)
                if not warned:
                    print(f"nas.search: heartbeat of a running trial failed ({type(err).__name__}: {err}); "
                          f"retrying", file=sys.stderr)
                    warned = True

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class StaleTrials:
    """Fails a study's stale trials, at most once per heartbeat interval (the check is a query)."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        storage = study._storage
        self.enabled = is_heartbeat_enabled(storage)
        self.interval = float(storage.get_heartbeat_interval()) if self.enabled else 0.0  # type: ignore[attr-defined]
        self._last = -float("inf")

    def check(self, force: bool = False) -> None:
        """Fail every running trial whose worker has not beaten within the grace period."""
        if not self.enabled or (not force and time.monotonic() - self._last < self.interval):
            return
        self._last = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
