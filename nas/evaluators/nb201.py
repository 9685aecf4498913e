"""``nb201``: NAS-Bench-201's table looked up, no training (Dong & Yang 2020; the table: :mod:`nas.tables.nb201`).

For a network of the ``nb201`` space, ``--data`` names the benchmark dataset (``cifar10``,
``cifar100``, ``ImageNet16-120``; default ``cifar10``; ``cifar10:DIR`` reads as ``cifar10``, so a
search may train on the same data it looks up). The metrics:

- ``accuracy``: the validation accuracy (as a fraction) of one of the cell's training runs,
  picked by the run's ``--seed`` and the cell (different cells of one run draw different runs,
  and the same cell the same one, as NAS-Bench-201's API draws a random trial per query), or the
  mean over the runs with ``--set nb201_seed_mean=true``;
- ``latency_ms``: the latency NATS-Bench measured for the network (its seconds, as milliseconds;
  not this machine's);
- ``train_time_s``: seconds the benchmark spent on that run's 200 training epochs.

Only the cell's own runs count unless ``--set nb201_entries=all``: a run whose recorded model size
is not the cell's parameter count trained another cell (docs/NB201.md). A query takes a few
microseconds once the table is loaded (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.settings import knob
from nas.tables import nb201 as table
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.spaces.nb201 import DATASETS, dataset_named, ops_of
from search_spaces.spaces.nb201_arch import format_arch

__all__ = ["NB201Evaluator", "NB201Settings", "pick", "table_dataset"]

_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class NB201Settings:
    """Knobs of the ``nb201`` evaluator."""

    nb201_seed_mean: bool = knob(False, "accuracy: the mean over the cell's training runs, instead of the one run "
                                        "the run's --seed picks for the cell")
    nb201_entries: str = knob("own", "which training runs of a cell count: own (those whose recorded model size is "
                                     "the cell's parameter count) or all (every run the table lists; docs/NB201.md)",
                              choices=table.ENTRIES)


def table_dataset(data: str | None) -> str:
    """The benchmark dataset ``--data`` names (``None``: ``cifar10``; ``NAME:DIR`` reads as ``NAME``).

    Raises:
        UserInputError: it names none of the benchmark's datasets.
    """
    named = dataset_named(data or "cifar10")
    if named is None:
        raise UserInputError(f"--data {data!r} is not a NAS-Bench-201 dataset: the nb201 evaluator looks cells up in "
                             f"the tables of {', '.join(sorted(DATASETS.names(), key=str.lower))}")
    return named.name


def pick(seed: int, index: int, count: int) -> int:
    """Which of ``count`` runs of cell ``index`` the run seed ``seed`` picks: a fixed mix of both (splitmix64)."""
    x = (seed * 0x9E3779B97F4A7C15 + index + 1) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return (x ^ (x >> 31)) % count


class NB201Evaluator(Evaluator):
    """Accuracy, latency and training time of a NAS-Bench-201 cell, from the benchmark's table."""

    name = "nb201"
    provides = ("accuracy", "latency_ms", "train_time_s")
    settings = NB201Settings
    data_is_table = True

    def check(self, ctx: RunContext) -> None:
        """Refuse, before any trial, a space other than ``nb201``, an unknown dataset and a missing table."""
        super().check(ctx)
        if ctx.space is not None and ctx.space != "nb201":
            raise UserInputError(f"the nb201 evaluator looks up cells of the nb201 space; space {ctx.space!r} has "
                                 f"none (use --space nb201)")
        table.load(table_dataset(ctx.data))

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        s = ctx.settings(NB201Settings)
        rows = table.load(table_dataset(ctx.data))
        index = table.cell_index(ops_of(genome))
        runs = rows.entries(index, s.nb201_entries)
        if s.nb201_seed_mean:
            picked = list(runs)
        else:
            picked = [runs[pick(ctx.seed, index, len(runs))]]
        n = len(picked)
        return Metrics(accuracy=sum(rows.val_acc[index, k] for k in picked) / (100.0 * n),
                       latency_ms=1000.0 * sum(rows.latency[index, k] for k in picked) / n,
                       extra={"train_time_s": sum(rows.train_time[index, k] for k in picked) / n})

    def about(self, genome: Network, ctx: RunContext) -> dict[str, Any]:
        """The found cell's arch string, its mean validation accuracy and the regret against the dataset's best."""
        which = ctx.settings(NB201Settings).nb201_entries
        rows = table.load(table_dataset(ctx.data))
        ops = ops_of(genome)
        index = table.cell_index(ops)
        mean = float(rows.mean_accuracy(which)[index])
        best_arch, best = table.best_mean_accuracy(rows.dataset, which)
        return {"dataset": rows.dataset, "arch": format_arch(ops), "val_acc_mean": round(mean, 6),
                "val_acc_runs": [round(float(rows.val_acc[index, k]), 6) for k in rows.entries(index, which)],
                "best_val_acc_mean": round(best, 6), "best_arch": best_arch, "regret": round(best - mean, 6),
                "entries": which}
