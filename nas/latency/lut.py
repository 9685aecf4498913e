"""Per-block latency lookup table: measure each distinct block once per device, predict by summing.

A network's latency is predicted as ``stem + sum(blocks) + head``, each term looked up by
a key that names exactly what was timed: the resolved spec (every field that takes part
in equality, so a block's training-only drop-path rate is left out), its input size and,
for two-input cells, the size of ``prev``. Keys are built from field names and values
only (no ``id()``, no ``hash()``), so they are the same in every process and on every
machine, and a table saved as JSON can be reused and extended later.

The table is tied to where it was measured: its device fingerprint (CPU model, cores,
threads, torch version, CUDA device; :func:`~nas.latency.measure.device_fingerprint`) is
saved with it, as are its settings (batch, memory format, allocator, repeats).
:meth:`LatencyTable.load` refuses a table from another fingerprint unless asked not to,
and a table never takes measurements from a device other than its own.

This is the lookup-table half of nn-Meter's idea (Zhang et al. 2021, "nn-Meter"): there,
kernels are detected and predicted per kernel; here our blocks are the kernels, and a
small learned correction (:mod:`nas.latency.predictor`) accounts for what isolation
misses (caches warm in isolation, cold in the whole network).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.latency.measure import device_fingerprint, measure
from search_spaces.blocks import BLOCKS, ChainBlock, next_prev, plan_cost
from search_spaces.cost import block_costs
from search_spaces.errors import UserInputError
from search_spaces.files import atomic_write_text
from search_spaces.genome import Network
from search_spaces.layers import Cost
from search_spaces.resolve import ResolvedNet, resolve

__all__ = ["FORMAT", "LatencyItem", "LatencyTable", "MissingEntryError", "Profile", "spec_key"]

#: Identifies our table files (and their layout version).
FORMAT = "nas-latency-table/1"
MISSING = ("raise", "measure")
_PROFILE_CACHE = 4096  # genomes whose keys are kept; a search revisits recent ones


class MissingEntryError(UserInputError):
    """A genome needs table entries the table does not have (and it was told not to measure them).

    Attributes:
        genome: Name of the genome.
        keys: The missing keys, in forward order.
    """

    def __init__(self, message: str, genome: str, keys: list[str]) -> None:
        super().__init__(message)
        self.genome, self.keys = genome, keys


@lru_cache(maxsize=16384)
def spec_key(value: Any) -> str:
    """A stable text key of a frozen spec: type name and compared fields, recursively.

    Fields declared ``compare=False`` (training-only rates such as drop-path) are left out,
    as they are from the spec's equality. Numbers are written by value (``True``, ``1`` and
    ``1.0`` all give ``1``), so equal specs always get equal text and the memo cannot make
    a key depend on which of two equal specs came first. Raises ``TypeError`` for values
    with no stable text (anything but dataclasses, tuples, numbers, strings and ``None``).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = (f"{f.name}={spec_key(getattr(value, f.name))}" for f in dataclasses.fields(value) if f.compare)
        return f"{type(value).__name__}({','.join(parts)})"
    if isinstance(value, tuple):
        return "(" + ",".join(spec_key(v) for v in value) + ")"
    if value is None:
        return "None"
    if isinstance(value, (bool, int)):
        return str(int(value))
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no stable key for a {type(value).__name__}")


#: Channels and spatial size of a feature map.
State = tuple[int, int, int]


@dataclass(frozen=True)
class LatencyItem:
    """One separately timed part of a network: the stem, one block or the head.

    Attributes:
        key: Table key (stable text).
        part: ``stem``, ``block`` or ``head``.
        spec: The resolved spec (a ``ConvSpec``, a block spec, or the head's ``Plan``).
        input: Channels, height and width of the input.
        prev: Same for a two-input cell's ``prev`` (``None`` when it has none); ``None`` for other parts.
        two_inputs: Whether the module is called as ``module(x, prev)``.
    """

    key: str
    part: str
    spec: Any
    input: State
    prev: State | None = None
    two_inputs: bool = False

    def build(self) -> nn.Module:
        """A fresh module for this part."""
        if self.part == "stem":
            return self.spec.build()
        if self.part == "head":
            return ChainBlock(self.spec)
        return BLOCKS.get(self.spec.kind).build(self.spec)

    def input_shapes(self, batch: int) -> tuple[tuple[int, ...] | None, ...]:
        """Shapes of the call's positional inputs at ``batch`` (``None`` for an absent ``prev``)."""
        x = (batch, *self.input)
        if not self.two_inputs:
            return (x,)
        return (x, None if self.prev is None else (batch, *self.prev))


