"""Atomic file writes: readers see the old file or the new one, never half of one.

Everything the toolkit saves (genomes, ``found.yaml``, latency tables, trial tables,
plots) goes through :func:`atomic_write`, so an interrupted run never leaves a damaged
result behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_text"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object], mode: int = 0o644) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, sync it, then rename it over ``path``.

    Args:
        path: The destination; its directory is created if needed.
        write: Writes the content into the binary handle it is given.
        mode: Permissions of the new file (``mkstemp``'s 0600 would hide it from other users).

    Returns:
        ``path`` as a ``Path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))
