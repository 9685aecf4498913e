"""The ``train-step`` evaluator's time and ratio in NCHW and in channels_last, on the CPU, for the same genomes.

The v2 reward divides a candidate's training step by EfficientNet-B0's, measured the same way. The
trainings themselves (the proxy loop, ``nas.train``) run in channels_last on every device; this
script shows what timing the step in another format does to the ratios: for ``--genomes``
``mbconv`` genomes of 200-600M MACs and B0, the median step at the search's settings (batch 16,
96 px, 2 warm-up and 3 timed steps) in both formats, the ratios to B0, their rank agreement and
the evaluator's wall time.

Usage:
    python benchmarks/train_step_format.py [--genomes 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from nas.evaluators.train_step import StepConfig, time_train_steps
from nas.search.session import SEARCH_BUDGET
from nas.stats import kendall, spearman
from search_spaces import cost, zoo

from common import genomes_near, machine, revision  # benchmarks/common.py (scripts run from this directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genomes", type=int, default=12)
    parser.add_argument("--seed", type=int, default=200, help="first sampler seed")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    genomes = [dataclasses.replace(g, num_classes=10) for _, g in genomes_near("mbconv", args.genomes, args.seed)]
    reference = dataclasses.replace(zoo.get("efficientnet_b0"), num_classes=10)
    device = torch.device("cpu")
    steps: dict[str, list[float]] = {"NCHW": [], "channels_last": []}
    wall = dict.fromkeys(steps, 0.0)
    for genome in [reference, *genomes]:
        for name in steps:  # alternating, so drifts hit both
            config = StepConfig(batch=SEARCH_BUDGET["step_batch"], resolution=SEARCH_BUDGET["step_resolution"],
                                warmup=SEARCH_BUDGET["step_warmup"], repeats=SEARCH_BUDGET["step_repeats"],
                                channels_last=name == "channels_last")
            start = time.perf_counter()
            steps[name].append(statistics.median(time_train_steps(genome, config, device)))
            wall[name] += time.perf_counter() - start
    ratios = {name: [t / ms[0] for t in ms[1:]] for name, ms in steps.items()}
    print(f"Machine: {machine()}; {args.threads} threads; {revision()}.\n")
    print("| genome | MACs | NCHW ms | channels_last ms | ratio to B0, NCHW | ratio to B0, channels_last |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| efficientnet_b0 | {cost(reference).macs / 1e6:,.0f}M | {steps['NCHW'][0]:.1f} | "
          f"{steps['channels_last'][0]:.1f} | 1 | 1 |")
    for i, genome in enumerate(genomes):
        print(f"| {genome.name} | {cost(genome).macs / 1e6:,.0f}M | {steps['NCHW'][i + 1]:.1f} | "
              f"{steps['channels_last'][i + 1]:.1f} | {ratios['NCHW'][i]:.3f} | {ratios['channels_last'][i]:.3f} |")
    change = [abs(c / n - 1) for n, c in zip(ratios["NCHW"], ratios["channels_last"])]
    print(f"\nratios, NCHW against channels_last: Spearman {spearman(ratios['NCHW'], ratios['channels_last']):.3f}, "
          f"Kendall {kendall(ratios['NCHW'], ratios['channels_last']):.3f}; a ratio moves by {100 * min(change):.0f}-"
          f"{100 * max(change):.0f}% (median {100 * statistics.median(change):.0f}%)")
    print(f"evaluator wall: NCHW {wall['NCHW']:.1f} s, channels_last {wall['channels_last']:.1f} s "
          f"({len(genomes) + 1} networks)")


if __name__ == "__main__":
    main()
