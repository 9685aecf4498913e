"""One NAS-Bench-201 search run in-process, and the pool of workers the NAS-Bench-201 benchmarks run jobs in.

Scripts import this module as ``nb201_runs`` (the script's directory is first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["init_worker", "nb201_search", "run_jobs"]


def init_worker() -> None:
    """A pool worker computes on one torch thread: the pool's processes already fill the cores."""
    import torch

    torch.set_num_threads(1)


def nb201_search(dataset: str, strategy: str, seed: int, trials: int, reward: str, work: str) -> dict[str, Any]:
    """Run (or resume) ``python -m nas.search --space nb201 --evaluator nb201`` in this process.

    The search is the one users run (the real driver, a journal-file study under ``work``), its
    output silenced. Returns ``dataset``, ``strategy``, ``seed``, the exit ``code``, ``wall_s`` and
    either ``error`` (the last line the search printed, when it exits non-zero) or ``trials``: per
    completed trial in order, its table row ``cell``, ``reward``, ``accuracy`` and ``latency_ms``.
    """
    from nas.search.cli import main
    from nas.tables.nb201 import cell_index
    from search_spaces.spaces.nb201 import NB201Space

    out = Path(work) / f"{dataset}-{strategy}-{seed}"
    argv = ["--space", "nb201", "--evaluator", "nb201", "--data", dataset, "--reward", reward,
            "--strategy", strategy, "--trials", str(trials), "--seed", str(seed), "--out", str(out),
            "--storage", f"journal:{out}.journal", "--quiet", "--no-plots", "--threads", "1"]
    if out.exists():
        argv.append("--resume")
    start = time.perf_counter()
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        code = main(argv)
    result: dict[str, Any] = {"dataset": dataset, "strategy": strategy, "seed": seed, "code": code,
                              "wall_s": time.perf_counter() - start}
    if code != 0:
        result["error"] = stderr.getvalue().strip().splitlines()[-1:] or [f"exit code {code}"]
        return result
    space = NB201Space(dataset)
    with open(out / "trials.csv", newline="") as handle:
        result["trials"] = [
            {"cell": cell_index(space.ops(row)), "reward": float(row["reward"]) if row.get("reward") else None,
             "accuracy": float(row["accuracy"]), "latency_ms": float(row["latency_ms"])}
            for row in csv.DictReader(handle) if row["state"] == "COMPLETE"]
    return result


def run_jobs(function: Callable[[Any], dict[str, Any]], jobs: Sequence[Any], processes: int,
             every: int = 20) -> tuple[list[dict[str, Any]], float]:
    """``function`` over ``jobs`` in ``processes`` forked workers (one torch thread each), in the order they end.

    Prints progress to stderr every ``every`` jobs. Returns the results and the wall-clock seconds. The pool is
    joined before returning, so the workers' CPU time counts as this process's in a load report.
    """
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes, initializer=init_worker, maxtasksperchild=50) as pool:
        for i, result in enumerate(pool.imap_unordered(function, jobs), 1):
            results.append(result)
            if i % every == 0 or i == len(jobs):
                print(f"{i}/{len(jobs)} jobs, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        pool.close()
        pool.join()
    return results, time.perf_counter() - started
