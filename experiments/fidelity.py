"""Fidelity study: how well do cheap accuracy estimates rank candidates like a longer training does?

Samples ``--genomes`` networks of the ``mbconv`` space whose MACs (224 px) lie within
``--band`` of 400M (``--ops``: and whose stages use only those ops, e.g. a supernet's
coverage), then evaluates each with

- ``zero-cost``: the training-free proxies (``nas.zero_cost``; ``--zero-cost``, default all)
  on one real batch (``--zero-cost-batch`` images at ``--zero-cost-resolution``, default
  ``--resolution``; ``genome`` scores at the genome's own 224 px);
- ``short``: proxy training for ``--short-epochs`` epochs (default 1);
- ``long``: proxy training for ``--long-epochs`` epochs (default 5, the reference);
- ``supernet``: the accuracy inherited from a trained supernet (``--supernet DIR``, from
  ``python -m nas.supernet train``), BN statistics re-estimated per genome, no training,

all on the same Fashion-MNIST subset, resolution and validation split. Each finished
evaluation is appended to ``--out`` (JSON lines, flushed and synced), so the study can be
stopped and resumed at any time and nothing finished is redone. ``--report`` prints the
Spearman and Kendall rank correlations of each estimate against ``long`` and writes a
scatter plot; ``--traits`` adds which of the genomes' traits (depth, kernels, expansion, SE and
skip stages, MACs, parameters) the reference and each estimate follow, which shows where an
estimate that ranks badly parts from the reference; ``--replicate FILE`` (the reference trained
again with another ``--train-seed`` into FILE) adds how well the reference agrees with itself,
the ceiling that sets on any estimate, and each estimate against the two runs' mean.

Usage:
    python experiments/fidelity.py [--genomes 30] [--only short,long] [--workers 2]
    python experiments/fidelity.py --report [--plot docs/figures/fidelity.png] [--traits] [--replicate FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from nas.cli import run
from nas.supernet.score import CALIBRATION_IMAGES
from search_spaces.errors import UserInputError

PROG = "experiments/fidelity.py"
KINDS = ("zero-cost", "short", "long", "supernet")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fidelity.jsonl"


def candidates(n: int, band: float, ops: Sequence[str] | None = None) -> list[tuple[int, Any]]:
    """The first ``n`` seeds whose ``mbconv`` samples lie within ``band`` of 400M MACs, with their genomes.

    Args:
        n: How many.
        band: Relative MACs band around 400M (224 px).
        ops: If given, only samples whose every stage uses one of these ops (the same draws, the
            others skipped: what a supernet holding some ops only is compared on).
    """
    from search_spaces import cost, spaces

    space, out, seed = spaces.get("mbconv"), [], 0
    lo, hi = 400e6 * (1 - band), 400e6 * (1 + band)
    while len(out) < n:
        params = space.sample_params(seed)
        if ops is None or all(params[f"b{i}_op"] in ops for i in range(len(space.backbone.stages))):
            genome = space.decode(params)
            if lo <= cost(genome).macs <= hi:
                out.append((seed, genome))
        seed += 1
    return out


def _budget(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    common = {"resolution": args.resolution, "subset": args.subset, "val_size": args.val_size,
              "batch_size": args.batch_size, "lr": args.lr}
    if kind == "zero-cost":
        size = args.zero_cost_resolution or args.resolution
        return {"zero_cost_resolution": size, "zero_cost_batch": args.zero_cost_batch, "zero_cost": args.zero_cost}
    if kind == "supernet":  # its own resolution and held-out split (the train evaluator's 2,000 images and more)
        return {"supernet": str(args.supernet), "supernet_calibration": args.supernet_calibration,
                "supernet_val": args.supernet_val}
    return {**common, "epochs": args.short_epochs if kind == "short" else args.long_epochs,
            **({"train_seed": args.train_seed} if args.train_seed else {})}


def _evaluate(job: tuple[int, Any, str, dict[str, Any], int]) -> dict[str, Any]:
    seed, genome, kind, budget, threads = job
    import torch

    from nas.evaluators import RunContext, evaluate, get

    torch.set_num_threads(threads)
    evaluator = get(kind if kind in ("zero-cost", "supernet") else "train")
    knobs = {k: v for k, v in budget.items() if k != "train_seed"}  # the record keeps it; no evaluator reads it
    metrics = evaluate(genome, [evaluator], RunContext(seed=budget.get("train_seed", 0), budget=knobs))
    return {"seed": seed, "genome": genome.name, "kind": kind, "budget": budget, **metrics.to_dict()}


def done(path: Path) -> set[tuple[int, str]]:
    """``(seed, kind)`` pairs already recorded in ``path``."""
    if not path.exists():
        return set()
    return {(seed, kind) for kind, records in _by_kind(path).items() for seed in records}


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and make it durable before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def study(args: argparse.Namespace) -> None:
    kinds = ([k.strip() for k in args.only.split(",")] if args.only
             else [k for k in KINDS if k != "supernet" or args.supernet is not None])
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UserInputError(f"--only must list kinds among {', '.join(KINDS)}, got {', '.join(unknown)}")
    if "zero-cost" in kinds:  # a bad zero-cost option is one sentence now, not 30 failed records later
        from nas.evaluators.zero_cost import ZeroCostSettings
        from nas.settings import resolve

        resolve(ZeroCostSettings, _budget(args, "zero-cost"))
    if "supernet" in kinds:
        if args.supernet is None:
            raise UserInputError("--only supernet needs --supernet DIR, a trained supernet")
        from nas.evaluators import RunContext, get

        get("supernet").check(RunContext(budget=_budget(args, "supernet"), space="mbconv"))
    finished = done(args.out)
    jobs = [(seed, genome, kind, _budget(args, kind), args.threads)
            for seed, genome in candidates(args.genomes, args.band, args.ops) for kind in kinds
            if (seed, kind) not in finished]
    print(f"{len(jobs)} evaluations to run ({len(finished)} already in {args.out})", flush=True)
    if args.workers == 1 or "supernet" in kinds:  # the supernet is loaded once, in this process
        results = map(_evaluate, jobs)
        for record in results:
            append(args.out, record)
            print(f"seed {record['seed']:4d} {record['kind']:9s} acc={record['accuracy']} "
                  f"failed={record['failed']} {record['wall_s']:.0f}s", flush=True)
        return
    with ProcessPoolExecutor(args.workers) as pool:
        for record in pool.map(_evaluate, jobs):
            append(args.out, record)
            print(f"seed {record['seed']:4d} {record['kind']:9s} acc={record['accuracy']} "
                  f"failed={record['failed']} {record['wall_s']:.0f}s", flush=True)


def report(args: argparse.Namespace) -> None:
    from nas.stats import kendall, spearman

    by_kind = _by_kind(args.out)
    reference = _accuracies(by_kind, "long")
    estimates: dict[str, dict[int, float]] = {}
    if "short" in by_kind:
        estimates[f"train {args.short_epochs} epoch"] = {s: r["accuracy"] for s, r in by_kind["short"].items()
                                                         if not r["failed"]}
    if "supernet" in by_kind:
        estimates["supernet"] = {s: r["accuracy"] for s, r in by_kind["supernet"].items() if not r["failed"]}
    for s, r in by_kind.get("zero-cost", {}).items():
        for key, value in r["extra"].items():
            if key.startswith("zc_") and value is not None:
                estimates.setdefault(key[3:], {})[s] = value
    print(f"Reference: proxy training for {args.long_epochs} epochs ({len(reference)} genomes).\n")
    print("| estimate | genomes | Spearman | Kendall | median s per genome |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for name, values in estimates.items():
        common = sorted(set(values) & set(reference))
        if len(common) < 3:
            continue
        a, b = [values[s] for s in common], [reference[s] for s in common]
        rows.append((name, common, spearman(a, b), kendall(a, b)))
        kind = {"supernet": "supernet"}.get(name, "short" if name.startswith("train") else "zero-cost")
        walls = sorted(by_kind[kind][s]["wall_s"] for s in common)
        print(f"| {name} | {len(common)} | {rows[-1][2]:.3f} | {rows[-1][3]:.3f} | {walls[len(walls) // 2]:.2f} |")
    if args.traits and reference:
        _traits_table(reference, estimates)
    if args.replicate is not None:
        _replicate_table(reference, _accuracies(_by_kind(args.replicate), "long"), estimates, args.replicate)
    if args.plot and rows:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.2), squeeze=False)
        for ax, (name, common, rho, _) in zip(axes[0], rows):
            ax.scatter([estimates[name][s] for s in common], [reference[s] for s in common], s=12)
            ax.set_title(f"{name}\nSpearman {rho:.2f}", fontsize=9)
            ax.set_xlabel("estimate", fontsize=8)
            ax.set_ylabel(f"accuracy, {args.long_epochs} epochs", fontsize=8)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120)
        print(f"\nPlot: {args.plot}")


def _by_kind(path: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """A results file's records by kind and genome seed (a later record replaces an earlier one)."""
    if not path.exists():
        raise UserInputError(f"{path}: no results yet; run the study first")
    by_kind: dict[str, dict[int, dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            by_kind.setdefault(r["kind"], {})[r["seed"]] = r
    return by_kind


def _accuracies(by_kind: dict[str, dict[int, dict[str, Any]]], kind: str) -> dict[int, float]:
    return {s: r["accuracy"] for s, r in by_kind.get(kind, {}).items() if not r["failed"]}


def _replicate_table(reference: dict[int, float], replicate: dict[int, float],
                     estimates: dict[str, dict[int, float]], path: Path) -> None:
    """How well the reference agrees with itself under another seed, the ceiling that sets, and each
    estimate against either run and against their mean (a less noisy reference)."""
    from nas.stats import attenuation_ceiling, kendall, mean_reliability, spearman, spearman_interval

    common = sorted(set(reference) & set(replicate))
    if len(common) < 3:
        raise UserInputError(f"--replicate {path}: needs the reference ('long') of at least 3 of the same genomes, "
                             f"has {len(common)}")
    ref, rep = [reference[s] for s in common], [replicate[s] for s in common]
    mean = {s: (reference[s] + replicate[s]) / 2 for s in common}
    r, (low, high) = spearman(ref, rep), spearman_interval(ref, rep)
    print(f"\nThe reference trained again ({path}, {len(common)} genomes in both): Spearman {r:.3f} "
          f"(95% bootstrap interval {low:.2f} to {high:.2f}), Kendall {kendall(ref, rep):.3f}.")
    print(f"Ceiling for any estimate's Spearman (sqrt of the reliability, Spearman's attenuation): "
          f"{attenuation_ceiling(r):.2f} against one run ({attenuation_ceiling(low):.2f} to "
          f"{attenuation_ceiling(high):.2f}), {attenuation_ceiling(mean_reliability(r, 2)):.2f} against the mean "
          f"of both. An estimate that shares the first run's seed can exceed the first.\n")
    print("| estimate | genomes | Spearman vs the reference | vs the replicate | vs their mean |")
    print("|---|---:|---:|---:|---:|")
    for name, values in estimates.items():
        both = [s for s in common if s in values]
        if len(both) >= 3:
            est = [values[s] for s in both]
            cells = [spearman(est, [run[s] for s in both]) for run in (reference, replicate, mean)]
            print(f"| {name} | {len(both)} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


def traits(genome: Any) -> dict[str, float]:
    """A genome's architectural traits that a short training from scratch may favour or not.

    Args:
        genome: A :class:`search_spaces.genome.Network` of the ``mbconv`` space.

    Returns:
        Layers in all stages, mean kernel and expansion over stages, stages with SE and with a
        skip connection, and MACs and parameters at the genome's resolution.
    """
    from search_spaces import cost

    stages, costs = genome.stages, cost(genome)
    return {"layers": float(sum(st.depth for st in stages)),
            "mean kernel": sum(st.kernel for st in stages) / len(stages),
            "mean expansion": sum(st.expand for st in stages) / len(stages),
            "SE stages": float(sum(st.se > 0 for st in stages)),
            "skip stages": float(sum(bool(st.skip) for st in stages)),
            "MACs": float(costs.macs), "params": float(costs.params)}


def _traits_table(reference: dict[int, float], estimates: dict[str, dict[int, float]]) -> None:
    from nas.stats import spearman
    from search_spaces import spaces

    space = spaces.get("mbconv")
    of = {s: traits(space.sample(s)) for s in reference}  # the study's draws, by seed
    columns = {"reference": reference, **{name: v for name, v in estimates.items() if len(set(v) & set(of)) >= 3}}
    print("\nSpearman of each trait against the reference and each estimate (same genomes as the row above):\n")
    print("| trait | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for trait in next(iter(of.values())):
        cells = []
        for values in columns.values():
            common = sorted(set(values) & set(of))
            cells.append(f"{spearman([of[s][trait] for s in common], [values[s] for s in common]):.2f}")
        print(f"| {trait} | " + " | ".join(cells) + " |")


def _ops(text: str) -> tuple[str, ...]:
    from search_spaces.spaces.mbconv import OPS

    ops = tuple(op.strip() for op in text.split(",") if op.strip())
    if not ops or any(op not in OPS for op in ops):
        raise argparse.ArgumentTypeError(f"must list ops among {', '.join(OPS)}, got {text!r}")
    return ops


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--genomes", type=int, default=30)
    parser.add_argument("--band", type=float, default=0.10, help="relative MACs band around 400M (default 0.10)")
    parser.add_argument("--ops", type=_ops, help="comma-separated ops every stage of a genome uses (e.g. "
                                                 "mbconv3,mbconv6, a supernet's coverage; default: any)")
    parser.add_argument("--only", help=f"comma-separated kinds to run ({', '.join(KINDS)}); default all")
    parser.add_argument("--resolution", type=int, default=28)
    parser.add_argument("--subset", type=int, default=6000, help="training images (default 6000)")
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--short-epochs", type=float, default=1.0)
    parser.add_argument("--long-epochs", type=float, default=5.0)
    parser.add_argument("--zero-cost", default="", help="zero-cost proxies, comma-separated (default: all)")
    parser.add_argument("--zero-cost-batch", type=int, default=64, help="images the proxies score (default 64)")
    parser.add_argument("--zero-cost-resolution", help="image size of the proxies: a number or 'genome' "
                                                       "(default: --resolution)")
    parser.add_argument("--supernet", type=Path, help="a trained supernet's directory (kind supernet)")
    parser.add_argument("--supernet-calibration", type=int, default=CALIBRATION_IMAGES,
                        help="training images its BN statistics are re-estimated on per genome "
                             f"(default {CALIBRATION_IMAGES})")
    parser.add_argument("--supernet-val", type=int, default=0,
                        help="held-out images the supernet scores on (default 0: its whole split; the search's 2000)")
    parser.add_argument("--train-seed", type=int, default=0,
                        help="seed of the trainings' initialisation and data order (default 0; another one "
                             "into another --out measures the reference's own seed-to-seed agreement)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true", help="print correlations instead of running")
    parser.add_argument("--plot", type=Path, help="with --report: write a scatter plot PNG here")
    parser.add_argument("--replicate", type=Path,
                        help="with --report: a second study of the same genomes with another --train-seed; adds the "
                             "reference's own seed-to-seed agreement, the ceiling it sets, and each estimate "
                             "against the two runs' mean")
    parser.add_argument("--traits", action="store_true",
                        help="with --report: which genome traits the reference and each estimate follow")
    args = parser.parse_args(argv)
    if args.genomes < 3 or args.workers < 1 or args.threads < 1:
        raise UserInputError("--genomes must be >= 3 and --workers, --threads >= 1")
    (report if args.report else study)(args)
    return 0


if __name__ == "__main__":
    sys.exit(run(_main, None, PROG))
