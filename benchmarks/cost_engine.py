"""Analytic cost vs build + FlopCounterMode, and our EfficientNet blocks vs timm's.

Part 1 ("cost"): for every zoo model at its default resolution and for N random genomes,
the time of ``search_spaces.cost(g)`` (warm = the stage, block, stem and head memos kept
from earlier calls, as in a search that revisits them; cold = every memo cleared before
each call; the whole-genome memo is cleared before every call either way) against
``build(g)`` plus one batch-1 forward under ``torch.utils.flop_counter.FlopCounterMode`` in
``torch.no_grad()`` on one torch thread (one core against one core), and whether the analytic params / MACs equal the counted ones
(params exactly, MACs exactly ``FlopCounterMode total // 2``). Every time is the minimum
over its runs (as ``timeit`` advises on a shared machine: the other runs measure the
machine's other load). Zoo models and random genomes are summarised separately.

Part 2 ("blocks"): our built EfficientNet-B0 / EfficientNetV2-S against timm's
``tf_efficientnet_b0`` / ``tf_efficientnetv2_s`` (same architecture, random init, same
dropout and stochastic-depth rates): eval-mode inference latency under
``torch.inference_mode()`` and one training step (forward + cross-entropy + backward +
SGD step) in train mode. Ours and timm's runs alternate (AB, BA, AB, ...) so drift in
machine load hits both; each figure is the median of the timed runs after warm-up.

Everything printed to stdout is markdown that pastes straight into docs/BENCHMARKS.md;
progress goes to stderr. No assertion is made on wall time.

Usage (run times and results: docs/BENCHMARKS.md):
    python benchmarks/cost_engine.py                 # full run
    python benchmarks/cost_engine.py --parts cost    # part 1 only
    python benchmarks/cost_engine.py --quick         # smoke run (numbers mean nothing)
    python benchmarks/cost_engine.py --parts blocks --repeats 30 --v2-resolution 300
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

import search_spaces as ss
from search_spaces.cost import clear_caches
from search_spaces.genome import Network
from search_spaces.testing import random_network

from common import LoadMeter, available_cores, cpu_model, revision  # benchmarks/common.py (scripts run from here)

QUICK_MODELS = ("efficientnet_b0", "mobilenet_v3_small", "efficientnetv2_s")
DEFAULT_COMPARE = ("efficientnet_b0", "efficientnetv2_s")


# ----------------------------------------------------------------------------- machine


def machine(threads: int) -> str:
    """One line: CPU, cores, versions, torch threads, code revision."""
    import timm

    return (f"{cpu_model()}, {available_cores()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"timm {timm.__version__}, torch threads {threads}; {revision()}")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- part 1: cost engine


@dataclass(frozen=True)
class CostRow:
    """One network's timings (each the minimum over its runs) and exactness."""

    name: str
    resolution: int
    params: int
    macs: int
    warm_us: float
    cold_us: float
    count_ms: float
    build_ms: float
    params_equal: bool
    macs_equal: bool

    @property
    def speedup(self) -> float:
        return self.count_ms * 1e3 / self.warm_us

    @property
    def cold_speedup(self) -> float:
        return self.count_ms * 1e3 / self.cold_us

    @property
    def exact(self) -> bool:
        return self.params_equal and self.macs_equal


def time_cost_calls(genome: Network, calls: int, cold: bool) -> list[float]:
    """Per-call seconds of ``ss.cost(genome)``; ``cold`` clears every finer memo before each call.

    The whole-genome memo is always cleared: these timings are of the cost engine, not of one lookup."""
    times = []
    for _ in range(calls):
        clear_caches(genomes=True, blocks=cold)
        start = time.perf_counter()
        ss.cost(genome)
        times.append(time.perf_counter() - start)
    return times


