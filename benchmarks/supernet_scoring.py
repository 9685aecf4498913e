"""Seconds per candidate of the ``supernet`` evaluator, and where they go.

Loads a trained supernet (``python -m nas.supernet train --out DIR``), draws ``--candidates``
random configurations of the ``mbconv`` space (seeded) and scores each as the evaluator does,
timing the phases: export (slicing the shared weights into a state dict), build (the module on
the meta device, the state dict assigned), BN re-estimation on the calibration images, and
validation on the held-out images. The first candidate is a warm-up and is not counted.

Usage:
    python benchmarks/supernet_scoring.py --supernet DIR [--candidates 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from common import LoadMeter, machine, revision  # benchmarks/common.py (scripts run from this directory)


def main() -> None:
    from nas.evaluators.train import VAL_SIZE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--supernet", required=True, help="a trained supernet's directory")
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--calibration", type=int, default=500, help="BN calibration images (the evaluator's default)")
    parser.add_argument("--val-images", type=int, default=VAL_SIZE,
                        help=f"held-out images validated on (the evaluator's default {VAL_SIZE}; 0: the whole split)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nchw", action="store_true",
                        help="score in NCHW memory format (the evaluator scores channels-last)")
    parser.add_argument("--steady-allocator", action="store_true",
                        help="keep freed memory in the process (nas.latency.measure.steady_allocator)")
    args = parser.parse_args()
    if args.steady_allocator:
        from nas.latency.measure import steady_allocator

        steady_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    from nas.supernet.score import SubnetScorer, exported_model
    from nas.training.loop import accuracy, recalibrate_bn

    scorer = SubnetScorer(args.supernet, args.calibration, args.val_images)
    supernet, rng = scorer.supernet, random.Random(args.seed)
    phases: dict[str, list[float]] = {"export": [], "build": [], "bn": [], "validate": [], "total": []}
    meter = LoadMeter()
    for i in range(args.candidates + 1):
        genome = supernet.coverage.sample(rng)
        t0 = time.perf_counter()
        proxy, state = supernet.subnet(genome)
        t1 = time.perf_counter()
        model = exported_model(proxy, state, "cpu", channels_last=not args.nchw)
        t2 = time.perf_counter()
        recalibrate_bn(model, scorer.calibration, len(scorer.calibration), channels_last=not args.nchw)
        t3 = time.perf_counter()
        accuracy(model, scorer.val, channels_last=not args.nchw)
        t4 = time.perf_counter()
        if i:
            for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                phases[key].append(value)
    print(f"# {machine()}; {revision()}; torch threads {torch.get_num_threads()}")
    calibration = sum(len(y) for _, y in scorer.calibration)
    print(f"# {args.candidates} candidates, {calibration} calibration and {scorer.val_images} validation images at "
          f"{supernet.config.resolution} px, {'NCHW' if args.nchw else 'channels-last'}; {meter.report()}")
    print("\n| phase | median s | p90 s |")
    print("|---|---:|---:|")
    for key, values in phases.items():
        values = sorted(values)
        print(f"| {key} | {statistics.median(values):.3f} | {values[int(0.9 * (len(values) - 1))]:.3f} |")


if __name__ == "__main__":
    main()
