"""Checks of NAS-Bench-201's table against the networks it describes: the evidence docs/NB201.md reports.

Two questions, answered from the data (``experiments/nb201_audit.py`` prints the answers):

1. In which order do a table key's six digits name the cell's edges? A cell whose input cannot
   reach its output through edges other than ``none`` outputs zeros, so its accuracy is chance;
   :func:`separating_orders` tries all 720 orders and keeps those under which exactly the
   disconnected cells are at chance. Reversing the cell (node ``i`` <-> node ``3 - i``) keeps every
   path, so that test leaves two orders; which results the table shares between cells
   (:func:`shared_groups`, :func:`sources`) tells them apart.
2. Why do some entries record a model size that is not their cell's parameter count? NAS-Bench-201
   shares results between cells it deems isomorphic (the same :func:`unique_str`); :func:`sources`
   finds, for such an entry, the cell of the same class whose own parameter count is the recorded
   size and whose accuracy is the entry's on every dataset.

:func:`unique_str` is NAS-Bench-201's isomorphism key (``Structure.to_unique_str(consider_zero=True)``
of xautodl's ``models/cell_searchs/genotypes.py``, re-stated here): a node is the sorted sum of its
inputs' terms; a ``none`` edge, or any edge out of a zero node, is the zero ``#``; ``skip_connect``
is its input's own term; another op is ``(input)@op``. Two ops of the same kind on the same input
give the same term, so the key does not tell two convolutions of one node from one whose output
two nodes share: cells of one class can differ in their number of convolutions.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nas.tables.nb201 import CELLS, NB201Table, ops_at
from search_spaces.spaces.nb201_arch import EDGES, NODES

__all__ = ["TOLERANCE", "classes", "connected", "foreign_entries", "live_edges", "separating_orders",
           "shared_groups", "sources", "unique_str", "within_one_class"]

#: Two entries are one result when their accuracies (%) agree this closely on every dataset: the
#: benchmark's copies of a result differ in the last digits of their floats (67.87999997558593 and
#: 67.88000004882812), while distinct results differ by a whole validation image (0.004 to 0.03 points).
TOLERANCE = 1e-4


def unique_str(ops: Sequence[str]) -> str:
    """NAS-Bench-201's isomorphism key of a cell (six ops in arch-string order; see the module docstring)."""
    terms: list[str] = ["0"]
    k = 0
    for i in range(1, NODES):
        node = []
        for j in range(i):
            op, source = ops[k], terms[j]
            k += 1
            if op == "none" or source == "#":
                node.append("#")
            elif op == "skip_connect":
                node.append(source)
            else:
                node.append(f"({source})@{op}")
        terms.append("+".join(sorted(node)))
    return terms[-1]


def _reach(on: Sequence[bool], edges: Sequence[tuple[int, int]]) -> tuple[set[int], set[int]]:
    """Nodes reachable from node 0, and nodes that reach the last node, through edges marked ``on``."""
    forward, backward = {0}, {NODES - 1}
    for i in range(1, NODES):
        if any(on[k] and t == i and s in forward for k, (t, s) in enumerate(edges)):
            forward.add(i)
    for j in range(NODES - 2, -1, -1):
        if any(on[k] and s == j and t in backward for k, (t, s) in enumerate(edges)):
            backward.add(j)
    return forward, backward


def connected(ops: Sequence[str], edges: Sequence[tuple[int, int]] = EDGES) -> bool:
    """Whether the cell's input reaches its output through edges that are not ``none`` (``edges``: their order)."""
    return NODES - 1 in _reach([op != "none" for op in ops], edges)[0]


def live_edges(ops: Sequence[str]) -> tuple[bool, ...]:
    """Per edge, whether it lies on a path of non-``none`` edges from the cell's input to its output."""
    on = [op != "none" for op in ops]
    forward, backward = _reach(on, EDGES)
    return tuple(on[k] and s in forward and t in backward for k, (t, s) in enumerate(EDGES))


def separating_orders(table: NB201Table) -> list[tuple[int, ...]]:
    """The orders ``p`` (key digit ``k`` is the op of ``EDGES[p[k]]``) under which every cell whose input
    cannot reach its output has a lower mean accuracy than every cell whose input can."""
    means = table.mean_accuracy("all")
    keys = [ops_at(i) for i in range(CELLS)]
    found = []
    for order in itertools.permutations(range(len(EDGES))):
        edges = [EDGES[e] for e in order]
        reach = np.array([connected(ops, edges) for ops in keys])
        if means[~reach].max() < means[reach].min():
            found.append(order)
    return found


def _reorder(ops: Sequence[str], order: Sequence[int]) -> tuple[str, ...]:
    """The ops in :data:`EDGES` order, of a key whose digit ``k`` is edge ``EDGES[order[k]]``."""
    out = [""] * len(EDGES)
    for k, e in enumerate(order):
        out[e] = ops[k]
    return tuple(out)


def shared_groups(tables: Sequence[NB201Table]) -> list[tuple[int, ...]]:
    """Groups of cells holding one result: an entry of the same column equal (to :data:`TOLERANCE`) on every table."""
    groups: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    scale = 1 / TOLERANCE
    for index in range(CELLS):
        for column in range(tables[0].val_acc.shape[1]):
            accs = [t.val_acc[index, column] for t in tables]
            if not any(np.isnan(accs)):
                groups[(column, *(round(a * scale) for a in accs))].add(index)
    return [tuple(sorted(g)) for g in groups.values() if len(g) > 1]


def within_one_class(groups: Sequence[tuple[int, ...]], order: Sequence[int]) -> int:
    """How many ``groups`` lie within one :func:`unique_str` class when keys name edges in ``order``."""
    return sum(len({unique_str(_reorder(ops_at(i), order)) for i in g}) == 1 for g in groups)


def foreign_entries(table: NB201Table) -> Iterator[tuple[int, int]]:
    """``(cell, column)`` of every entry whose recorded model size is not its cell's parameter count."""
    rows, columns = np.nonzero(table.counted("all") & ~table.own)
    yield from zip(rows.tolist(), columns.tolist())


def classes(order: Sequence[int] = tuple(range(len(EDGES)))) -> Mapping[int, list[int]]:
    """Every cell's :func:`unique_str` class (its members, itself included) when keys name edges in ``order``."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for i in range(CELLS):
        by_key[unique_str(_reorder(ops_at(i), order))].append(i)
    return {i: members for members in by_key.values() for i in members}


def sources(tables: Sequence[NB201Table], index: int, column: int,
            order: Sequence[int] = tuple(range(len(EDGES))),
            members_of: Mapping[int, list[int]] | None = None) -> list[int]:
    """The other cells of ``index``'s class whose own parameter count is the size entry ``(index, column)``
    records, on every table, and which hold that entry's accuracy (to :data:`TOLERANCE`) on every table.
    ``members_of``: :func:`classes` of ``order``, when the caller has it already."""
    members = (members_of if members_of is not None else classes(order))[index]
    found = []
    for other in members:
        if other != index and all(
                t.params[other] == t.recorded_params[index, column]
                and np.nanmin(np.abs(t.val_acc[other] - t.val_acc[index, column])) <= TOLERANCE for t in tables):
            found.append(other)
    return found