@dataclass(frozen=True)
class Profile:
    """What a table needs to know about one genome at one resolution (cached per genome).

    Attributes:
        items: Stem, blocks in forward order, head.
        cost: The network's exact cost (for the learned correction's features).
    """

    items: tuple[LatencyItem, ...]
    cost: Cost

    @property
    def blocks(self) -> int:
        """Number of blocks (stem and head excluded)."""
        return len(self.items) - 2


def _size_text(state: State | None) -> str:
    return "none" if state is None else f"{state[0]}x{state[1]}x{state[2]}"


def profile(genome: Network | ResolvedNet, resolution: int | None = None) -> Profile:
    """Every timed part of ``genome`` at ``resolution`` (``None``: its own) with its key, and its cost."""
    spec = genome if isinstance(genome, ResolvedNet) else resolve(genome, resolution)
    side = spec.resolution if resolution is None else resolution
    stem_cost, size = spec.stem.cost((side, side))
    state: State = (spec.in_channels, side, side)
    items = [LatencyItem(f"stem {spec_key(spec.stem)} in={_size_text(state)}", "stem", spec.stem, state)]
    total = stem_cost
    state = (spec.stem.cout, *size)
    prev: State | None = None
    for block, part, out in block_costs(spec, size):
        two = BLOCKS.get(block.kind).two_inputs
        key = f"block {spec_key(block)} in={_size_text(state)}"
        if two:
            key += f" prev={_size_text(prev)}"
        items.append(LatencyItem(key, "block", block, state, prev if two else None, two))
        total = total + part
        prev = next_prev(block, state, prev)
        state = (block.cout, *out)
    head_cost, _ = plan_cost(spec.head, state[1:])
    items.append(LatencyItem(f"head {spec_key(spec.head)} in={_size_text(state)}", "head", spec.head, state))
    return Profile(tuple(items), total + head_cost)


