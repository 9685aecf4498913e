"""When Ctrl-C may interrupt a search: at once during an evaluation, deferred everywhere else.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside a
database write that can be between a lock's acquire and its release (SQLAlchemy's pool,
SQLite's connection), and the write the driver then makes to record the interrupted
trial waits on that lock forever: the search hangs instead of stopping. So while a
search runs, SIGINT only sets a flag, except inside :meth:`Interrupts.immediate` (the
evaluators: minutes of training that Ctrl-C must cut short). The driver checks the flag
before each trial and raises ``KeyboardInterrupt`` there, where no write is in flight.
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

    def __init__(self) -> None:
        self.pending = False
        self._immediate = False
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self._immediate:
            raise KeyboardInterrupt
        self.pending = True

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Defer SIGINT for the duration (main thread only; elsewhere this is a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._handler)
        self._installed = True
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self._installed = False

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
