"""Search strategies compared on one space, evaluator and trial budget; and the search's own overhead.

Two measurements:

``--compare`` (default): each strategy runs ``--trials`` trials of ``python -m nas.search``
(in-process, its own study) for each of ``--seeds`` seeds on ``--space`` under the
``flops`` reward (EfficientNet's ACC*(MACs/T)^-0.07, T = ``--budget``), every candidate
trained by the real ``train`` evaluator on Fashion-MNIST with a short budget (``--set``
knobs below). Prints the best reward after 25/50/75/100% of the trials (mean and range
over seeds) and, with ``--plot``, draws best reward vs trials. ``--jobs`` runs that many
searches at once (one torch thread each).

``--overhead``: the search's cost per trial *excluding evaluation*, at ``--overhead-trials``
trials on a SQLite study: each strategy runs with a stand-in evaluator whose accuracy is a
fixed function of the exact cost (microseconds), and the evaluator's own time is
subtracted. The stand-in only makes the evaluation free; proposal, bookkeeping, storage
and the duplicate cache are the real ones. Reported: mean ms per trial over all trials
and over the last 100 (where a model-based sampler is slowest).

Usage:
    python benchmarks/search_strategies.py --compare --trials 40 --seeds 3 --jobs 2 --plot docs/figures/strategies.png
    python benchmarks/search_strategies.py --overhead --overhead-trials 1000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import math
import multiprocessing
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine  # benchmarks/common.py (scripts run from this directory)
from cost_engine import LoadMeter, revision

STRATEGIES = ("random", "tpe", "nsga2", "evolution", "rl")
TRAIN_KNOBS = {"steps": 40, "subset": 2000, "val_size": 1000, "batch_size": 64, "resolution": 28}


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- comparison


def one_search(job: tuple[str, int, argparse.Namespace]) -> dict[str, Any]:
    """Run (or resume) one search in this process; return its trial values in order.

    Each search keeps its own run directory under ``--work``, so an interrupted comparison
    resumes every search where it stopped instead of starting over.
    """
    strategy, seed, args = job
    import optuna
    import torch

    torch.set_num_threads(1)
    from nas.search.cli import main

    out = Path(args.work) / f"{strategy}-seed{seed}"
    knobs = [x for k, v in {**TRAIN_KNOBS, **dict(args.knob)}.items() for x in ("--set", f"{k}={v}")]
    resume = ["--resume"] if (out / "study.db").exists() else []
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the search's own summary lines
        code = main(["--space", args.space, "--budget", args.budget, "--reward", "flops", "--evaluator", "train",
                     "--strategy", strategy, "--trials", str(args.trials), "--seed", str(seed), "--out", str(out),
                     "--quiet", "--no-plots", "--threads", "1", *resume, *knobs])
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name=f"{args.space}-flops-{strategy}", storage=f"sqlite:///{out}/study.db")
    trials = [t for t in study.trials if t.state.name != "FAIL" or t.user_attrs.get("reason")][:args.trials]
    values = [t.value if t.state.name == "COMPLETE" else None for t in trials]
    cached = sum("cached_from" in t.user_attrs for t in trials)
    eval_s = sum(t.user_attrs.get("metrics", {}).get("wall_s", 0.0) for t in trials if "cached_from" not in t.user_attrs)
    return {"strategy": strategy, "seed": seed, "exit": code, "values": values, "wall_s": wall, "cached": cached,
            "resumed": bool(resume), "eval_s": eval_s}


def best_so_far(values: list[float | None]) -> list[float]:
    best, out = -math.inf, []
    for v in values:
        if v is not None:
            best = max(best, v)
        out.append(best)
    return out


def compare(args: argparse.Namespace) -> list[dict[str, Any]]:
    jobs = [(s, seed, args) for s in args.strategies for seed in range(args.seeds)]
    progress(f"{len(jobs)} searches of {args.trials} trials, {args.jobs} at a time...")
    results = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(one_search, jobs):
            results.append(result)
            progress(f"  {result['strategy']} seed {result['seed']}: best {max(best_so_far(result['values'])):.4f} "
                     f"in {result['wall_s']:.0f} s ({result['cached']} repeated genomes)")
    return sorted(results, key=lambda r: (args.strategies.index(r["strategy"]), r["seed"]))


def compare_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    marks = [max(1, round(args.trials * f)) for f in (0.25, 0.5, 0.75, 1.0)]
    print("| strategy | " + " | ".join(f"best after {m} trials" for m in marks) +
          " | repeated genomes | evaluation time per search |")
    print("| --- | " + " | ".join("---:" for _ in marks) + " | ---: | ---: |")
    for strategy in args.strategies:
        runs = [r for r in results if r["strategy"] == strategy]
        curves = [best_so_far(r["values"]) for r in runs]
        cells = []
        for m in marks:
            at = [c[m - 1] for c in curves]
            cells.append(f"{statistics.mean(at):.4f} ({min(at):.4f}-{max(at):.4f})")
        cached = statistics.mean(r["cached"] for r in runs)
        wall = statistics.mean(r["eval_s"] for r in runs)
        print(f"| {strategy} | " + " | ".join(cells) + f" | {cached:.1f} | {wall:.0f} s |")


def plot(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from search_spaces.files import atomic_write

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, strategy in enumerate(args.strategies):
        curves = [best_so_far(r["values"]) for r in results if r["strategy"] == strategy]
        xs = range(1, args.trials + 1)
        mean = [statistics.mean(c[j] for c in curves) for j in range(args.trials)]
        ax.plot(xs, mean, color=f"C{i}", label=strategy)
        ax.fill_between(xs, [min(c[j] for c in curves) for j in range(args.trials)],
                        [max(c[j] for c in curves) for j in range(args.trials)], color=f"C{i}", alpha=0.12)
    ax.set_xlabel("trial")
    ax.set_ylabel("best reward so far (flops reward)")
    ax.set_title(f"{args.space}, budget {args.budget}: mean and range over {args.seeds} seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    finite = [v for r in results for v in best_so_far(r["values"]) if math.isfinite(v)]
    if finite:
        ax.set_ylim(statistics.quantiles(finite, n=20)[0], max(finite) * 1.005)
    fig.tight_layout()
    atomic_write(args.plot, lambda handle: fig.savefig(handle, format="png", dpi=120))


# ---------------------------------------------------------------------- overhead


#: Optuna sampler methods a proposal goes through (their time is the sampler's, the rest is the search's).
_SAMPLER_METHODS = ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial",
                    "after_trial")


@contextlib.contextmanager
def sampler_clock(spent: list[float]) -> Any:
    """Add the time spent inside Optuna's samplers to ``spent`` while the block runs."""
    import optuna

    classes = (optuna.samplers.TPESampler, optuna.samplers.NSGAIISampler, optuna.samplers.RandomSampler)
    saved = {(c, m): c.__dict__[m] for c in classes for m in _SAMPLER_METHODS if m in c.__dict__}

    def clocked(method: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*a, **k)
            finally:
                spent.append(time.perf_counter() - start)
        return wrapper

    for (c, m), method in saved.items():
        setattr(c, m, clocked(method))
    try:
        yield
    finally:
        for (c, m), method in saved.items():
            setattr(c, m, method)