class LatencyTable:
    """Measured milliseconds of network parts, keyed by :func:`spec_key` and input size.

    Args:
        device: Where parts are measured (``cpu``, ``cuda``...).
        batch: Images per timed call.
        threads: torch CPU threads while measuring (1 gives the steadiest numbers on a small CPU).
        warmup: Untimed calls before each part's timed ones.
        repeats: Timed calls per part (their median is one round's result).
        rounds: Rounds of measurement per part, spread over the whole fill (round-robin over
            the parts to measure); the lowest round median is stored. Load from other
            processes only ever slows a call down, and a burst then spoils one round, not
            the entry.
        channels_last: Measure in the channels_last memory format.
        steady: Make the allocator steady before measuring
            (:func:`~nas.latency.measure.steady_allocator`: process-wide and permanent, so
            off unless asked; a table loaded from a file keeps the setting it was measured
            with, and parts it measures later switch the process too). Whole models compared
            with the table should be measured the same way.
        on_missing: What :meth:`predict` does for parts not in the table: ``raise``
            (:class:`MissingEntryError`, naming how many and how to fill them) or ``measure``
            (time them now, on this device, and remember them).
        seed: Seed of each part's weights and input.
    """

    def __init__(self, *, device: str = "cpu", batch: int = 1, threads: int = 1, warmup: int = 10,
                 repeats: int = 30, rounds: int = 1, channels_last: bool = False, steady: bool = False,
                 on_missing: str = "raise", seed: int = 0) -> None:
        _check_choice("on_missing", on_missing)
        for name, value, low in (("batch", batch, 1), ("threads", threads, 1), ("warmup", warmup, 0),
                                 ("repeats", repeats, 1), ("rounds", rounds, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserInputError(f"latency table {name} must be an integer >= {low}, got {value!r}")
        self.device, self.batch, self.threads = str(torch.device(device)), batch, threads
        self.warmup, self.repeats, self.rounds, self.channels_last = warmup, repeats, rounds, bool(channels_last)
        self.steady, self.on_missing, self.seed = bool(steady), on_missing, seed
        self.fingerprint = device_fingerprint(self.device, threads)
        self.entries: dict[str, float] = {}
        #: Sections other modules store in the same file (the learned correction); kept across load and save.
        self.extras: dict[str, Any] = {}
        self._profiles: dict[tuple[Any, int | None], Profile] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def settings(self) -> dict[str, Any]:
        """How the entries were measured (saved with them)."""
        return {"device": self.device, "batch": self.batch, "threads": self.threads, "warmup": self.warmup,
                "repeats": self.repeats, "rounds": self.rounds, "channels_last": self.channels_last,
                "steady": self.steady, "seed": self.seed}

    # ------------------------------------------------------------------ keys

    def profile(self, genome: Network | ResolvedNet, resolution: int | None = None) -> Profile:
        """The genome's timed parts and cost, memoised per (genome, resolution)."""
        cache_key = (genome, resolution)
        found = self._profiles.get(cache_key)
        if found is None:
            found = profile(genome, resolution)
            if len(self._profiles) >= _PROFILE_CACHE:
                self._profiles.pop(next(iter(self._profiles)))  # oldest first: dicts keep insertion order
            self._profiles[cache_key] = found
        return found

    def clear_cache(self) -> None:
        """Forget memoised genome profiles (entries stay); benchmarks time cold queries with it."""
        self._profiles.clear()

    def keys(self, genome: Network | ResolvedNet, resolution: int | None = None) -> tuple[str, ...]:
        """Table keys of the genome's stem, blocks (forward order) and head."""
        return tuple(item.key for item in self.profile(genome, resolution).items)

    def missing(self, genome: Network | ResolvedNet, resolution: int | None = None) -> list[LatencyItem]:
        """Distinct parts of the genome not yet in the table."""
        seen: dict[str, LatencyItem] = {}
        for item in self.profile(genome, resolution).items:
            if item.key not in self.entries:
                seen.setdefault(item.key, item)
        return list(seen.values())

    # ------------------------------------------------------------------ measuring

    def measure_item(self, item: LatencyItem) -> float:
        """Median milliseconds of one part timed in isolation with the table's settings (not stored)."""
        torch.manual_seed(self.seed)
        module = item.build()
        return measure(module, item.input_shapes(self.batch), warmup=self.warmup, repeats=self.repeats,
                       threads=self.threads, channels_last=self.channels_last, device=self.device,
                       seed=self.seed, steady=self.steady).median_ms

    def measure_missing(self, genomes: Iterable[Network | ResolvedNet], resolution: int | None = None,
                        progress: Callable[[int, int], None] | None = None) -> int:
        """Measure every distinct part of ``genomes`` the table lacks (``rounds`` times each); returns how many.

        Args:
            genomes: Genomes or resolved specs.
            resolution: Input size for all of them; ``None`` uses each one's own.
            progress: Called as ``progress(done, total)`` after each measured part and round.

        Raises:
            UserInputError: if this table was measured on another device fingerprint.
        """
        todo: dict[str, LatencyItem] = {}
        for genome in genomes:
            for item in self.missing(genome, resolution):
                todo.setdefault(item.key, item)
        self.entries.update(self._measure(todo, self.rounds, progress))
        return len(todo)

    def refine(self, genomes: Iterable[Network | ResolvedNet], resolution: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> int:
        """Time every distinct part of ``genomes`` once more and keep the lower of old and new; returns how many.

        A later round at a quieter moment corrects entries a burst of load inflated; calling
        this between passes of whole-model measurements spreads both over the same time.
        """
        todo: dict[str, LatencyItem] = {}
        for genome in genomes:
            for item in self.profile(genome, resolution).items:
                todo.setdefault(item.key, item)
        for key, ms in self._measure(todo, 1, progress).items():
            self.entries[key] = min(ms, self.entries.get(key, ms))
        return len(todo)

    def _measure(self, todo: dict[str, LatencyItem], rounds: int,
                 progress: Callable[[int, int], None] | None) -> dict[str, float]:
        """Lowest median over ``rounds`` round-robin rounds of each part (nothing stored)."""
        if todo:
            self._check_same_device()
        best: dict[str, float] = {}
        total, done = len(todo) * rounds, 0
        for _ in range(rounds):
            for key, item in todo.items():
                best[key] = min(best.get(key, float("inf")), self.measure_item(item))
                done += 1
                if progress is not None:
                    progress(done, total)
        return best  # stored by the caller only when complete: an interrupted fill adds nothing half-measured

    def _check_same_device(self) -> None:
        here = _current_fingerprint(self.device, self.threads)
        if here != self.fingerprint:
            raise UserInputError(f"latency table was measured on {self.fingerprint!r}, not on this machine "
                                 f"({here!r}), so it cannot take new measurements from here")

    # ------------------------------------------------------------------ predicting

    def predict(self, genome: Network | ResolvedNet, resolution: int | None = None, *,
                missing: str | None = None) -> float:
        """Predicted milliseconds: stem + blocks + head from the table, at the table's batch.

        Args:
            genome: A genome or a resolved spec.
            resolution: Input size; ``None`` uses the genome's.
            missing: ``raise`` or ``measure`` for parts not in the table; ``None`` uses ``on_missing``.

        Raises:
            MissingEntryError: if parts are missing and ``missing`` is ``raise``.
        """
        if missing is not None:
            _check_choice("missing", missing)
        entries = self.entries
        try:
            return sum(entries[item.key] for item in self.profile(genome, resolution).items)
        except KeyError:
            pass
        self._fill(genome, resolution, missing)
        return sum(entries[item.key] for item in self.profile(genome, resolution).items)

    def breakdown(self, genome: Network | ResolvedNet, resolution: int | None = None, *,
                  missing: str | None = None) -> list[tuple[str, float]]:
        """``(key, ms)`` of every part in forward order (the terms :meth:`predict` adds)."""
        self._fill(genome, resolution, missing)
        return [(item.key, self.entries[item.key]) for item in self.profile(genome, resolution).items]

    def _fill(self, genome: Network | ResolvedNet, resolution: int | None, missing: str | None) -> None:
        mode = self.on_missing if missing is None else missing
        _check_choice("missing", mode)
        lacking = self.missing(genome, resolution)
        if not lacking:
            return
        if mode == "raise":
            name = getattr(genome, "name", "?")
            raise MissingEntryError(
                f"latency table lacks {len(lacking)} of the parts of {name!r} (first: {lacking[0].key[:80]}...); "
                f"fill it with LatencyTable.measure_missing([genome]) or predict with missing='measure'",
                name, [item.key for item in lacking])
        self.measure_missing([genome], resolution)

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"format": FORMAT, "fingerprint": self.fingerprint, "settings": self.settings(),
                "entries": dict(sorted(self.entries.items())), "extras": self.extras}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the table as JSON atomically (a temporary file in the same directory, then ``os.replace``)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, allow_other_device: bool = False,
             on_missing: str = "raise") -> LatencyTable:
        """Read a table saved by :meth:`save`.

        Args:
            path: The JSON file.
            allow_other_device: Accept a table measured on another fingerprint (its numbers
                then describe that machine, and it refuses new measurements from this one).
            on_missing: As in the constructor.

        Raises:
            UserInputError: if the file is missing or unreadable, is not a latency table, or
                was measured on another device fingerprint and ``allow_other_device`` is false.
        """
        path = Path(path)
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserInputError(f"{path}: not a latency table (expected format {FORMAT!r})")
        try:
            fingerprint = str(data["fingerprint"])
            table = cls(**data["settings"], on_missing=on_missing)  # settings() names the constructor's arguments
            table.entries = {str(k): float(v) for k, v in data["entries"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise UserInputError(f"{path}: latency table is damaged ({type(err).__name__}: {err})") from None
        here = _current_fingerprint(table.device, table.threads)
        if fingerprint != here and not allow_other_device:
            raise UserInputError(f"{path}: latency table was measured on {fingerprint!r} but this is {here!r}; "
                                 f"measure a new table here or load with allow_other_device=True")
        table.fingerprint = fingerprint
        table.extras = dict(data.get("extras") or {})
        return table


def _current_fingerprint(device: str, threads: int) -> str:
    """This machine's fingerprint for a table's settings (a CUDA table on a machine without that GPU never matches)."""
    try:
        return device_fingerprint(device, threads)
    except (RuntimeError, AssertionError, ValueError) as err:
        return f"unavailable device {device} ({type(err).__name__})"


def _check_choice(name: str, value: str) -> None:
    if value not in MISSING:
        raise UserInputError(f"{name} must be one of {', '.join(MISSING)}, got {value!r}")


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such latency table file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserInputError(f"{path}: cannot read latency table ({err})") from None
    except RecursionError:
        raise UserInputError(f"{path}: cannot read latency table (JSON nested too deeply)") from None
