"""Many workers on one study: throughput by worker count, and the storage's cost per trial as a study grows.

Two measurements:

``--throughput``: completed trials per minute with 1, 2 and 4 worker processes
(``python -m nas.search ... --workers N``) on one study, with the ``synthetic`` evaluator
at a fixed ``--seconds`` per evaluation (a sleep: it leaves the CPU to the search's own
work, as a GPU evaluation would). The ideal is N * 60 / seconds; the difference is the
search's own cost (proposal, storage, waiting on the study) and process start-up.

``--overhead``: the search's cost per trial, evaluation excluded, on a study that already
holds ``--sizes`` trials (1,000 and 10,000 by default), for each ``--storages`` kind. The
study is filled first with finished trials of the space (written directly, in batches);
then one worker runs ``--trials`` more trials of random search with a free evaluator and
the time between trials is reported (first trial excluded: it reads the whole study).

The PostgreSQL storage is the server at ``--postgres URL`` (a database the script may
create studies in), or a private throwaway server started with the installed PostgreSQL
binaries as the tests do (``tests/postgres.py``).

Usage:
    python benchmarks/distributed.py --throughput --seconds 2 --trials 60
    python benchmarks/distributed.py --overhead --sizes 1000,10000 --trials 100
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import machine  # benchmarks/common.py (scripts run from this directory)
from cost_engine import LoadMeter, revision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """A PostgreSQL URL of a fresh database: on ``url``'s server, or on a private one for the duration."""
    from tests.postgres import PostgresServer, private_server

    if url:
        server, stop = PostgresServer(url.rpartition("/")[0]), None
    else:
        stop = private_server()
        server = next(stop)
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)
        if stop is not None:
            next(stop, None)


# ---------------------------------------------------------------------- throughput


def throughput(args: argparse.Namespace) -> None:
    with postgres(args.postgres) as url:
        print(f"\nMachine: {machine()}; {revision()}.\n")
        print(f"Throughput, PostgreSQL, synthetic evaluator at {args.seconds:g} s per trial, {args.trials} trials, "
              f"strategy {args.strategy}:\n")
        print("| workers | wall s | trials / min | ideal trials / min | efficiency |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as out:
                cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator",
                       "synthetic", "--reward", "flops", "--strategy", args.strategy, "--trials", str(args.trials),
                       "--storage", url, "--study-name", f"throughput-{workers}-{uuid.uuid4().hex[:6]}", "--out",
                       out, "--workers", str(workers), "--threads", "1", "--set", f"synthetic_seconds={args.seconds}",
                       "--quiet", "--no-plots"]
                start = time.perf_counter()
                subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
                wall = time.perf_counter() - start
            rate, ideal = 60 * args.trials / wall, 60 * workers / args.seconds
            print(f"| {workers} | {wall:.1f} | {rate:.1f} | {ideal:.1f} | {rate / ideal:.0%} |", flush=True)


# ---------------------------------------------------------------------- storage overhead at size


def fill(url: str, study_name: str, n: int) -> None:
    """Put ``n`` finished trials of the mbconv space (random params, real genomes) into a new study."""
    import optuna

    import search_spaces as ss
    from search_spaces.codec import genome_key
    from nas.search.optuna_compat import study_id
    from nas.search.study import storage
    from search_spaces.codec import to_yaml

    store = storage(url, heartbeat=30)
    study = optuna.create_study(study_name=study_name, storage=store, direction="maximize")
    study.set_user_attr("config", {"space": "mbconv", "reward": "flops"})  # what a resume checks (the rest: any)
    space = ss.spaces.get("mbconv")
    sampler = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for i in range(n):
        trial = sampler.ask()
        genome = space.suggest(trial)
        sampler.tell(trial, 0.0)
        frozen = optuna.trial.create_trial(
            params=trial.params, distributions=trial.distributions, value=0.5 + 1e-6 * i,
            user_attrs={"genome_key": genome_key(genome), "genome": to_yaml(genome), "strategy": "random",
                        "worker": 0, "metrics": {"accuracy": 0.5, "macs": 4e8, "params": 5e6}, "reward": [0.5]})
        store.create_new_trial(study_id(study), template_trial=frozen)
        if (i + 1) % 1000 == 0:
            progress(f"  filled {i + 1}/{n}")


def time_trials(url: str, study_name: str, trials: int) -> list[float]:
    """Seconds between consecutive trials of one worker adding ``trials`` trials (evaluation subtracted)."""
    from nas.search import driver as driver_mod
    from nas.search.cli import main

    stamps: list[tuple[float, float]] = []
    original = driver_mod.SearchDriver._record

    def timed(self: Any, number: int, genome: Any, params: Any, attrs: dict[str, Any], values: Any) -> Any:
        stamps.append((time.perf_counter(), float(attrs.get("metrics", {}).get("wall_s", 0.0))))
        return original(self, number, genome, params, attrs, values)

    driver_mod.SearchDriver._record = timed
    try:
        import optuna

        from nas.search.study import storage
        total = len(optuna.load_study(study_name=study_name, storage=storage(url)).get_trials(deepcopy=False))
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
            code = main(["--space", "mbconv", "--budget", "400M", "--evaluator", "synthetic", "--reward", "flops",
                         "--strategy", "random", "--trials", str(total + trials), "--storage", url, "--study-name",
                         study_name, "--out", out, "--quiet", "--no-plots", "--resume", "--threads", "1"])
        assert code == 0, code
    finally:
        driver_mod.SearchDriver._record = original
    return [(b[0] - a[0]) - b[1] for a, b in itertools.pairwise(stamps)]


def overhead(args: argparse.Namespace) -> None:
    meter = LoadMeter()
    rows = []
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": lambda n: f"sqlite:///{tmp}/s{n}.db", "journal": lambda n: f"journal:{tmp}/s{n}.log"}
        if "postgresql" in args.storages:
            pg = stack.enter_context(postgres(args.postgres))
            urls["postgresql"] = lambda n: pg
        for kind in args.storages:
            for n in args.sizes:
                name = f"overhead-{n}"
                progress(f"{kind}: filling {n} trials")
                fill(urls[kind](n), name, n)
                per = time_trials(urls[kind](n), name, args.trials)
                rows.append((kind, n, 1e3 * statistics.median(per), 1e3 * statistics.mean(per)))
                progress(f"{kind} at {n}: median {rows[-1][2]:.1f} ms")
    print(f"\nMachine: {machine()}; {revision()}.\n")
    print(f"Search overhead per trial (evaluation excluded), random strategy, one worker, {args.trials} trials "
          f"added to a study of N:\n")
    print("| storage | N | median ms / trial | mean ms / trial |")
    print("| --- | ---: | ---: | ---: |")
    for kind, n, median, mean in rows:
        print(f"| {kind} | {n:,} | {median:.1f} | {mean:.1f} |")
    print(f"\nLoad: {meter.report()} (the PostgreSQL server's own work counts as other processes).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--postgres", help="a PostgreSQL URL to create databases on (default: a private server)")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=2.0, help="synthetic evaluation time")
    parser.add_argument("--strategy", default="tpe")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10000])
    parser.add_argument("--storages", type=lambda s: s.split(","), default=["sqlite", "journal", "postgresql"])
    args = parser.parse_args()
    if not (args.throughput or args.overhead):
        parser.error("choose --throughput and/or --overhead")
    if args.throughput:
        throughput(args)
    if args.overhead:
        overhead(args)


if __name__ == "__main__":
    main()
