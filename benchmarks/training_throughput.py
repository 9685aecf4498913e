"""Proxy-training throughput: our efficientnet_b0 against timm's same model, same loop, same data.

Both networks are trained by :func:`nas.training.loop.train` on the same real Fashion-MNIST
batches at the proxy resolution; runs alternate (ours, timm, ours, ...) so drifts in the
machine's speed hit both. Reported: training images per second (excluding validation),
median over runs, and the ratio ours / timm (the issue's goal: >= 1.0).

Usage:
    python benchmarks/training_throughput.py [--resolution 32] [--batch 64] [--steps 40] [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import warnings

import torch

import search_spaces as ss
from nas.data import DataConfig, loaders
from nas.training.loop import TrainConfig, train

from common import machine  # benchmarks/common.py (scripts run from this directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="efficientnet_b0", help="zoo name; its reference must be timm:<name>")
    args = parser.parse_args()
    import timm

    genome = dataclasses.replace(ss.zoo.get(args.model), num_classes=10, resolution=args.resolution)
    reference = ss.zoo.entry(args.model).reference.partition(":")[2]
    data = DataConfig(resolution=args.resolution, batch_size=args.batch, subset=args.batch * args.steps,
                      val_size=args.batch)
    train_batches, val_batches, _ = loaders(data)
    schedule = TrainConfig(steps=args.steps)
    rates: dict[str, list[float]] = {"ours": [], "timm": []}
    for run in range(args.runs + 1):  # run 0 warms up both
        for side in ("ours", "timm"):
            torch.manual_seed(run)
            if side == "ours":
                model = ss.build(genome)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = timm.create_model(reference, num_classes=10, drop_rate=genome.head.dropout,
                                              drop_path_rate=genome.drop_path)
            rate = train(model, train_batches, val_batches, schedule).images_per_s
            if run:
                rates[side].append(rate)
    ours, theirs = statistics.median(rates["ours"]), statistics.median(rates["timm"])
    print(f"Machine: {machine()}; torch threads {torch.get_num_threads()}.\n")
    print(f"{args.model} vs timm {reference}, Fashion-MNIST at {args.resolution} px, batch {args.batch}, "
          f"{args.steps} SGD steps per run, median of {args.runs} alternating runs:\n")
    print("| model | images/s (median) | runs |")
    print("|---|---:|---|")
    print(f"| ours | {ours:,.0f} | {', '.join(f'{r:,.0f}' for r in rates['ours'])} |")
    print(f"| timm | {theirs:,.0f} | {', '.join(f'{r:,.0f}' for r in rates['timm'])} |")
    print(f"\nRatio ours / timm: {ours / theirs:.3f} (goal >= 1.0)")


if __name__ == "__main__":
    main()
