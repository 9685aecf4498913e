"""Training-step throughput on the CPU in NCHW and in channels_last (NHWC), same network, batch and seed.

One SGD step (forward, cross-entropy, backward, update) of a zoo network on random inputs at
the proxy resolution, timed after two warm-up steps; the two memory formats alternate over
``--runs`` runs so drifts hit both. ``nas.train`` trains in channels_last on every device because
of this measurement (docs/BENCHMARKS.md, "Full training with nas.train").

Usage:
    python benchmarks/memory_format.py [--model efficientnet_b0] [--resolution 28] [--batch 128] [--threads 1] [--bf16]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

import search_spaces as ss

from common import machine, revision  # benchmarks/common.py (scripts run from this directory)


def _rate(genome: ss.Network, channels_last: bool, args: argparse.Namespace, bf16: bool = False) -> float:
    torch.manual_seed(0)
    model = ss.build(genome).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, genome.in_channels, args.resolution, args.resolution)
    y = torch.randint(0, genome.num_classes, (args.batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    for step in range(args.steps + 2):
        if step == 2:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return args.batch * args.steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet_b0")
    parser.add_argument("--resolution", type=int, default=28)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bf16", action="store_true", help="also time channels_last under CPU bfloat16 autocast")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    genome = dataclasses.replace(ss.zoo.get(args.model), num_classes=10, resolution=args.resolution)
    rates: dict[str, list[float]] = {"NCHW": [], "channels_last": []}
    if args.bf16:
        rates["channels_last + bf16 autocast"] = []
    for _ in range(args.runs):
        for name in rates:
            rates[name].append(_rate(genome, name != "NCHW", args, bf16=name.endswith("autocast")))
    print(f"Machine: {machine()}; torch {torch.__version__}, {args.threads} thread(s); commit {revision()}.\n")
    print(f"{args.model}, batch {args.batch} at {args.resolution} px, one SGD step, {args.steps} steps a run, "
          f"median of {args.runs} alternating runs:\n")
    print("| memory format | images/s (median) | runs |")
    print("|---|---:|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f} | {', '.join(f'{v:,.0f}' for v in values)} |")
    print(f"\nchannels_last / NCHW: {statistics.median(rates['channels_last']) / statistics.median(rates['NCHW']):.2f}")


if __name__ == "__main__":
    main()
