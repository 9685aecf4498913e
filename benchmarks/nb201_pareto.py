"""Multi-objective search on NAS-Bench-201: accuracy against the table's latency, scored by hypervolume.

Each (dataset, strategy, seed) runs ``python -m nas.search --space nb201 --evaluator nb201
--data DATASET --reward pareto-latency --strategy STRATEGY --trials 200 --seed SEED`` in-process
(the real search driver, a journal-file study). The search's own Pareto front (from the values
it observed: one training seed's accuracy) is then scored with the table's truth: each member's
mean validation accuracy and latency. Hypervolume is measured in the box between the worst
cell of the dataset (lowest mean accuracy, highest latency) and the best values, both axes scaled
to [0, 1], so 1 would be a single cell best at both and the true front of all 15,625 cells
has the largest value any search can reach.

Printed per dataset: mean and standard error over seeds of the found front's hypervolume, as a
fraction of the true front's, for each strategy, and a paired one-sided Wilcoxon test against
random search. ``--plot`` draws, per dataset, every cell (grey), the true front (black) and the
front each strategy found with seed 0.

Usage:
    python benchmarks/nb201_pareto.py --seeds 10 --trials 200 --jobs 2 --plot docs/figures/nb201_pareto.png
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from common import LoadMeter, machine, revision  # benchmarks/common.py (scripts run from this directory)
from nb201_runs import nb201_search, run_jobs

STRATEGIES = ("random", "nsga2", "tpe")
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
DIRECTIONS = ("maximize", "minimize")


def one_search(job: tuple[str, str, int, int, str]) -> dict[str, Any]:
    """Run one multi-objective search; return the table rows (cells) of the front it reports."""
    dataset, strategy, seed, trials, work = job
    from nas.rewards import pareto_front

    result = nb201_search(dataset, strategy, seed, trials, "pareto-latency", work)
    if "error" not in result:
        rows = result.pop("trials")
        observed = [(r["accuracy"], r["latency_ms"]) for r in rows]
        result["front"] = sorted({rows[i]["cell"] for i in pareto_front(observed, DIRECTIONS)})
    return result


class Box:
    """One dataset's truth: every cell's mean accuracy and latency, and the hypervolume box around them."""

    def __init__(self, dataset: str) -> None:
        from nas.tables import nb201

        t = nb201.load(dataset)
        # Every cell's truth: mean validation accuracy (%) and latency (ms) over its own training runs.
        latency = 1000.0 * np.where(t.own, t.latency, 0.0).sum(1) / t.own.sum(1)
        points = np.stack([t.mean_accuracy(), latency], axis=1)
        self.points = points
        self.low = np.array([points[:, 0].min(), points[:, 1].min()])
        self.high = np.array([points[:, 0].max(), points[:, 1].max()])
        self.true_hv = self.hypervolume(points)

    def scaled(self, points: np.ndarray) -> np.ndarray:
        return (points - self.low) / (self.high - self.low)

    def hypervolume(self, points: np.ndarray) -> float:
        from nas.rewards import hypervolume

        # Reference: the worst accuracy and the worst latency of the dataset (scaled: 0 and 1).
        return hypervolume(self.scaled(points).tolist(), DIRECTIONS, (0.0, 1.0))

    def truth(self, cells: list[int]) -> np.ndarray:
        return self.points[cells]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", default="runs/nb201-pareto")
    parser.add_argument("--plot")
    args = parser.parse_args()
    from scipy import stats

    from nas.rewards import pareto_front

    strategies, datasets = args.strategies.split(","), args.datasets.split(",")
    Path(args.work).mkdir(parents=True, exist_ok=True)
    meter = LoadMeter()
    jobs = [(d, s, k, args.trials, args.work) for d in datasets for s in strategies for k in range(args.seeds)]
    results, wall = run_jobs(one_search, jobs, args.jobs)

    print(f"### Accuracy vs latency on NAS-Bench-201 ({args.trials} trials, reward pareto-latency)\n")
    print(f"Command: `python benchmarks/nb201_pareto.py {shlex.join(sys.argv[1:])}`\n")
    print(f"Machine: {machine()}; {revision()}. {meter.report()}; {wall:.0f} s for {len(jobs)} searches.\n")
    for r in results:
        if "error" in r:
            print(f"- `{r['strategy']}` on {r['dataset']} seed {r['seed']} did not run: {r['error'][0]}")
    print("Hypervolume of the reported front, in the table's truth, as a fraction of the true front's "
          "(mean ± s.e. over seeds; p: paired one-sided Wilcoxon against random):\n")
    print("| dataset | true front (cells) | " + " | ".join(strategies) + " | " +
          " | ".join(f"p {s} > random" for s in strategies if s != "random") + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in strategies) + " | " +
          " | ".join("---:" for s in strategies if s != "random") + " |")
    boxes = {d: Box(d) for d in datasets}
    found: dict[tuple[str, str], dict[int, float]] = {}
    for r in results:
        if "front" in r:
            box = boxes[r["dataset"]]
            found.setdefault((r["dataset"], r["strategy"]), {})[r["seed"]] = (
                box.hypervolume(box.truth(r["front"])) / box.true_hv)
    for d in datasets:
        box = boxes[d]
        true_front = len(pareto_front(box.points.tolist(), DIRECTIONS))
        cells, tests = [], []
        for s in strategies:
            v = np.array(list(found.get((d, s), {}).values()))
            cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) / math.sqrt(len(v)):.3f}" if len(v) > 1 else "-")
            if s != "random":
                base, mine = found.get((d, "random"), {}), found.get((d, s), {})
                seeds = sorted(set(base) & set(mine))
                diff = np.array([mine[k] - base[k] for k in seeds])
                p = stats.wilcoxon(diff, alternative="greater").pvalue if np.any(diff != 0) else 1.0
                tests.append(f"{p:.2g}")
        print(f"| {d} | {true_front} | " + " | ".join(cells) + " | " + " | ".join(tests) + " |")
    if args.plot:
        plot(results, boxes, strategies, datasets, args.plot)
        print(f"\nPlot: `{args.plot}`")


def plot(results: list[dict[str, Any]], boxes: dict[str, Box], strategies: list[str], datasets: list[str],
         path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nas.rewards import pareto_front
    from search_spaces.files import atomic_write

    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.5), squeeze=False)
    for ax, d in zip(axes[0], datasets):
        box = boxes[d]
        ax.scatter(box.points[:, 1], box.points[:, 0], s=2, color="0.8", label="all 15,625 cells")
        front = box.points[pareto_front(box.points.tolist(), DIRECTIONS)]
        front = front[np.argsort(front[:, 1])]
        ax.step(front[:, 1], front[:, 0], where="post", color="black", linewidth=1.5, label="true front")
        for s in strategies:
            r = next((r for r in results if r["dataset"] == d and r["strategy"] == s and r["seed"] == 0
                      and "front" in r), None)
            if r is None:
                continue
            pts = box.truth(r["front"])
            pts = pts[np.argsort(pts[:, 1])]
            ax.plot(pts[:, 1], pts[:, 0], marker="o", markersize=3, linewidth=1, label=f"{s} (seed 0)")
        ax.set_xscale("log")
        ax.set_ylim(box.points[:, 0].max() - 25, box.points[:, 0].max() + 1)
        ax.set_title(f"NAS-Bench-201, {d}")
        ax.set_xlabel("latency (ms, the table's)")
        ax.set_ylabel("mean validation accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110))


if __name__ == "__main__":
    main()
