"""What ``python -m nas.supernet specialise`` leaves in its output directory, all written atomically.

- ``latency_<target>ms.yaml`` per target with a subnet: the genome (the YAML codec of
  :mod:`search_spaces.codec`, as a search's ``found.yaml``) with a ``meta`` mapping: the
  target, whether the measured latency met it, predicted and measured latency, predicted
  and supernet accuracy, MACs, the parameters, and the search's counts;
- ``specialise.csv`` and ``specialise.md``: one row per target (the markdown is also printed);
- ``accuracy_vs_latency.png``: accuracy against measured latency, the targets marked.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.supernet.specialise import Outcome
from search_spaces.codec import to_yaml
from search_spaces.files import atomic_write, atomic_write_text

__all__ = ["PLOT", "TABLE_CSV", "TABLE_MD", "markdown", "outputs", "write_report", "yaml_name"]

TABLE_CSV, TABLE_MD, PLOT = "specialise.csv", "specialise.md", "accuracy_vs_latency.png"

_COLUMNS = ("target_ms", "met", "measured_ms", "predicted_ms", "predicted_accuracy", "supernet_accuracy", "macs_m",
            "genome", "candidates", "distinct", "generations", "search_s", "measured", "margin", "note")


def yaml_name(target_ms: float) -> str:
    """The genome file of a target: ``latency_12.5ms.yaml``."""
    return f"latency_{target_ms:g}ms.yaml"


def outputs(targets: Sequence[float]) -> list[str]:
    """Every file name the report may write for ``targets`` (checked before a run starts)."""
    return [*(yaml_name(t) for t in targets), TABLE_CSV, TABLE_MD, PLOT]


def _row(o: Outcome) -> dict[str, Any]:
    s = o.search
    return {"target_ms": o.target_ms, "met": o.met, "measured_ms": o.measured_ms, "predicted_ms": o.predicted_ms,
            "predicted_accuracy": o.predicted_accuracy, "supernet_accuracy": o.supernet_accuracy,
            "macs_m": None if o.macs is None else o.macs / 1e6, "genome": o.genome.name if o.genome else None,
            "candidates": s.evaluated, "distinct": s.distinct, "generations": s.generations, "search_s": s.seconds,
            "measured": o.measured,
            "margin": o.margin, "note": o.note}


def _meta(o: Outcome, provenance: Mapping[str, Any]) -> dict[str, Any]:
    s = o.search
    return {"target_ms": o.target_ms, "met": o.met,
            "latency_ms": {"measured": o.measured_ms, "predicted": o.predicted_ms},
            "accuracy": {"predicted": o.predicted_accuracy, "supernet": o.supernet_accuracy},
            "macs": o.macs, "params": o.params,
            "search": {"candidates": s.evaluated, "distinct": s.distinct, "generations": s.generations,
                       "seconds": round(s.seconds, 2),
                       "margin": o.margin, "measured": o.measured},
            **({"note": o.note} if o.note else {}), **dict(provenance)}


def _text(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(outcomes: Sequence[Outcome]) -> str:
    """The table as markdown: target, met, latency, accuracy, MACs, search counts."""
    head = ("target ms", "met", "measured ms", "predicted ms", "predicted acc", "supernet acc", "MACs (M)",
            "candidates", "search s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for o in outcomes:
        r = _row(o)
        cells = (f"{o.target_ms:g}", _text(o.met if o.params is not None else False, 0), _text(r["measured_ms"], 2),
                 _text(r["predicted_ms"], 2), _text(r["predicted_accuracy"], 4), _text(r["supernet_accuracy"], 4),
                 _text(r["macs_m"], 1), f"{r['candidates']:,}", _text(r["search_s"], 1))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(outcomes: Sequence[Outcome]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for o in outcomes:
        writer.writerow({k: "" if v is None else v for k, v in _row(o).items()})
    return buffer.getvalue()


def _plot(path: Path, outcomes: Sequence[Outcome]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = [o for o in outcomes if o.params is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, o in enumerate(outcomes):
        ax.axvline(o.target_ms, color="grey", ls=":", lw=1, label="target" if i == 0 else None)
    for attr, marker, label in (("predicted_accuracy", "o", "predicted accuracy"),
                                ("supernet_accuracy", "s", "supernet accuracy")):
        pts = sorted((o.measured_ms, getattr(o, attr)) for o in found if getattr(o, attr) is not None)
        if pts:
            ax.plot(*zip(*pts), marker=marker, ls="-", lw=0.8, label=label)
    missed = [(o.measured_ms, o.predicted_accuracy) for o in found if not o.met]
    if missed:
        ax.scatter(*zip(*missed), marker="x", color="C3", s=60, zorder=3, label="target missed")
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("accuracy")
    ax.set_title("specialised subnets: accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    try:
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    finally:
        plt.close(fig)


def write_report(outcomes: Sequence[Outcome], out: Path, provenance: Mapping[str, Any]) -> str:
    """Write the genome files, the table and the plot into ``out``; return the markdown table.

    Args:
        outcomes: One per target.
        out: The output directory (exists).
        provenance: Added to every genome file's ``meta`` (supernet, predictor, latency table).
    """
    for o in outcomes:
        if o.genome is not None:
            atomic_write_text(out / yaml_name(o.target_ms), to_yaml(o.genome, _meta(o, provenance)))
    table = markdown(outcomes)
    atomic_write_text(out / TABLE_CSV, _csv(outcomes))
    atomic_write_text(out / TABLE_MD, table)
    _plot(out / PLOT, outcomes)
    return table