def build_and_count(genome: Network) -> tuple[float, float, int, int]:
    """Seconds for build + one counted batch-1 forward, seconds of the build alone; counted params and
    MACs (FlopCounterMode total // 2)."""
    start = time.perf_counter()
    model = ss.build(genome).eval()
    built = time.perf_counter()
    x = torch.randn(1, genome.in_channels, genome.resolution, genome.resolution)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    end = time.perf_counter()
    return end - start, built - start, sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def measure_cost(genome: Network, cost_calls: int, count_repeats: int, label: str = "") -> CostRow:
    """Alternate chunks of analytic calls (warm, then cold) with build + count runs; the minimum of each."""
    analytic = ss.cost(genome)
    warm: list[float] = []
    cold: list[float] = []
    counted: list[float] = []
    builds: list[float] = []
    params = macs = -1
    chunk = max(1, cost_calls // count_repeats)
    for _ in range(count_repeats):
        warm += time_cost_calls(genome, chunk, cold=False)
        cold += time_cost_calls(genome, chunk, cold=True)
        elapsed, build_only, params, macs = build_and_count(genome)
        counted.append(elapsed)
        builds.append(build_only)
    return CostRow(label or genome.name, genome.resolution, analytic.params, analytic.macs, min(warm) * 1e6,
                   min(cold) * 1e6, min(counted) * 1e3, min(builds) * 1e3, params == analytic.params,
                   macs == analytic.macs)


def fmt_count(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def table_row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def cost_cells(rows: Sequence[CostRow]) -> list[str]:
    """Table cells from resolution to speed-ups: the row's values, or their medians over several rows."""
    med = statistics.median
    return [f"{med(r.resolution for r in rows):.0f}", fmt_count(med(r.params for r in rows)),
            fmt_count(med(r.macs for r in rows)), f"{med(r.warm_us for r in rows):,.1f}",
            f"{med(r.cold_us for r in rows):,.0f}", f"{med(r.count_ms for r in rows):,.1f}",
            f"{med(r.build_ms for r in rows):,.1f}", f"{med(r.speedup for r in rows):,.0f}x",
            f"{med(r.cold_speedup for r in rows):,.0f}x"]


def summary_row(label: str, rows: Sequence[CostRow]) -> None:
    """Median and minimum speed-ups (warm, cold) of a group of networks, and how many are exact."""
    if not rows:
        return
    warm, cold = [r.speedup for r in rows], [r.cold_speedup for r in rows]
    slowest = min(rows, key=lambda r: r.speedup)
    table_row(label, f"{statistics.median(warm):,.0f}x / {min(warm):,.0f}x",
              f"{statistics.median(cold):,.0f}x / {min(cold):,.0f}x", f"{sum(v >= 1000 for v in warm)} / "
              f"{sum(v >= 1000 for v in cold)} of {len(rows)}", f"{slowest.name} ({slowest.speedup:,.0f}x)",
              f"{sum(r.exact for r in rows)}/{len(rows)}")


def part_cost(models: Sequence[str], genomes: int, cost_calls: int, count_repeats: int) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core against one core; threads waiting on a busy machine only add noise
    try:
        _part_cost(models, genomes, cost_calls, count_repeats)
    finally:
        torch.set_num_threads(threads)


def _part_cost(models: Sequence[str], genomes: int, cost_calls: int, count_repeats: int) -> None:
    calls = max(1, cost_calls // count_repeats) * count_repeats
    print("### Analytic cost vs build + FlopCounterMode\n")
    print(f"`cost(g)`: minimum per call over {calls} calls with the stage, block, stem and head memos warm (as in a "
          f"search that revisits them) and over {calls} calls with every memo cleared before each call (cold); the "
          f"whole-genome memo is cleared before every call. Build + count: `build(g)` plus one batch-1 forward under "
          f"`FlopCounterMode` in `torch.no_grad()` on one torch thread (the analytic cost runs on one core too), "
          f"minimum of {count_repeats} (the build alone in its own column). "
          f"Speed-up = build + count / analytic. Exact: analytic params == `sum(p.numel())`, analytic MACs == "
          f"FlopCounterMode total // 2.\n")
    table_row("model", "resolution", "params", "MACs", "analytic warm (µs)", "analytic cold (µs)",
              "build + count (ms)", "of which build (ms)", "speed-up warm", "speed-up cold", "params exact",
              "MACs exact")
    table_row("---", *["---:"] * 9, ":---:", ":---:")
    build_and_count(random_network(0))  # untimed: first-call overheads (dispatcher, FlopCounterMode set-up)
    rows: list[CostRow] = []
    for name in models:
        progress(f"[cost] {name}")
        row = measure_cost(ss.zoo.get(name), cost_calls, count_repeats)
        rows.append(row)
        table_row(name, *cost_cells([row]), "yes" if row.params_equal else "**NO**",
                  "yes" if row.macs_equal else "**NO**")
    randoms: list[CostRow] = []
    for seed in range(genomes):
        progress(f"[cost] random genome seed {seed}")
        randoms.append(measure_cost(random_network(seed), cost_calls, count_repeats, f"random genome seed {seed}"))
    if randoms:
        table_row(f"{genomes} random genomes (seeds 0-{genomes - 1}), medians", *cost_cells(randoms),
                  f"{sum(r.params_equal for r in randoms)}/{genomes}",
                  f"{sum(r.macs_equal for r in randoms)}/{genomes}")
    if not rows and not randoms:
        return
    print("\n| networks | speed-up warm: median / minimum | speed-up cold: median / minimum | "
          "at least 1,000x (warm / cold) | slowest (warm) | exact |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    summary_row(f"zoo ({len(rows)} models)", rows)
    summary_row(f"random genomes ({len(randoms)}, 32-64 px)", randoms)
    if rows:
        warm = statistics.median(r.speedup for r in rows)
        cold = statistics.median(r.cold_speedup for r in rows)
        print(f"\nGoal (issue 15): a median speed-up of at least 1,000x over the zoo, exactness unchanged. Warm: "
              f"{warm:,.0f}x, {'met' if warm >= 1000 else 'NOT met'}; cold: {cold:,.0f}x, "
              f"{'met' if cold >= 1000 else 'not met'}; {sum(r.exact for r in rows)} of {len(rows)} zoo models "
              f"exact.\n")


# ----------------------------------------------------------------------------- part 2: blocks vs timm


def make_pair(name: str) -> tuple[nn.Module, nn.Module, Network]:
    """Our built zoo model and the timm model it references, with the same dropout and drop-path rates."""
    import timm

    genome = ss.zoo.get(name)
    reference = ss.zoo.entry(name).reference.split(":", 1)[1]
    ours = ss.build(genome)
    theirs = timm.create_model(reference, pretrained=False, num_classes=genome.num_classes,
                               drop_rate=genome.head.dropout, drop_path_rate=genome.drop_path)
    return ours, theirs, genome


def interleaved(fns: tuple[Callable[[], None], Callable[[], None]], warmup: int,
                repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of each run of two callables, run alternately AB, BA, AB, ... after warm-up."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeats):
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            start = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - start)
    return times


def inference_fn(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode():
            model(x)
    return run


def train_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return run


def spread(times: list[float]) -> str:
    """Interquartile range relative to the median, as a percentage."""
    if len(times) < 2:
        return "-"
    q1, q2, q3 = statistics.quantiles(times, n=4)
    return f"{(q3 - q1) / q2:.0%}"


def timing_cells(times: tuple[list[float], list[float]], ratios: list[float]) -> list[str]:
    """Medians in ms, their ratio (appended to ``ratios``) and the spread of each."""
    a, b = statistics.median(times[0]), statistics.median(times[1])
    ratios.append(a / b)
    return [f"{a * 1e3:,.1f}", f"{b * 1e3:,.1f}", f"{a / b:.3f}", f"{spread(times[0])} / {spread(times[1])}"]


def part_blocks(names: Sequence[str], args: argparse.Namespace) -> None:
    print("### Our blocks vs timm's (CPU)\n")
    print(f"Random init, same architecture, timm built with the genome's dropout and drop-path rates. Inference: "
          f"eval mode, `torch.inference_mode()`, {args.warmup} warm-up runs, median of {args.repeats}. Training "
          f"step: train mode, forward + cross-entropy + backward + SGD (momentum) step, batch {args.train_batch}, "
          f"{args.warmup} warm-up steps, median of {args.train_repeats}. Ours and timm's runs alternate (AB, BA, ...). "
          f"Ratio = ours / timm (goal <= 1.05); "
          f"spread = interquartile range / median of each side's runs (the noise a ratio should be read against).\n")
    table_row("model (ours vs timm)", "measurement", "ours (ms)", "timm (ms)", "ours / timm", "spread ours / timm")
    table_row("---", "---", "---:", "---:", "---:", "---:")
    ratios, counts = [], []
    for name in names:
        torch.manual_seed(0)
        ours, theirs, genome = make_pair(name)
        label = f"{name} vs {ss.zoo.entry(name).reference.split(':', 1)[1]}"
        counts.append(f"{label}: {sum(p.numel() for p in ours.parameters()):,} vs "
                      f"{sum(p.numel() for p in theirs.parameters()):,}")
        is_v2 = name.startswith("efficientnetv2")
        res = args.v2_resolution if is_v2 else genome.resolution
        train_res = args.v2_train_resolution if is_v2 else args.train_resolution
        ours.eval(), theirs.eval()
        for batch in args.batches:
            progress(f"[blocks] {name} inference batch {batch} at {res}")
            x = torch.randn(batch, genome.in_channels, res, res)
            times = interleaved((inference_fn(ours, x), inference_fn(theirs, x)), args.warmup, args.repeats)
            table_row(label, f"inference, batch {batch}, {res}x{res}", *timing_cells(times, ratios))
        progress(f"[blocks] {name} training step batch {args.train_batch} at {train_res}")
        ours.train(), theirs.train()
        x = torch.randn(args.train_batch, genome.in_channels, train_res, train_res)
        y = torch.randint(0, genome.num_classes, (args.train_batch,))
        times = interleaved((train_fn(ours, x, y), train_fn(theirs, x, y)), args.warmup, args.train_repeats)
        table_row(label, f"training step, batch {args.train_batch}, {train_res}x{train_res}",
                  *timing_cells(times, ratios))
    if ratios:
        print(f"\nParameters (ours vs timm): {'; '.join(counts)}. Worst ours / timm ratio {max(ratios):.3f}: the "
              f"1.05 goal is {'met' if max(ratios) <= 1.05 else 'NOT met'} in this run"
              f"{' (--quick: too few runs to conclude anything)' if args.quick else ''}.\n")


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run (overrides counts): models {','.join(QUICK_MODELS)}, 5 genomes, 3 repeats, "
                        "V2 at 224")
    parser.add_argument("--parts", default="cost,blocks", help="comma-separated parts to run: cost, blocks")
    parser.add_argument("--models", default="all", help="comma-separated zoo models for part 1, or 'all'")
    parser.add_argument("--genomes", type=int, default=50, help="random genomes (seeds 0..N-1) in part 1")
    parser.add_argument("--cost-calls", type=int, default=300, help="timed analytic cost() calls per network")
    parser.add_argument("--count-repeats", type=int, default=5, help="timed build + count runs per network")
    parser.add_argument("--compare", default=",".join(DEFAULT_COMPARE),
                        help="comma-separated zoo models to compare with their timm reference in part 2")
    parser.add_argument("--repeats", type=int, default=20, help="timed inference runs per model and batch")
    parser.add_argument("--train-repeats", type=int, default=None, help="timed training steps (default: --repeats)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--batches", default="1,8", help="comma-separated inference batch sizes")
    parser.add_argument("--v2-resolution", type=int, default=384, help="inference resolution for V2 models")
    parser.add_argument("--train-batch", type=int, default=8, help="training-step batch size")
    parser.add_argument("--train-resolution", type=int, default=224, help="training-step resolution (V1 models)")
    parser.add_argument("--v2-train-resolution", type=int, default=224, help="training-step resolution for V2 models")
    parser.add_argument("--threads", type=int, default=available_cores(),
                        help="torch.set_num_threads for part 2 (all cores); part 1 runs on one thread")
    args = parser.parse_args(argv)
    if args.quick:
        if args.models == "all":
            args.models = ",".join(QUICK_MODELS)
        args.genomes, args.cost_calls, args.count_repeats = min(args.genomes, 5), 30, 1
        args.repeats, args.warmup, args.v2_resolution = 3, 1, 224
        args.train_repeats = 2
    args.train_repeats = args.train_repeats or args.repeats
    args.batches = [int(b) for b in args.batches.split(",") if b]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = args.parts - {"cost", "blocks"}
    if unknown:
        parser.error(f"--parts: unknown part(s) {', '.join(sorted(unknown))}; choose from cost, blocks")
    for option in ("models", "compare"):
        value = getattr(args, option)
        names = ss.zoo.names() if value == "all" else [n.strip() for n in value.split(",") if n.strip()]
        for n in names:
            if n not in ss.zoo.names():
                parser.error(f"--{option}: unknown zoo model {n!r}; known: {', '.join(ss.zoo.names())}")
        setattr(args, option, names)
    for name in args.compare if "blocks" in args.parts else ():
        reference = ss.zoo.entry(name).reference
        if not reference.startswith("timm:"):
            parser.error(f"--compare: {name}'s reference {reference} is not a timm model")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    meter = LoadMeter()
    command = "python benchmarks/cost_engine.py" + "".join(f" {shlex.quote(a)}" for a in
                                                           (sys.argv[1:] if argv is None else argv))
    print(f"Command: `{command}`\n")
    print(f"Machine: {machine(args.threads)}.\n")
    if "cost" in args.parts:
        part_cost(args.models, args.genomes, args.cost_calls, args.count_repeats)
    if "blocks" in args.parts:
        part_blocks(args.compare, args)
    print(f"Load: {meter.report()}.")


if __name__ == "__main__":
    main()
