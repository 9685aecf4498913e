"""Zero-cost proxies on NAS-Bench-201 cells against the table's accuracy, beside the published figures.

For ``--cells`` cells drawn uniformly without replacement (seeded) from the 15,625, on each
dataset:

- ``synflow`` (data-free) on the dataset's own network and input shape: the ``nb201`` genome
  of the cell for that dataset (its class count; 32 px, 16 px for ImageNet16-120), built with
  PyTorch's default initialisation under ``torch.manual_seed(cell index)``, scored on one
  all-ones input exactly as :func:`nas.zero_cost.synflow` does (float64, batch norm bypassed,
  absolute weights: zero-cost-nas's ``synflow.py``). Its Spearman rank correlation with the
  table's mean validation accuracy is printed next to Abdelfattah et al. (ICLR 2021, "Zero-Cost
  Proxies for Lightweight NAS", Table 1: all 15,625 cells; their accuracy is the test accuracy
  of the 200-epoch training, the table here holds validation accuracy only).
- the data-dependent proxies (``--data-proxies``) through the ``zero-cost`` evaluator, on one
  batch of Fashion-MNIST resized to 32 px (gray repeated to 3 channels, 10 classes), for the
  first ``--data-cells`` of the drawn cells (they cost ~20x synflow's time). Not comparable to the
  paper (other data, other classifier width); reported for orientation.

``--cells 15625`` scores every cell (the slow variant). ``--jobs`` processes share the cells.

Usage:
    python benchmarks/nb201_zero_cost.py --cells 1000 --data-cells 300 --jobs 2
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

import numpy as np

from common import LoadMeter, machine, revision  # benchmarks/common.py (scripts run from this directory)
from nb201_runs import run_jobs

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
#: Abdelfattah et al. 2021, Table 1 (NAS-Bench-201, all 15,625 cells), as their released notebook
#: ``notebooks/nasbench201_correlations.ipynb`` prints it (3 decimals).
PUBLISHED = {
    "synflow": {"cifar10": 0.737, "cifar100": 0.763, "ImageNet16-120": 0.751},
    "grad_norm": {"cifar10": 0.594, "cifar100": 0.637, "ImageNet16-120": 0.578},
    "snip": {"cifar10": 0.596, "cifar100": 0.637, "ImageNet16-120": 0.578},
    "jacob_cov": {"cifar10": 0.731, "cifar100": 0.704, "ImageNet16-120": 0.701},
}
DATA_PROXIES = ("grad_norm", "snip", "jacob_cov", "naswot", "zico")


def score_cell(job: tuple[int, tuple[str, ...]]) -> dict[str, Any]:
    """Synflow on each dataset's network, and the data proxies on Fashion-MNIST at 32 px, for one cell."""
    import dataclasses

    import torch

    from nas.evaluators.base import RunContext
    from nas.evaluators.zero_cost import ZeroCostEvaluator
    from nas.zero_cost import PROXIES
    from search_spaces import build
    from nas.tables.nb201 import ops_at
    from search_spaces.spaces.nb201 import nb201_network

    index, data_proxies = job
    ops = ops_at(index)
    row: dict[str, Any] = {"index": index}
    for dataset in DATASETS:
        genome = nb201_network(ops, dataset)
        torch.manual_seed(index)
        model = build(genome)
        # synflow reads only the input's shape (it scores one all-ones input); the wrapper asks for a batch of 2.
        x = torch.zeros(2, genome.in_channels, genome.resolution, genome.resolution)
        row[f"synflow/{dataset}"] = PROXIES.get("synflow")(model, x, torch.zeros(2, dtype=torch.long), None)
    if data_proxies:
        genome = dataclasses.replace(nb201_network(ops, "cifar10"), resolution=32)
        ctx = RunContext(seed=index, budget={"zero_cost": ",".join(data_proxies), "zero_cost_resolution": 32,
                                            "resolution": 32})
        metrics = ZeroCostEvaluator().run(genome, ctx)
        row.update({f"{k[3:]}/fashion-mnist": v for k, v in metrics.extra.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--data-cells", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-proxies", default=",".join(DATA_PROXIES),
                        help="data-dependent proxies on Fashion-MNIST at 32 px ('' for none)")
    args = parser.parse_args()
    from scipy import stats

    from nas.tables import nb201

    data_proxies = tuple(p for p in args.data_proxies.split(",") if p) if args.data_cells > 0 else ()
    total = nb201.CELLS
    cells = sorted(np.random.default_rng(args.seed).choice(total, size=min(args.cells, total), replace=False).tolist())
    meter = LoadMeter()
    work = [(c, data_proxies if k < args.data_cells else ()) for k, c in enumerate(cells)]
    rows, wall = run_jobs(score_cell, work, args.jobs, every=200)

    print(f"### Zero-cost proxies on NAS-Bench-201 ({len(cells)} cells)\n")
    print(f"Command: `python benchmarks/nb201_zero_cost.py {shlex.join(sys.argv[1:])}`\n")
    print(f"Machine: {machine()}; {revision()}. {meter.report()}; {wall:.0f} s wall clock with {args.jobs} "
          f"processes.\n")
    print("Spearman rank correlation with the table's mean validation accuracy (absolute value, as the paper):\n")
    print("| proxy | input | cells | " + " | ".join(DATASETS) + " |")
    print("| --- | --- | ---: | " + " | ".join("---:" for _ in DATASETS) + " |")

    def rho(key: str, dataset: str) -> float:
        scored = [r for r in rows if key in r]
        acc = nb201.load(dataset).mean_accuracy()[[r["index"] for r in scored]]
        score = np.array([r[key] for r in scored], dtype=float)
        ok = np.isfinite(score)
        return abs(float(stats.spearmanr(acc[ok], score[ok]).statistic))

    cols = [f"{rho(f'synflow/{d}', d):.3f} (paper {PUBLISHED['synflow'][d]:.3f})" for d in DATASETS]
    print(f"| synflow | the dataset's shape, all-ones | {len(rows)} | " + " | ".join(cols) + " |")
    for proxy in data_proxies:
        cols = []
        for d in DATASETS:
            paper = PUBLISHED.get(proxy, {}).get(d)
            cols.append(f"{rho(f'{proxy}/fashion-mnist', d):.3f}" + (f" (paper {paper:.3f})" if paper else ""))
        print(f"| {proxy} | Fashion-MNIST, 32 px, batch 64 | {min(args.data_cells, len(rows))} | "
              + " | ".join(cols) + " |")
    failed = {k: sum(1 for r in rows if k in r and not np.isfinite(r[k])) for k in rows[0] if "/" in k}
    if any(failed.values()):
        print("\nNon-finite scores (left out of the correlation): "
              + ", ".join(f"{k} {v}" for k, v in failed.items() if v))


if __name__ == "__main__":
    main()