def overhead(args: argparse.Namespace) -> None:
    import search_spaces as ss
    from nas.evaluators import EVALUATORS, Evaluator, Metrics, RunContext
    from nas.evaluators.synthetic import synthetic_accuracy
    from nas.search.cli import main

    spent: list[float] = []
    sampling: list[float] = []

    class StandIn(Evaluator):
        """The synthetic accuracy with its own time measured: evaluation made free, nothing else changed."""

        name = "stand-in"
        provides = ("accuracy",)

        def run(self, genome: ss.Network, ctx: RunContext) -> Metrics:
            start = time.perf_counter()
            c = ss.cost(genome)
            acc = synthetic_accuracy(c.params, c.macs)
            spent.append(time.perf_counter() - start)
            return Metrics(accuracy=acc)

    if "stand-in" not in EVALUATORS:
        EVALUATORS.register("stand-in", StandIn)
    print("| strategy | trials | ms per trial, all | ms per trial, last 100 | of which the Optuna sampler, last 100 "
          "| repeated genomes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    from nas.search import driver as driver_mod

    original = driver_mod.SearchDriver._record
    for strategy in args.strategies:
        stamps: list[tuple[float, float, float]] = []  # (time a trial finished, evaluator s, sampler s)

        def timed(self: Any, *a: Any, _stamps: list = stamps, **k: Any) -> Any:
            _stamps.append((time.perf_counter(), sum(spent), sum(sampling)))
            spent.clear()
            sampling.clear()
            return original(self, *a, **k)

        driver_mod.SearchDriver._record = timed
        spent.clear()
        sampling.clear()
        try:
            with tempfile.TemporaryDirectory() as out, sampler_clock(sampling):
                with contextlib.redirect_stdout(io.StringIO()):
                    main(["--space", args.space, "--budget", args.budget, "--reward", "flops", "--evaluator",
                          "stand-in", "--strategy", strategy, "--trials", str(args.overhead_trials), "--out", out,
                          "--quiet", "--no-plots"])
                import optuna

                study = optuna.load_study(study_name=f"{args.space}-flops-{strategy}",
                                          storage=f"sqlite:///{out}/study.db")
                cached = sum("cached_from" in t.user_attrs for t in study.trials)
        finally:
            driver_mod.SearchDriver._record = original
        # From the second trial on (the first includes start-up): time between trials minus evaluation.
        per = [(b[0] - a[0]) - b[1] for a, b in itertools.pairwise(stamps)]
        sampler = [b[2] for b in stamps[1:]]
        in_sampler = f"{1e3 * statistics.mean(sampler[-100:]):.1f}" if any(sampler) else "-"
        print(f"| {strategy} | {len(stamps)} | {1e3 * statistics.mean(per):.1f} | "
              f"{1e3 * statistics.mean(per[-100:]):.1f} | {in_sampler} | {cached} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--space", default="mbconv")
    parser.add_argument("--budget", default="400M")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--knob", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="override a train knob (defaults: " + json.dumps(TRAIN_KNOBS) + ")")
    parser.add_argument("--overhead-trials", type=int, default=1000)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", type=Path, help="write every search's trial values here")
    parser.add_argument("--work", type=Path, default=Path("runs/bench-strategies"),
                        help="run directory of each search (kept, so a rerun resumes; default: %(default)s)")
    args = parser.parse_args()
    args.strategies = [s.strip() for s in args.strategies.split(",")]
    if not args.compare and not args.overhead:
        args.compare = True
    meter = LoadMeter()
    print(f"Command: `python benchmarks/search_strategies.py {shlex.join(sys.argv[1:])}`\n")
    print(f"Machine: {machine()}; {revision()}.\n")
    if args.overhead:
        print(f"### Search overhead per trial, evaluation excluded ({args.space}, SQLite study)\n")
        overhead(args)
        print()
    if args.compare:
        knobs = {**TRAIN_KNOBS, **dict(args.knob)}
        print(f"### Strategies on `{args.space}`, reward flops (T = {args.budget}), {args.trials} trials, "
              f"{args.seeds} seeds\n")
        print("Evaluator: `train` on Fashion-MNIST, " + ", ".join(f"{k}={v}" for k, v in knobs.items()) +
              "; one torch thread per search. Cells: mean (min-max) over seeds of the best reward so far.\n")
        results = compare(args)
        compare_table(results, args)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        if args.plot:
            plot(results, args)
    print(f"\nLoad: {meter.report()}.")


if __name__ == "__main__":
    main()
