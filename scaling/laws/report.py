"""Tables (markdown, CSV) and log-log plots of ``scaling.laws``' results; every write is atomic."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas.stats import spearman
from scaling.laws.fit import FitReport
from scaling.laws.growth import METRICS, STEPS, Growth, LevelMember
from scaling.laws.timing import Timing, r_squared
from search_spaces.files import atomic_write, atomic_write_text
from search_spaces.units import human

__all__ = ["fit_table", "growth_table", "markdown", "plot_fit", "plot_growth", "timing_table", "write_csv"]

_NAMES = {"params": "params", "macs": "MACs", "activations": "acts"}


def markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats with 3 decimals, nan as a dash."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" if i == 0 else "---:" for i in
                                                                  range(len(header))) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def growth_table(growths: Sequence[Growth]) -> tuple[list[str], list[list[Any]]]:
    """Per strategy: analytic and real exponents of params, MACs, activations, and the activations gap's main cause."""
    header = ["strategy"]
    for m in METRICS:
        header += [f"{_NAMES[m]} analytic", f"{_NAMES[m]} real"]
    header += ["acts gap", "largest cause of the acts gap"]
    rows = []
    for g in growths:
        row: list[Any] = [g.strategy]
        for m in METRICS:
            row += [g.analytic[m] if g.analytic else math.nan, g.real[m]]
        if g.analytic:
            causes = g.causes("activations")
            gap = g.analytic["activations"] - g.real["activations"]
            main = ", ".join(f"{name} {move:+.3f}" for name, move in causes[:2] if abs(move) >= 0.005) or "none"
            row += [gap, main]
        else:
            row += [math.nan, "no analytic form (phi set by real MACs)"]
        rows.append(row)
    return header, rows


def steps_table(growths: Sequence[Growth], metric: str) -> tuple[list[str], list[list[Any]]]:
    """The exponent of ``metric`` after each correction step, and the analytic one."""
    header = ["strategy", *STEPS, "analytic"]
    rows = [[g.strategy, *(g.steps[s][metric] for s in STEPS), g.analytic[metric]]
            for g in growths if g.steps and g.analytic]
    return header, rows


def members_rows(rows: Sequence[LevelMember], base_cost: Any) -> tuple[list[str], list[list[Any]]]:
    header = ["strategy", "s", "name", "width_mult", "depth_mult", "resolution", "params", "MACs", "activations",
              "MACs / base", "problem"]
    out = []
    for r in rows:
        if r.genome is None or r.cost is None:
            out.append([r.strategy, r.s, "", "", "", "", "", "", "", "", r.problem])
            continue
        g, c = r.genome, r.cost
        out.append([r.strategy, r.s, g.name, round(g.width_mult, 4), round(g.depth_mult, 4), g.resolution, c.params,
                    c.macs, c.activations, round(c.macs / base_cost.macs, 3), ""])
    return header, out


def timing_table(timings: Sequence[Timing]) -> tuple[list[str], list[list[Any]], dict[str, dict[str, float]]]:
    """Rows of measured members and the R^2 of each time against MACs and against activations."""
    header = ["strategy", "s", "MACs", "activations", "latency ms", "train step ms"]
    rows = [[t.strategy, t.s, human(t.macs), human(t.activations), t.latency_ms, t.train_step_ms] for t in timings]
    fits = {}
    for what, attr in (("latency", "latency_ms"), ("train step", "train_step_ms")):
        ys = [getattr(t, attr) for t in timings]
        fits[what] = {"MACs": r_squared([t.macs for t in timings], ys),
                      "activations": r_squared([t.activations for t in timings], ys)}
        # At one nominal s the MACs are about equal: does the order of the times follow the activations?
        for s in sorted({t.s for t in timings}):
            same = [t for t in timings if t.s == s]
            if len(same) >= 3:
                fits[what][f"rank corr. with activations at s = {s:g}"] = spearman(
                    [t.activations for t in same], [getattr(t, attr) for t in same])
    return header, rows, fits


def fit_table(report: FitReport) -> tuple[list[str], list[list[Any]]]:
    """Per strategy: the law (with 90% intervals) and the held-out check."""
    header = ["strategy", "E", "A", "c", "c 90% interval", f"held-out x{report.holdout_level:g}: measured",
              "predicted", "90% interval", "|error| pts"]
    rows = []
    for s, (compute, measured, predicted, (low, high)) in report.holdout.items():
        law = report.fit.laws[s]
        c_low, c_high = report.fit.parameter_interval(s, "exponent")
        rows.append([s, law.floor, law.scale, law.exponent, f"{c_low:.2f}-{c_high:.2f}", measured, predicted,
                     f"{low:.3f}-{high:.3f}", 100 * abs(predicted - measured)])
    return header, rows


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    _pyplot().close(fig)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def plot_growth(path: Path, growths: Sequence[Growth], rows: Sequence[LevelMember], base_cost: Any, title: str) -> Path:
    """Log-log: each metric relative to the base against ``s``, per strategy, with the analytic slopes dashed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, metric in zip(axes, METRICS):
        for i, g in enumerate(growths):
            mine = [r for r in rows if r.strategy == g.strategy and r.cost is not None]
            xs = [r.s for r in mine]
            ys = [getattr(r.cost, metric) / getattr(base_cost, metric) for r in mine]
            line, = ax.plot(xs, ys, "o-", label=g.strategy, color=f"C{i}")
            if g.analytic and xs:
                x = np.array([1.0, max(xs)])
                ax.plot(x, x ** g.analytic[metric], "--", color=line.get_color(), alpha=0.5)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("FLOPs multiple s (nominal)")
        ax.set_ylabel(f"{_NAMES[metric]} / base")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}: real (solid) and analytic (dashed) growth")
    fig.tight_layout()
    return _save(fig, path)


def plot_fit(path: Path, report: FitReport, title: str) -> Path:
    """Error against compute per strategy: points, the law fitted to all levels, the held-out law's prediction."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, s in enumerate(report.fit.laws):
        pts = [p for p in report.points if p.strategy == s]
        xs = np.array([p.compute for p in pts])
        color = f"C{i}"
        ax.plot(xs, [100 * (1 - p.accuracy) for p in pts], "o", color=color, label=s)
        grid = np.geomspace(min(xs.min(), 1.0), xs.max() * 1.5, 100)
        ax.plot(grid, 100 * report.fit.laws[s](grid), "-", color=color, alpha=0.6)
        ax.plot(grid, 100 * report.held_out.laws[s](grid), ":", color=color, alpha=0.9)
        compute, measured, predicted, _ = report.holdout[s]
        ax.plot([compute], [100 * (1 - predicted)], "x", color=color, markersize=9)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compute (MACs / base's)")
    ax.set_ylabel("validation error (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{title}\nsolid: fit to all; dotted and x: fit without x{report.holdout_level:g}, its prediction")
    fig.tight_layout()
    return _save(fig, path)
