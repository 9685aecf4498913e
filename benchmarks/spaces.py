"""Sampling throughput of every registered search space, and the 400M-MACs band of `mbconv`.

Measures, per space, how many genomes per second one core can sample, decode and cost
analytically (the inner loop of a cost-constrained search), both cold (every memo cleared
before each genome: costed from scratch) and warm (memos kept across a run, as a long
search keeps them). A rate is genomes over the process's own CPU time (one process, one
core: time the machine's other load takes from us is not counted), the best of 3 runs on
fresh seeds; the warm rate over wall-clock time is printed beside it.
For `mbconv` it also reports the share of samples whose MACs fall in bands around 400M.

It then builds the first ``--forward`` samples of every space and runs one batch-1 forward
pass at the space's default resolution, checking the built parameters against the analytic
count (the tests do the same at a small resolution).

Usage:
    python benchmarks/spaces.py [--samples 2000] [--forward 5] [--quick] [--spaces regnet,nasnet]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time

import torch

import search_spaces as ss
from search_spaces import spaces
from search_spaces.cost import clear_caches

from common import LoadMeter, machine, revision  # benchmarks/common.py (scripts run from this directory)


def throughput(space: spaces.SearchSpace, n: int, cold: bool, repeats: int = 3) -> tuple[float, float, list[int]]:
    """Genomes per CPU second and per wall-clock second for sample + decode + cost over n fresh seeds
    (the best of ``repeats`` runs, as ``timeit`` advises on a shared machine), and their MACs.

    Each run uses fresh seeds so the whole-genome memo never answers; ``cold`` also clears
    every stage, block and op memo before each genome."""
    best_cpu = best_wall = 0.0
    macs: list[int] = []
    for r in range(repeats):
        clear_caches()
        run_macs = []
        cpu, wall = time.process_time(), time.perf_counter()
        for seed in range(r * n, (r + 1) * n):
            if cold:
                clear_caches()
            run_macs.append(ss.cost(space.sample(seed)).macs)
        best_cpu = max(best_cpu, n / (time.process_time() - cpu))
        best_wall = max(best_wall, n / (time.perf_counter() - wall))
        macs = macs or run_macs
    return best_cpu, best_wall, macs


def forward_check(space: spaces.SearchSpace, k: int) -> tuple[int, int, float, float]:
    """Build samples 0..k-1 and run each once at the default resolution (inference mode, batch 1).

    Returns ``(ran, params_exact, median build ms, median forward ms)``."""
    ran = exact = 0
    build_ms, forward_ms = [], []
    for seed in range(k):
        genome = space.sample(seed)
        start = time.perf_counter()
        model = ss.build(genome).eval()
        built = time.perf_counter()
        with torch.inference_mode():
            out = model(torch.randn(1, genome.in_channels, genome.resolution, genome.resolution))
        done = time.perf_counter()
        ran += tuple(out.shape) == (1, genome.num_classes) and bool(torch.isfinite(out).all())
        exact += sum(p.numel() for p in model.parameters()) == ss.cost(genome).params
        build_ms.append((built - start) * 1e3)
        forward_ms.append((done - built) * 1e3)
    return ran, exact, statistics.median(build_ms), statistics.median(forward_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="genomes per space (default: 2000)")
    parser.add_argument("--forward", type=int, default=5, help="samples per space to build and run (default: 5)")
    parser.add_argument("--spaces", default="all", help="comma-separated spaces, or 'all' (default)")
    parser.add_argument("--quick", action="store_true", help="200 genomes per space, 2 forward passes")
    args = parser.parse_args()
    n = 200 if args.quick else args.samples
    k = 2 if args.quick else args.forward
    names = spaces.names() if args.spaces == "all" else [s.strip() for s in args.spaces.split(",") if s.strip()]
    for name in names:
        if name not in spaces.names():
            parser.error(f"--spaces: unknown space {name!r}; known: {', '.join(spaces.names())}")
    meter = LoadMeter()

    print(f"Command: `python benchmarks/spaces.py{''.join(' ' + shlex.quote(a) for a in sys.argv[1:])}`\n")
    print(f"Machine: {machine()}; {revision()}; one process, one core.\n")
    print("| space | genomes | cold (genomes/s) | warm (genomes/s) | warm, wall clock (genomes/s) | median MACs "
          "| MACs range |")
    print("|---|---:|---:|---:|---:|---:|---|")
    band_macs: list[int] = []
    for name in names:
        space = spaces.get(name)
        cold, _, macs = throughput(space, n, cold=True)
        warm, warm_wall, _ = throughput(space, n, cold=False)
        if name == "mbconv":
            band_macs = macs
        print(f"| {name} | {n} | {cold:,.0f} | {warm:,.0f} | {warm_wall:,.0f} | {statistics.median(macs) / 1e6:,.0f}M "
              f"| {min(macs) / 1e6:,.0f}M - {max(macs) / 1e6:,.0f}M |", flush=True)
    if band_macs:
        print("\nShare of `mbconv` samples (224 px) within a MACs band around 400M:\n")
        print("| band | share |")
        print("|---|---:|")
        for width in (0.05, 0.10, 0.25):
            lo, hi = 400e6 * (1 - width), 400e6 * (1 + width)
            share = sum(lo <= m <= hi for m in band_macs) / len(band_macs)
            print(f"| 400M +-{width:.0%} ({lo / 1e6:.0f}M-{hi / 1e6:.0f}M) | {share:.1%} |")
    if k:
        torch.set_num_threads(1)
        print(f"\nFirst {k} samples of each space built and run once at the default resolution "
              "(batch 1, inference mode, one thread):\n")
        print("| space | resolution | ran | params exact | median build (ms) | median forward (ms) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in names:
            space = spaces.get(name)
            ran, exact, build, forward = forward_check(space, k)
            print(f"| {name} | {space.default_resolution} | {ran}/{k} | {exact}/{k} | {build:,.0f} | {forward:,.0f} |")
    print(f"\nLoad: {meter.report()}.")


if __name__ == "__main__":
    main()
