"""Files: atomic writes, checked paths and checked output directories, OS errors as one sentence.

Everything the toolkit saves (genomes, ``found.yaml``, latency tables, trial tables,
plots) goes through :func:`atomic_write`, so an interrupted run never leaves a damaged
result behind, and an operating-system error (permission denied, disk full, a directory
where a file should go) becomes an :class:`OutputError` naming the path. Commands check
their inputs' paths (:func:`check_path`) and their output directory
(:func:`prepare_dir`) before any work starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from search_spaces.errors import UserInputError

__all__ = ["MIN_FREE_BYTES", "NAME_MAX", "PATH_MAX", "OutputError", "atomic_write", "atomic_write_text", "check_path",
           "prepare_dir"]

#: Longest file name (bytes) and path (bytes) on Linux and macOS file systems; longer ones fail in the OS.
NAME_MAX, PATH_MAX = 255, 4096
#: Free space an output directory must have before a run starts writing into it.
MIN_FREE_BYTES = 16 * 2**20


class OutputError(UserInputError):
    """A result cannot be written where the user asked (permissions, a full disk, a directory in the way)."""


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def check_path(path: str | os.PathLike[str], what: str = "path") -> Path:
    """``path`` as a ``Path`` if the operating system could use it, else one sentence naming ``what``.

    Refused: an empty path (it would mean the current directory), a NUL character, a
    component longer than :data:`NAME_MAX` bytes or a path longer than :data:`PATH_MAX`.
    """
    text = os.fspath(path)
    if not text.strip():
        raise UserInputError(f"{what} is empty; give a file or directory path")
    if "\0" in text:
        raise UserInputError(f"{what} {text!r} contains a NUL character, which no file name may hold")
    if len(os.fsencode(text)) > PATH_MAX:
        raise UserInputError(f"{what} is {len(os.fsencode(text))} bytes long, more than the {PATH_MAX} a path may have")
    for part in Path(text).parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise UserInputError(f"{what} {text[:40]!r}...: a path component is {len(os.fsencode(part))} bytes long, "
                                 f"more than the {NAME_MAX} a file name may have")
    return Path(text)


def prepare_dir(path: str | os.PathLike[str], what: str = "output directory", outputs: Sequence[str] = ()) -> Path:
    """Create directory ``path`` (and its parents) if needed and check that results can be written into it.

    Checked before any work starts: the path (:func:`check_path`), that it is or can become
    a directory, that a file can be created, written and synced in it, that it has at least
    :data:`MIN_FREE_BYTES` free, and that none of ``outputs`` (file names the command will
    write) is a directory.

    Raises:
        OutputError: one sentence naming the path and what the operating system said.
    """
    directory = check_path(path, what)
    for name in outputs:
        check_path(directory / name, "output file")  # a genome's long name can make its file name too long
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{what} {directory} cannot be created: {_reason(err)}") from None
    if not directory.is_dir():
        raise OutputError(f"{what} {directory} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=directory)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{what} {directory} cannot be written: {_reason(err)}") from None
    free = shutil.disk_usage(directory).free
    if free < MIN_FREE_BYTES:
        raise OutputError(f"{what} {directory} has only {free // 1024} KiB free; a run needs at least "
                          f"{MIN_FREE_BYTES // 2**20} MiB for its results")
    for name in outputs:
        if (directory / name).is_dir():
            raise OutputError(f"{directory / name} is a directory; the results would be written there as a file")
    return directory


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object], mode: int = 0o644) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, sync it, then rename it over ``path``.

    Args:
        path: The destination; its directory is created if needed.
        write: Writes the content into the binary handle it is given.
        mode: Permissions of the new file (``mkstemp``'s 0600 would hide it from other users).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OutputError: the operating system refused (permissions, a full disk, a directory at
            ``path``); the old file, if any, is untouched.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise OutputError(f"cannot write {target}: {_reason(err)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {_reason(err)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))
