"""Search at 400M MACs, then train the found model beside EfficientNet-B0 and MnasNet-A1 with one recipe.

Steps (each resumable: a finished step is not redone):

1. ``python -m nas.search --space mbconv --budget 400M`` with ``--reward`` (default the
   training-aware ``v2``; ``flops`` is EfficientNet's soft 400M target), ``--trials``,
   ``--strategy``, ``--seed`` and the search's own short proxy, into ``--out``/search;
2. the found genome, ``efficientnet_b0`` and ``mnasnet_a1`` are each trained with the same
   recipe (``--epochs`` on ``--subset`` Fashion-MNIST images at ``--resolution`` px, the
   ``train`` evaluator's defaults otherwise) and timed by the ``latency`` evaluator (batch
   1 at 224 px, one thread, median of ``--latency-repeats``); results are appended to
   ``--out``/results.jsonl;
3. prints a markdown table (accuracy, MACs, params, latency, train time) and draws
   accuracy against MACs and latency (``--plot``).

Goal (issue): the found model matches or beats B0's accuracy at no more MACs and no more
latency. The table says whether this run met it.

Usage:
    python experiments/search_vs_b0.py --trials 40 --epochs 5 --plot docs/figures/search_vs_b0.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from nas.cli import run
from search_spaces.errors import UserInputError

PROG = "experiments/search_vs_b0.py"
REFERENCES = ("efficientnet_b0", "mnasnet_a1")


def _search(args: argparse.Namespace) -> Path:
    from nas.search.cli import main as search

    out = args.out / "search"
    found = out / "found.yaml"
    command = ["--space", "mbconv", "--budget", "400M", "--reward", args.reward, "--strategy", args.strategy,
               "--trials", str(args.trials), "--seed", str(args.seed), "--out", str(out)]
    for pair in args.search_set:
        command += ["--set", pair]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if (out / "study.db").exists():
        command.append("--resume")  # continue (or just re-read) the same study
    code = search(command)
    if code != 0 or not found.exists():
        raise UserInputError(f"the search did not finish (exit code {code}); run this script again to resume it")
    return found


def _evaluate(name: str, genome: Any, args: argparse.Namespace) -> dict[str, Any]:
    from nas import evaluators

    budget = {"epochs": args.epochs, "subset": args.subset, "val_size": args.val_size, "resolution": args.resolution,
              "latency_repeats": args.latency_repeats, "latency_threads": 1, "latency_resolution": 224}
    ctx = evaluators.RunContext(seed=args.seed, budget=budget, threads=args.threads)
    metrics = evaluators.evaluate(genome, [evaluators.get(n) for n in ("cost", "train", "latency")], ctx)
    return {"name": name, "genome": genome.name, **metrics.to_dict()}


def _done(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return {row["name"]: row for row in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def _append(path: Path, row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | accuracy | MACs | params | latency (ms, batch 1, 224 px, 1 thread) | train wall (s) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        acc = "failed: " + r["reason"] if r["failed"] else f"{r['accuracy']:.4f}"
        lat = r["latency_ms"]
        lines.append(f"| {r['name']} | {acc} | {r['macs'] / 1e6:.0f}M | {r['params'] / 1e6:.2f}M | "
                     f"{'-' if lat is None else f'{lat:.1f}'} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def _verdict(rows: dict[str, dict[str, Any]]) -> str:
    found, b0 = rows["found"], rows["efficientnet_b0"]
    if found["failed"] or b0["failed"]:
        return "Goal not decided: a model failed."
    checks = {"accuracy >= B0's": found["accuracy"] >= b0["accuracy"], "MACs <= B0's": found["macs"] <= b0["macs"],
              "latency <= B0's": found["latency_ms"] <= b0["latency_ms"]}
    met = all(checks.values())
    return (f"Goal {'met' if met else 'not met'} in this run: " +
            ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in checks.items()) + ".")


def _plot(rows: list[dict[str, Any]], path: Path, reward: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from search_spaces.files import atomic_write

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (key, scale, label) in zip(axes, (("macs", 1e6, "MACs (M)"), ("latency_ms", 1.0, "latency (ms)"))):
        for i, r in enumerate(rows):
            if r["failed"] or r[key] is None:
                continue
            ax.scatter(r[key] / scale, r["accuracy"], color=f"C{i}", s=40)
            ax.annotate(r["name"], (r[key] / scale, r["accuracy"]), fontsize=8, xytext=(4, 4),
                        textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel("Fashion-MNIST accuracy")
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=5)
    parser.add_argument("--subset", type=int, default=6000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--resolution", type=int, default=28)
    parser.add_argument("--latency-repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the search and the training")
    parser.add_argument("--search-set", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluator knob for the search's proxy (see python -m nas.search --help)")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)

    import search_spaces as ss

    found = ss.load(_search(args))
    results = args.out / "results.jsonl"
    done = _done(results)
    for name, genome in (("found", found), *((n, ss.zoo.get(n)) for n in REFERENCES)):
        if name in done and done[name].get("genome") == genome.name:
            continue
        print(f"{PROG}: training and timing {name} ({genome.name})...", file=sys.stderr, flush=True)
        _append(results, _evaluate(name, genome, args))
        done = _done(results)
    rows = [done[n] for n in ("found", *REFERENCES)]
    print(f"Command: `python {PROG} {' '.join(argv or sys.argv[1:])}`\n")
    print(f"Recipe: {args.epochs:g} epochs on {args.subset} Fashion-MNIST images at {args.resolution} px, "
          f"{args.val_size} held out; seed {args.seed}. Found by {args.strategy}, {args.trials} trials, "
          f"reward {args.reward}.\n")
    print(_table(rows))
    print("\n" + _verdict(done))
    if args.plot:
        _plot(rows, args.plot, args.reward)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input -> one sentence, exit code 2."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())
