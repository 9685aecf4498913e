"""A scaled family on disk: one loadable YAML per member, a table (markdown + CSV) and a plot.

Both scaling CLIs (``scaling.compound``, ``scaling.stagewise``) describe their members as
:class:`Member` rows and hand them to :func:`write_family`, so every family looks the same:

- ``{name}.yaml``: the member's genome, with ``meta.scaling`` (method, base, coefficients,
  phi or label) and, for a base that came from a search, the base's own ``meta`` as
  ``meta.base_meta``; loadable by ``search_spaces.load`` and usable as a ``--base`` again;
- ``family.md`` / ``family.csv``: name, phi, width, depth, resolution, params, MACs and any
  comparison columns (the paper's, the reference implementation's);
- ``family.png``: params and MACs against phi on a log scale.

All writes are atomic.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import search_spaces as ss
from nas.info import load_genome
from search_spaces.files import OutputError, atomic_write, atomic_write_text, prepare_dir
from search_spaces.genome import Network
from search_spaces.units import human

__all__ = ["FAMILY_FILES", "Member", "check_family_dir", "is_zoo_model", "load_base", "write_family"]

#: The files of a family besides its members' YAMLs.
FAMILY_FILES = ("family.md", "family.csv", "family.png")


@dataclass(frozen=True)
class Member:
    """One member of a family.

    Attributes:
        genome: The scaled network.
        phi: Its compound coefficient (or position in the family for stage-wise scaling).
        provenance: Written into the YAML as ``meta.scaling``.
        compare: Extra table columns (header -> value), e.g. the paper's params.
    """

    genome: Network
    phi: float
    provenance: dict[str, Any]
    compare: dict[str, Any] = field(default_factory=dict)


def load_base(arg: str) -> tuple[Network, str, dict[str, Any]]:
    """The base network ``arg`` names (zoo name or YAML file, a search's found.yaml included).

    Returns:
        The genome, a description of where it came from, and the file's ``meta`` (empty for zoo names).

    Raises:
        UserInputError: one sentence naming ``arg`` when it does not load.
    """
    genome, source, _ = load_genome(arg)
    meta: dict[str, Any] = {}
    if source != "zoo":
        meta = ss.codec.load_with_meta(arg)[1]
        source = str(arg)
    return genome, source, meta


def is_zoo_model(genome: Network, name: str) -> bool:
    """Whether ``genome`` is zoo model ``name`` under any name (a found.yaml or a renamed copy counts)."""
    reference = ss.zoo.get(name)
    return dataclasses.replace(genome, name=reference.name) == reference


def _rows(members: Sequence[Member]) -> tuple[list[str], list[list[Any]]]:
    extra: list[str] = []
    for m in members:
        extra += [k for k in m.compare if k not in extra]
    header = ["name", "phi", "width", "depth", "resolution", "params", "MACs", *extra]
    rows = []
    for m in members:
        c = ss.cost(m.genome)
        g = m.genome
        rows.append([g.name, m.phi, round(g.width_mult, 6), round(g.depth_mult, 6), g.resolution, c.params, c.macs,
                     *(m.compare.get(k, "") for k in extra)])
    return header, rows


def _markdown(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any, column: str) -> str:
        if isinstance(value, int) and ("params" in column or "MACs" in column) and "/" not in column:
            return f"{value:,} ({human(value)})"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if h == "name" else "---:" for h in header) + " |"]
    lines += ["| " + " | ".join(cell(v, h) for v, h in zip(row, header)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _meta(path: Path) -> dict[str, Any] | None:
    """The ``meta`` mapping of a YAML file (``{}`` without one; ``None`` if it cannot be read as YAML)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    meta = data.get("meta") if isinstance(data, dict) else None
    return meta if isinstance(meta, dict) else {}


def check_family_dir(out: Path, title: str, names: Sequence[str], title_prefix: bool = False) -> Path:
    """Create ``out`` and refuse it if writing this family there would replace another run's results.

    Refused: a directory holding a search's results (its ``found.yaml``), another family
    (``family.md`` with another title), or a genome file a member would replace that no
    scaling run wrote. Re-running the same family into its own directory is allowed (the
    same files again). Also checked: that the directory can be written (:func:`prepare_dir`).

    Args:
        out: The family's directory.
        title: The family's title (its ``family.md`` heading).
        names: The members' names (``{name}.yaml`` each).
        title_prefix: ``title`` is only the start of the title (a grid search decides the rest).

    Raises:
        OutputError: one sentence naming the directory and whose results it holds.
    """
    prepare_dir(out, "output directory", [*(f"{n}.yaml" for n in names), *FAMILY_FILES])
    if (out / "found.yaml").is_file():
        meta = _meta(out / "found.yaml")
        if meta is None or "scaling" not in meta:  # a search's result (a member named found has meta.scaling)
            search = (meta or {}).get("search")
            study = search.get("study") if isinstance(search, dict) else None
            whose = f"search study {study!r}" if study else "another run"
            raise OutputError(f"{out} holds the results of {whose} (found.yaml); write the family to another "
                              f"directory")
    md = out / "family.md"
    if md.is_file():
        old = md.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].removeprefix("# ")
        if not (old.startswith(title) if title_prefix else old == title):
            raise OutputError(f"{out} already holds another family ({old!r}); write this one to another directory, "
                              f"or delete {md} to replace it")
    for name in names:
        path = out / f"{name}.yaml"
        if path.is_file() and "scaling" not in (_meta(path) or {}):
            raise OutputError(f"{path} is a genome file no scaling run wrote; member {name!r} would replace it "
                              f"(write the family to another directory)")
    return out


def write_family(out: Path, members: Sequence[Member], base_meta: dict[str, Any], title: str,
                 notes: Sequence[str] = (), plot: bool = True) -> list[Path]:
    """Write the members' YAMLs, ``family.md``, ``family.csv`` and (``plot``) ``family.png`` into ``out``.

    The directory is checked first (:func:`check_family_dir`): another run's results are never replaced.

    Returns:
        The paths written, YAMLs first.
    """
    check_family_dir(out, title, [m.genome.name for m in members])
    written = []
    for m in members:
        meta: dict[str, Any] = {"scaling": m.provenance}
        if base_meta:
            meta["base_meta"] = base_meta
        written.append(ss.codec.dump(m.genome, out / f"{m.genome.name}.yaml", meta))
    header, rows = _rows(members)
    text = f"# {title}\n\n" + _markdown(header, rows)
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    written.append(atomic_write_text(out / "family.md", text))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    written.append(atomic_write_text(out / "family.csv", buffer.getvalue()))
    if plot:
        written.append(_plot(out / "family.png", members, rows, title))
    return written


def _plot(path: Path, members: Sequence[Member], rows: list[list[Any]], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phis = [m.phi for m in members]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(phis, [r[5] for r in rows], "o-", label="params")
    ax.plot(phis, [r[6] for r in rows], "s-", label="MACs")
    for phi, row in zip(phis, rows):
        ax.annotate(row[0], (phi, row[6]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("phi")
    ax.set_ylabel("count (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)
    return path
