"""Every search strategy on NAS-Bench-201, against the table's ground truth: regret after 25-200 trials.

Each (dataset, strategy, seed) runs ``python -m nas.search --space nb201 --evaluator nb201
--data DATASET --reward accuracy --strategy STRATEGY --trials 200 --seed SEED`` in-process
(the real search driver users run, with a journal-file study), ``--jobs`` searches at once,
one torch thread each. A search's trials are read back from its ``trials.csv``.

Regret after t trials: the best mean validation accuracy of the dataset (over the table's
training seeds) minus the mean validation accuracy of the cell the search would return after
t trials, its incumbent: the trial with the best reward so far, which is one training seed's
accuracy, as the search observed it. So a search is scored by what it would hand to its
user, not by the best cell it happened to touch.

Per dataset and strategy: mean and standard error of the regret over seeds after 25/50/100/200
trials, and a paired test against random search on the same seeds (Wilcoxon signed-rank,
one-sided: the strategy's regret is lower; zero differences dropped, as ``scipy.stats.wilcoxon``'s
default). ``--plot`` draws regret against trials.

Finished searches are kept under ``--work`` as JSON, so an interrupted run resumes.

Usage:
    python benchmarks/nb201_strategies.py --seeds 20 --trials 200 --jobs 2 --plot docs/figures/nb201_strategies.png
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from common import LoadMeter, machine, revision  # benchmarks/common.py (scripts run from this directory)
from nb201_runs import nb201_search, run_jobs

STRATEGIES = ("random", "tpe", "nsga2", "gp", "cmaes", "evolution", "nni-tpe", "nni-random", "rl")
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
CHECKPOINTS = (25, 50, 100, 200)


def one_search(job: tuple[str, str, int, int, str]) -> dict[str, Any]:
    """Run one search; return its trials' observed rewards and table rows (cells), in order (kept as JSON)."""
    dataset, strategy, seed, trials, work = job
    done = Path(work) / f"{dataset}-{strategy}-{seed}.json"
    if done.exists():
        return json.loads(done.read_text())
    result = nb201_search(dataset, strategy, seed, trials, "accuracy", work)
    if "error" in result:
        return result  # not saved: a refused strategy is reported, a crashed one is rerun next time
    rows = result.pop("trials")
    result.update(rewards=[r["reward"] for r in rows], cells=[r["cell"] for r in rows])
    done.write_text(json.dumps(result))
    return result


def regret_curve(rewards: list[float], mean_acc: list[float], best: float, trials: int) -> np.ndarray:
    """Regret after each of the first ``trials`` trials: ``best`` minus the incumbent's mean accuracy.

    The incumbent is the trial with the highest observed reward so far (the first of equals).
    """
    curve = np.full(trials, np.nan)
    incumbent = -1
    for t, reward in enumerate(rewards[:trials]):
        if incumbent < 0 or reward > rewards[incumbent]:
            incumbent = t
        curve[t] = best - mean_acc[incumbent]
    return curve


def curves(results: list[dict[str, Any]], trials: int) -> dict[tuple[str, str], np.ndarray]:
    """(dataset, strategy) -> regret array of shape (seeds, trials), rows in seed order."""
    from nas.tables import nb201

    grouped: dict[tuple[str, str], list[tuple[int, np.ndarray]]] = {}
    for r in results:
        if "rewards" not in r:
            continue
        t = nb201.load(r["dataset"])
        means = t.mean_accuracy()
        grouped.setdefault((r["dataset"], r["strategy"]), []).append(
            (r["seed"], regret_curve(r["rewards"], means[r["cells"]].tolist(), t.best()[1], trials)))
    return {k: np.stack([c for _, c in sorted(v, key=lambda p: p[0])]) for k, v in grouped.items()}


