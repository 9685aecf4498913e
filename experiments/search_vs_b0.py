"""Search at 400M MACs, select among the best candidates, then compare with EfficientNet-B0 and MnasNet-A1.

Steps (each resumable: a finished step is not redone; rows go to ``--rows``, by default
``--out``/rows.jsonl, keyed by step, genome, seed and recipe, so experiments that share a
rows file train each reference only once per recipe and seed):

1. **Search.** ``python -m nas.search --space mbconv --budget 400M`` with ``--reward``
   (default the training-aware ``v2``), ``--strategy``, ``--trials``, ``--workers``,
   ``--seed``, ``--evaluator`` (default: the short proxy training; ``supernet`` scores from a
   trained supernet) and its settings (``--search-set``), into ``--out``/search.
2. **Select.** The ``--top`` best distinct genomes of the study (by the search's reward;
   by proxy accuracy for a multi-objective reward) that have no more MACs than B0 are
   each trained with the full recipe and scored on the *held-out training images*
   (``eval_split=val``). A proxy of a few epochs ranks candidates only roughly
   (docs/BENCHMARKS.md, "Evaluator fidelity"); this step is MnasNet's and EfficientNet's
   "train the top candidates longer" and costs ``--top`` trainings.
3. **Time.** Every candidate and reference is timed by the ``latency`` evaluator (batch 1,
   224 px, one thread, median of ``--latency-repeats``) one after another, with no
   training running, so their latencies compare.
4. **Pick.** The candidate with the best held-out accuracy among those with no more MACs
   and no more latency than B0; the goal's bounds are checked before, never after, the
   test split is looked at.
5. **Report.** The pick, ``efficientnet_b0`` and ``mnasnet_a1`` are trained with the same
   recipe under ``--seeds`` fresh seeds (not the selection's seed, whose lucky draw the
   selection favoured) and scored on Fashion-MNIST's official *test* split, which no step
   above saw. Prints the candidates, the final table (mean and standard deviation over
   seeds) and the verdict, and draws accuracy against MACs and latency (``--plot``).

Trainings of steps 2 and 5 run ``--jobs`` at a time, each on ``--threads`` torch threads.

Goal (issue): the found model matches or beats B0's accuracy at no more MACs and no more
latency. The verdict's second line states the supernet issue's stricter forms: it beats B0's
mean by more than two standard errors at no more MACs and latency, or its mean is at least
B0's at no more than half B0's MACs.

Usage:
    python experiments/search_vs_b0.py --reward flops-hard --trials 60 --workers 2 --top 5 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from nas.cli import run
from search_spaces.errors import UserInputError

PROG = "experiments/search_vs_b0.py"
REFERENCES = ("efficientnet_b0", "mnasnet_a1")


def _search(args: argparse.Namespace) -> Path:
    from nas.search.cli import main as search

    out = args.out / "search"
    command = ["--space", "mbconv", "--budget", "400M", "--reward", args.reward, "--strategy", args.strategy,
               "--trials", str(args.trials), "--seed", str(args.seed), "--workers", str(args.workers),
               "--out", str(out), "--no-plots"]
    for pair in args.search_set:
        command += ["--set", pair]
    if args.evaluator:
        command += ["--evaluator", args.evaluator]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if (out / "study.db").exists():
        command.append("--resume")  # continue (or just re-read) the same study
    code = search(command)
    if code != 0 or not (out / "found.yaml").exists():
        raise UserInputError(f"the search did not finish (exit code {code}); run this script again to resume it")
    return out


def _candidates(out: Path, args: argparse.Namespace, max_macs: int) -> list[tuple[str, Any, float]]:
    """``(label, genome, proxy score)`` of the ``--top`` best distinct genomes with no more MACs than B0."""
    import optuna

    from search_spaces.codec import from_yaml, load_with_meta

    _, meta = load_with_meta(out / "found.yaml")  # the search names its own study and storage
    study = optuna.load_study(study_name=meta["search"]["study"], storage=f"sqlite:///{out / 'study.db'}")
    single = len(study.directions) == 1
    sign = -1.0 if single and study.directions[0] == optuna.study.StudyDirection.MINIMIZE else 1.0
    scored = {}
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        metrics = t.user_attrs.get("metrics", {})
        score = t.values[0] if single else metrics.get("accuracy")
        if score is None or metrics.get("macs", math.inf) > max_macs or "cached_from" in t.user_attrs:
            continue
        scored[t.user_attrs["genome"]] = (f"trial {t.number}", score)
    ranked = sorted(scored.items(), key=lambda kv: -sign * kv[1][1])[:args.top]
    return [(label, from_yaml(text, label), score) for text, (label, score) in ranked]


def _train(genome: Any, seed: int, split: str, args: argparse.Namespace) -> dict[str, Any]:
    """One training of the recipe, scored on ``split``; a job of the process pool."""
    from nas import evaluators

    budget = {"epochs": args.epochs, "subset": args.subset, "val_size": args.val_size,
              "resolution": args.resolution, "eval_split": split}
    ctx = evaluators.RunContext(seed=seed, budget=budget, threads=args.threads or 1)
    metrics = evaluators.evaluate(genome, [evaluators.get(n) for n in ("cost", "train")], ctx)
    return metrics.to_dict()


def _latency(genome: Any, args: argparse.Namespace) -> dict[str, Any]:
    from nas import evaluators

    budget = {"latency_repeats": args.latency_repeats, "latency_threads": 1, "latency_resolution": 224}
    ctx = evaluators.RunContext(seed=args.seed, budget=budget, threads=1)
    return evaluators.evaluate(genome, [evaluators.get(n) for n in ("cost", "latency")], ctx).to_dict()


def _recipe(step: str, args: argparse.Namespace) -> dict[str, Any]:
    """What a row's numbers depend on besides genome and seed (threads change float summation order).

    Latencies compare only within one sitting on one machine, so they are keyed by the run's ``--out``.
    """
    if step == "latency":
        return {"latency_repeats": args.latency_repeats, "out": str(args.out)}
    return {"epochs": float(args.epochs), "subset": args.subset, "val_size": args.val_size, "resolution": args.resolution,
            "threads": args.threads or 1}


class Rows:
    """The experiment's results, one JSON line per finished step, keyed by (step, genome, seed, recipe)."""

    def __init__(self, path: Path, args: argparse.Namespace) -> None:
        self.path, self.args = path, args
        self.rows: dict[tuple[str, str, int, str], dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.rows[self._key(row["step"], row["genome"], row["seed"], row["recipe"])] = row

    @staticmethod
    def _key(step: str, genome: str, seed: int, recipe: dict[str, Any]) -> tuple[str, str, int, str]:
        return step, genome, seed, json.dumps(recipe, sort_keys=True)

    def get(self, step: str, genome: str, seed: int = 0) -> dict[str, Any] | None:
        return self.rows.get(self._key(step, genome, seed, _recipe(step, self.args)))

    def add(self, row: dict[str, Any]) -> None:
        row = {**row, "recipe": _recipe(row["step"], self.args)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:  # appended and synced: a crash loses one job
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.rows[self._key(row["step"], row["genome"], row["seed"], row["recipe"])] = row


class Job(NamedTuple):
    """One training: which step it serves, the model's label and genome, its seed, the split it is scored on."""

    step: str
    name: str
    genome: Any
    seed: int
    split: str


def _run_trainings(jobs: list[Job], rows: Rows, args: argparse.Namespace) -> None:
    """Train every job not yet in ``rows``, ``--jobs`` at a time."""
    todo = [j for j in jobs if rows.get(j.step, j.genome.name, j.seed) is None]
    for j in todo:
        print(f"{PROG}: {j.step}: training {j.name} ({j.genome.name}), seed {j.seed}, scored on {j.split}",
              file=sys.stderr)

    def record(j: Job, metrics: dict[str, Any]) -> None:
        rows.add({"step": j.step, "name": j.name, "genome": j.genome.name, "seed": j.seed, "split": j.split,
                  **metrics})

    if args.jobs == 1:
        for j in todo:
            record(j, _train(j.genome, j.seed, j.split, args))
        return
    # Spawned, not forked: the parent has run torch (the search), and a forked OpenMP runtime can hang.
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(j, pool.submit(_train, j.genome, j.seed, j.split, args)) for j in todo]
        for j, future in futures:
            record(j, future.result())


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _final_rows(models: list[tuple[str, Any]], rows: Rows, seeds: list[int]) -> list[dict[str, Any]]:
    table = []
    for name, genome in models:
        runs = [rows.get("final", genome.name, s) for s in seeds]
        accs = [r["accuracy"] for r in runs if r and not r["failed"]]
        mean, sd = _mean_sd(accs) if accs else (math.nan, math.nan)
        lat = rows.get("latency", genome.name)
        table.append({"name": name, "genome": genome.name, "accuracy": mean, "sd": sd, "runs": accs,
                      "macs": runs[0]["macs"], "params": runs[0]["params"], "latency_ms": lat["latency_ms"],
                      "train_s": statistics.fmean(r["wall_s"] for r in runs if r)})
    return table


def _tables(candidates: list[dict[str, Any]], final: list[dict[str, Any]]) -> str:
    lines = ["Candidates (selection on the held-out training images):", "",
             "| candidate | proxy score | MACs | latency (ms) | held-out accuracy | within B0's MACs and latency |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for c in candidates:
        acc = "failed: " + c["reason"] if c["failed"] else f"{c['accuracy']:.4f}"
        lines.append(f"| {c['label']}{' (picked)' if c.get('picked') else ''} | {c['score']:.4f} | "
                     f"{c['macs'] / 1e6:.0f}M | {c['latency_ms']:.1f} | {acc} | {'yes' if c['eligible'] else 'no'} |")
    lines += ["", "Final (official test split, 10,000 images; mean and sd over seeds):", "",
              "| model | test accuracy | per seed | MACs | params | latency (ms, batch 1, 224 px, 1 thread) | "
              "train wall (s) |", "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in final:
        lines.append(f"| {r['name']} | {r['accuracy']:.4f} ± {r['sd']:.4f} | "
                     f"{', '.join(f'{a:.4f}' for a in r['runs'])} | {r['macs'] / 1e6:.0f}M | "
                     f"{r['params'] / 1e6:.2f}M | {r['latency_ms']:.1f} | {r['train_s']:.0f} |")
    return "\n".join(lines)


def _verdict(found: dict[str, Any], b0: dict[str, Any]) -> str:
    """Two lines: the experiment's goal (matches or beats B0 at no more MACs and latency), then the
    supernet issue's stricter forms (beats B0 by more than two standard errors at no more MACs and
    latency, or matches its mean at no more than half its MACs)."""
    checks = {"accuracy >= B0's": found["accuracy"] >= b0["accuracy"], "MACs <= B0's": found["macs"] <= b0["macs"],
              "latency <= B0's": found["latency_ms"] <= b0["latency_ms"]}
    cheaper = checks["MACs <= B0's"] and checks["latency <= B0's"]
    n = max(1, min(len(found["runs"]), len(b0["runs"])))
    se = math.sqrt((found["sd"] ** 2 + b0["sd"] ** 2) / n)
    diff = 100 * (found["accuracy"] - b0["accuracy"])
    beats = cheaper and diff > 2 * 100 * se
    half = found["macs"] <= b0["macs"] / 2
    matches = half and checks["accuracy >= B0's"]
    return (f"Goal {'met' if all(checks.values()) else 'not met'}: " +
            ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in checks.items()) +
            f". Accuracy difference {diff:+.2f} points (standard error over seeds {100 * se:.2f}).\n"
            f"Stricter goal {'met' if beats or matches else 'not met'}: beats B0 by more than two standard errors "
            f"({2 * 100 * se:.2f} points) at no more MACs and latency {'yes' if beats else 'no'}; mean >= B0's at "
            f"no more than half its MACs ({100 * found['macs'] / b0['macs']:.0f}%) {'yes' if matches else 'no'}.")


def _plot(final: list[dict[str, Any]], path: Path, reward: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from search_spaces.files import atomic_write

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (key, scale, label) in zip(axes, (("macs", 1e6, "MACs (M)"), ("latency_ms", 1.0, "latency (ms)"))):
        for i, r in enumerate(final):
            ax.errorbar(r[key] / scale, r["accuracy"], yerr=r["sd"], fmt="o", color=f"C{i}", capsize=3)
            ax.annotate(r["name"], (r[key] / scale, r["accuracy"]), fontsize=8, xytext=(4, 4),
                        textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel("Fashion-MNIST test accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle(f"found (mbconv, 400M, {reward} reward) vs EfficientNet-B0 and MnasNet-A1, same recipe")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=120))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/search_vs_b0"))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--strategy", default="tpe")
    parser.add_argument("--reward", default="v2", help="the search's reward (default: %(default)s)")
    parser.add_argument("--evaluator", help="the search's evaluators (default: what its reward needs); e.g. supernet "
                                            "with --search-set supernet=DIR, the weight-sharing supernet's accuracy")
    parser.add_argument("--seed", type=int, default=0, help="search and selection seed; final seeds follow it")
    parser.add_argument("--workers", type=int, default=1, help="search worker processes")
    parser.add_argument("--top", type=int, default=5, help="candidates trained with the full recipe")
    parser.add_argument("--seeds", type=int, default=3, help="final trainings per model")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="trainings at once")
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument("--subset", type=int, default=6000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--resolution", type=int, default=28)
    parser.add_argument("--latency-repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per search worker and training")
    parser.add_argument("--search-set", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluator knob for the search's proxy (see python -m nas.search --help)")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--rows", type=Path, help="results file (default: OUT/rows.jsonl); share it between "
                        "experiments to train the references once per recipe and seed")
    args = parser.parse_args(argv)
    for flag in ("trials", "workers", "top", "seeds", "jobs"):
        if getattr(args, flag) < 1:
            raise UserInputError(f"--{flag} must be at least 1, got {getattr(args, flag)}")

    import search_spaces as ss
    from search_spaces.cost import cost

    rows = Rows(args.rows or args.out / "rows.jsonl", args)
    refs = [(n, ss.zoo.get(n)) for n in REFERENCES]
    b0_macs = int(cost(refs[0][1]).macs)
    candidates = _candidates(_search(args), args, b0_macs)
    if not candidates:
        raise UserInputError(f"no completed trial of the search has at most B0's {b0_macs / 1e6:.0f}M MACs")
    _run_trainings([Job("select", label, g, args.seed, "val") for label, g, _ in candidates], rows, args)
    for name, genome in [*((label, g) for label, g, _ in candidates), *refs]:  # quiet: no training runs now
        if rows.get("latency", genome.name) is None:
            print(f"{PROG}: timing {name} ({genome.name})", file=sys.stderr)
            rows.add({"step": "latency", "name": name, "genome": genome.name, "seed": 0, **_latency(genome, args)})
    b0_lat = rows.get("latency", refs[0][1].name)["latency_ms"]
    table = []
    for label, genome, score in candidates:
        row = {**rows.get("select", genome.name, args.seed), "label": label, "score": score,
               "latency_ms": rows.get("latency", genome.name)["latency_ms"]}
        row["eligible"] = not row["failed"] and row["macs"] <= b0_macs and row["latency_ms"] <= b0_lat
        table.append(row)
    usable = [c for c in table if c["eligible"]] or [c for c in table if not c["failed"]]
    if not usable:
        raise UserInputError(f"every candidate failed its training; see {rows.path} for the reasons")
    pick = max(usable, key=lambda c: (c["accuracy"], -c["macs"]))
    pick["picked"] = True
    found = next(g for label, g, _ in candidates if label == pick["label"])
    models = [(f"found ({pick['label']})", found), *refs]
    seeds = [args.seed + 1 + i for i in range(args.seeds)]
    _run_trainings([Job("final", name, g, s, "test") for name, g in models for s in seeds], rows, args)
    final = _final_rows(models, rows, seeds)
    print(f"Command: `python {PROG} {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
    print(f"Recipe: {args.epochs:g} epochs on {args.subset} Fashion-MNIST images at {args.resolution} px "
          f"({args.val_size} held out for the selection); found by {args.strategy}, {args.trials} trials, "
          f"reward {args.reward}, seed {args.seed}; final seeds {', '.join(map(str, seeds))}.\n")
    print(_tables(table, final))
    print("\n" + _verdict(final[0], final[1]))
    if args.plot:
        _plot(final, args.plot, args.reward)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input -> one sentence, exit code 2."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())
