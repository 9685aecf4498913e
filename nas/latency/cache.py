"""This device's latency tables, cached on disk and built once however many processes ask at the same time.

Where: ``$NAS_TOOLKIT_CACHE/latency`` when that variable is set, else
``$XDG_CACHE_HOME/nas-toolkit/latency``, else ``~/.cache/nas-toolkit/latency``
(:func:`cache_dir`). One JSON file per table (:func:`cache_path`), named by the space, the
resolution, the batch, the threads and the device, plus a digest of everything else that
makes a table differ: the device fingerprint (CPU model, cores, threads, torch version,
CUDA device; :func:`~nas.latency.measure.device_fingerprint`) and every field of the
:class:`~nas.latency.space_table.TableRecipe`. A table made on another machine or with
other settings therefore never answers for this one; delete the directory to measure again.

Building (:func:`cached_table`): a missing table is built by ``python -m nas.latency table``
in a child process, so the steady allocator it times with (process-wide and permanent,
:func:`~nas.latency.measure.steady_allocator`) and its thread settings never touch the
caller. While it builds, the caller holds an exclusive ``flock`` on ``<table>.lock``;
another process asking for the same table waits on the lock (and says so on stderr), then
reads the finished file. The table is written atomically, so a reader never sees half of
one, and a build killed half-way leaves no file: the next caller builds again (the kernel
drops a dead process's lock). Without ``fcntl`` (not POSIX) there is no lock: concurrent
callers may each build, and the last atomic write wins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import search_spaces as ss
from nas.latency.measure import device_fingerprint
from nas.latency.space_table import TableRecipe
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

try:
    import fcntl
except ImportError:  # pragma: no cover  (not POSIX)
    fcntl = None  # type: ignore[assignment]

__all__ = ["CACHE_ENV", "cache_dir", "cache_path", "cached_table", "file_lock", "recipe_args", "space_of"]

#: Environment variable naming the toolkit's cache directory (tables go to its ``latency`` folder).
CACHE_ENV = "NAS_TOOLKIT_CACHE"


def cache_dir() -> Path:
    """The directory of cached latency tables (see the module docstring)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "latency"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nas-toolkit" / "latency"


def cache_path(recipe: TableRecipe) -> Path:
    """Where this device's table for ``recipe`` lives (it may not exist yet)."""
    fingerprint = device_fingerprint(recipe.device, recipe.threads)
    identity = json.dumps({"fingerprint": fingerprint, **dataclasses.asdict(recipe)}, sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    side = f"{recipe.resolution}px" if recipe.resolution is not None else "default-px"
    device = re.sub(r"[^A-Za-z0-9]+", "", recipe.device)
    return cache_dir() / f"{recipe.space}_{side}_b{recipe.batch}_t{recipe.threads}_{device}_{digest}.json"


def space_of(genome: Network) -> str | None:
    """The registered space a genome was sampled from, read from its name (``mbconv_1a2b3c4d5e``), or ``None``.

    Every space names the genomes it decodes ``<space>_<10 hex digits>``
    (:func:`search_spaces.spaces.base.params_digest`); a zoo model or a hand-written
    genome has no such name.
    """
    prefix, _, digest = genome.name.rpartition("_")
    if prefix in ss.spaces.names() and re.fullmatch(r"[0-9a-f]{10}", digest):
        return prefix
    return None


@contextmanager
def file_lock(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block; ``on_wait()`` if it must wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        if fcntl is None:  # pragma: no cover
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def recipe_args(recipe: TableRecipe) -> list[str]:
    """``python -m nas.latency table`` arguments that build ``recipe`` (``--out`` not included)."""
    args = ["--space", recipe.space]
    for f in dataclasses.fields(recipe):
        value = getattr(recipe, f.name)
        if f.name in ("space", "steady") or value is None:
            continue
        args += [f"--{f.name.replace('_', '-')}", str(value)]
    return args + (["--steady-allocator"] if recipe.steady else ["--no-steady-allocator"])


def cached_table(recipe: TableRecipe, *, log: Callable[[str], None] | None = None) -> Path:
    """This device's table for ``recipe``: from the cache, or built now (once, whoever else asks; see above).

    Raises:
        UserInputError: the build failed (its own error was printed on stderr).
    """
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    path = cache_path(recipe)
    if path.exists():
        return path
    with file_lock(path.with_name(path.name + ".lock"),
                   on_wait=lambda: say(f"latency-lut: waiting for another process to finish building {path}")):
        if path.exists():  # built by whoever held the lock before us
            return path
        say(f"latency-lut: no latency table for this device yet; building one for space {recipe.space!r} "
            f"into {path} (once: later runs on this machine reuse it; the time it takes is estimated below as soon "
            f"as a few parts are timed)")
        start = time.perf_counter()
        command = [sys.executable, "-m", "nas.latency", "table", *recipe_args(recipe), "--out", str(path)]
        proc = subprocess.run(command, check=False, env=_child_env(), stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0 or not path.exists():
            raise UserInputError(f"building the latency table for space {recipe.space!r} failed (exit "
                                 f"{proc.returncode}; its error is printed above); command: {' '.join(command)}")
        summary = proc.stdout.strip().splitlines()[-1:] or [f"wrote {path}"]
        say(f"latency-lut: {summary[0]} (build took {time.perf_counter() - start:.0f} s)")
    return path


def _child_env() -> dict[str, str]:
    """This environment, with the directory this toolkit is imported from first on ``PYTHONPATH``."""
    root = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + rest if rest else "")}
