"""When Ctrl-C (or SIGTERM) may interrupt a search: at once during an evaluation, deferred everywhere else.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside a
database write that can be between a lock's acquire and its release (SQLAlchemy's pool,
SQLite's connection), and the write the driver then makes to record the interrupted
trial waits on that lock forever: the search hangs instead of stopping. So while a
search runs, SIGINT only sets a flag, except inside :meth:`Interrupts.immediate` (the
evaluators: minutes of training that Ctrl-C must cut short). The driver checks the flag
before each trial and raises ``KeyboardInterrupt`` there, where no write is in flight.

SIGTERM (``kill``, a batch scheduler's preemption, ``docker stop``) is handled the same way,
so the running trial is finished as interrupted (and retried) instead of being left
running until its heartbeat goes stale; :attr:`Interrupts.signum` says which signal came.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupts"]


class Interrupts:
    """A search's SIGINT policy; inert (Python's default behaviour) until :meth:`installed`."""

    #: The signals handled: Ctrl-C and a polite kill.
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.pending = False
        #: The last signal received (``SIGINT`` unless a SIGTERM came); the exit code is 128 + it.
        self.signum = int(signal.SIGINT)
        self._immediate = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        if self._immediate:
            raise KeyboardInterrupt
        self.pending = True

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Defer SIGINT and SIGTERM for the duration (main thread only; elsewhere this is a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in self.SIGNALS}
        for s in self.SIGNALS:
            signal.signal(s, self._handler)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextmanager
    def immediate(self) -> Iterator[None]:
        """Let SIGINT raise at once inside the block (an evaluation); raise first if one is pending."""
        self.check()
        self._immediate = True
        try:
            yield
        finally:
            self._immediate = False

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a SIGINT arrived while deferred."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt
