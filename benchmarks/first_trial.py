"""A new architecture's first proxy trial against the same genome's second, in one process (issue 21).

A search evaluates a new genome in (almost) every trial. On a GPU the first training of a new
architecture pays one-time work per new layer shape (cuDNN's plan choice, runtime-compiled kernels,
the allocator growing) that a second training of the same genome in the same process does not; on a
CPU the two should cost the same. This script measures both for ``--genomes`` genomes drawn from
the README search's space (200-600M MACs) with the search's own proxy (``nas.search.session.SEARCH_BUDGET``, the
``train`` evaluator only), after one warm-up genome that absorbs the process's own start-up
(CUDA context, library loading). It prints one row per genome and the median ratio first / second.

Variants for the profile: ``--cudnn benchmark|off`` (cuDNN's autotuner, or native kernels),
``--set channels_last=false``, ``--set amp=false`` and any other ``train`` knob. Then it counts the
forward convolution keys of one more trial (layer, input shape and format, precision: a GPU plans
each key once), and ``--profile`` wraps a new genome's first trial in ``torch.profiler`` and prints
the operators that took the most host time (where a first trial goes).

Usage:
    python benchmarks/first_trial.py [--device cpu|cuda] [--genomes 4] [--cudnn default|benchmark|off]
                                     [--set KEY=VALUE ...] [--profile] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nas.evaluators import RunContext, evaluate, get
from nas.search.session import SEARCH_BUDGET
from search_spaces import cost

from common import genomes_near, machine, revision  # benchmarks/common.py (scripts run from this directory)

#: The ``train`` evaluator's share of the search's default budget (the training-step knobs are another evaluator's).
PROXY = {k: v for k, v in SEARCH_BUDGET.items() if not k.startswith("step_")}


def _trial(genome, device: str, budget: dict) -> float:  # noqa: ANN001
    """Wall seconds of one ``train`` evaluation (the device drained before and after)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    metrics = evaluate(genome, [get("train")], RunContext(device=device, seed=0, budget=budget))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    if metrics.failed:
        raise SystemExit(f"trial failed: {metrics.reason}")
    return time.perf_counter() - start


def _shape_keys(genome, device: str, budget: dict) -> tuple[int, int]:  # noqa: ANN001
    """``(convolution layers, distinct forward keys)`` of one trial: a key is what a GPU builds a convolution
    plan for (layer, input shape and memory format, precision), seen through a global forward hook."""
    keys: set[tuple] = set()
    layers: set[int] = set()

    def hook(module: torch.nn.Module, args: tuple) -> None:
        if isinstance(module, torch.nn.Conv2d):
            x = args[0]
            dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
            channels_last = x.is_contiguous(memory_format=torch.channels_last)
            layers.add(id(module))
            keys.add((id(module), tuple(x.shape), channels_last, dtype))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        _trial(genome, device, budget)
    finally:
        handle.remove()
    return len(layers), len(keys)


def _profile(genome, device: str, budget: dict, rows: int) -> None:  # noqa: ANN001
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        _trial(genome, device, budget)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48)
    print(f"\nProfile of a new genome's first trial (top {rows} operators by self host time):\n")
    print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--space", default="mbconv")
    parser.add_argument("--genomes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=100, help="first sampler seed (one genome per seed)")
    parser.add_argument("--cudnn", choices=("default", "benchmark", "off"), default="default")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a train knob")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn == "benchmark"
    torch.backends.cudnn.enabled = args.cudnn != "off"
    budget = dict(PROXY)
    for pair in args.set:
        key, _, value = pair.partition("=")
        budget[key] = value
    seeds, genomes = zip(*genomes_near(args.space, args.genomes + 2, args.seed))
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{torch.get_num_threads()} threads"
    print(f"Machine: {machine()}; {where}; {revision()}.")
    print(f"Proxy: {budget}; device {args.device}; cuDNN {args.cudnn}.\n")
    warm = _trial(genomes[0], args.device, budget)
    print(f"warm-up genome (the process's first trial): {warm:.2f} s\n")
    print("| genome (seed) | MACs | first trial s | second trial s | first / second |")
    print("|---|---:|---:|---:|---:|")
    ratios, firsts, seconds = [], [], []
    for i, genome in enumerate(genomes[1:-1], start=1):
        first, second = _trial(genome, args.device, budget), _trial(genome, args.device, budget)
        firsts.append(first)
        seconds.append(second)
        ratios.append(first / second)
        print(f"| {seeds[i]} | {cost(genome).macs / 1e6:,.0f}M | {first:.2f} | {second:.2f} | {first / second:.2f} |")
    print(f"\nmedian first trial {statistics.median(firsts):.2f} s, second {statistics.median(seconds):.2f} s, "
          f"first / second {statistics.median(ratios):.2f} (goal on a GPU: at most 2)")
    layers, keys = _shape_keys(genomes[-1], args.device, budget)
    print(f"forward convolution keys of a trial: {keys} for {layers} layers, {keys / layers:.2f} a layer "
          f"(each backward adds its own: 2 a layer in training)")
    if args.profile:
        _profile(genomes[-1], args.device, budget, args.profile_rows)


if __name__ == "__main__":
    main()