def paired_p(strategy: np.ndarray, baseline: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value that ``strategy``'s regret is lower than ``baseline``'s (paired)."""
    from scipy import stats

    diff = baseline - strategy
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff, alternative="greater").pvalue)


def table_rows(regret: dict[tuple[str, str], np.ndarray], datasets: list[str], strategies: list[str],
               trials: int) -> None:
    marks = [c for c in CHECKPOINTS if c <= trials]
    for dataset in datasets:
        print(f"\n#### {dataset}: regret (percentage points of validation accuracy), mean ± s.e. over seeds\n")
        print("| strategy | seeds | " + " | ".join(f"after {c}" for c in marks)
              + f" | vs random after {marks[-1]}: mean difference | p (Wilcoxon, one-sided) |")
        print("| --- | ---: | " + " | ".join("---:" for _ in marks) + " | ---: | ---: |")
        base = regret.get((dataset, "random"))
        for strategy in strategies:
            r = regret.get((dataset, strategy))
            if r is None:
                continue
            cells = []
            for c in marks:
                col = r[:, c - 1]
                se = col.std(ddof=1) / math.sqrt(len(col)) if len(col) > 1 else float("nan")
                cells.append(f"{col.mean():.3f} ± {se:.3f}")
            if strategy == "random" or base is None:
                versus = "- | -"
            else:
                n = min(len(base), len(r))
                a, b = r[:n, marks[-1] - 1], base[:n, marks[-1] - 1]
                versus = f"{(b - a).mean():+.3f} | {paired_p(a, b):.2g}"
            print(f"| {strategy} | {len(r)} | " + " | ".join(cells) + f" | {versus} |")


def plot(regret: dict[tuple[str, str], np.ndarray], datasets: list[str], strategies: list[str], trials: int,
         path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from search_spaces.files import atomic_write

    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    x = np.arange(1, trials + 1)
    for ax, dataset in zip(axes[0], datasets):
        for strategy in strategies:
            r = regret.get((dataset, strategy))
            if r is None:
                continue
            mean = r.mean(axis=0)
            se = r.std(axis=0, ddof=1) / math.sqrt(len(r))
            style = {"color": "black", "linewidth": 2} if strategy == "random" else {}
            ax.plot(x, mean, label=strategy, **style)
            ax.fill_between(x, np.maximum(mean - se, 1e-3), mean + se, alpha=0.15, color=ax.lines[-1].get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"NAS-Bench-201, {dataset}")
        ax.set_xlabel("trials")
        ax.set_ylabel("regret (validation accuracy, points)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seeds-for", action="append", default=[], metavar="STRATEGY=N",
                        help="fewer seeds for a slow strategy (the doc says so)")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", default="runs/nb201-strategies")
    parser.add_argument("--plot")
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    datasets = args.datasets.split(",")
    seeds = {s: args.seeds for s in strategies}
    seeds.update({k: int(v) for k, v in (x.split("=", 1) for x in args.seeds_for)})
    Path(args.work).mkdir(parents=True, exist_ok=True)

    meter = LoadMeter()
    jobs = [(d, s, k, args.trials, args.work) for s in strategies for d in datasets for k in range(seeds[s])]
    # Slow strategies first, so the pool's last minutes are not one long search on one core.
    jobs.sort(key=lambda j: j[1] != "gp")
    results, wall = run_jobs(one_search, jobs, args.jobs)

    print(f"### Strategies on NAS-Bench-201 ({args.trials} trials, reward = accuracy)\n")
    print(f"Command: `python benchmarks/nb201_strategies.py {shlex.join(sys.argv[1:])}`\n")
    print(f"Machine: {machine()}; {revision()}. {meter.report()}.\n")
    refused = {(r["strategy"], r["error"][0]) for r in results if "error" in r}
    for strategy, error in sorted(refused):
        print(f"- `{strategy}` did not run: {error}")
    per_strategy: dict[str, float] = {}
    for r in results:
        per_strategy[r["strategy"]] = per_strategy.get(r["strategy"], 0.0) + r.get("wall_s", 0.0)
    print("\nSearch seconds per strategy (all datasets and seeds; resumed searches count 0): "
          + ", ".join(f"{s} {v:.0f}" for s, v in per_strategy.items()) + f"; wall clock {wall:.0f} s.")
    regret = curves(results, args.trials)
    table_rows(regret, datasets, strategies, args.trials)
    if args.plot:
        plot(regret, datasets, strategies, args.trials, args.plot)
        print(f"\nPlot: `{args.plot}`")


if __name__ == "__main__":
    main()
