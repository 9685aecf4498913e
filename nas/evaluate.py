"""``python -m nas.evaluate NAME_OR_YAML --evaluator NAME[,NAME...]``: evaluate one architecture.

Runs the named evaluators (``cost``, ``train``, ``zero-cost``, ``latency``, ``latency-lut``,
``train-step``) on a zoo model or a genome YAML file and prints their metrics::

    python -m nas.evaluate efficientnet_b0 --evaluator cost,train --set epochs=1 --set subset=10000
    python -m nas.evaluate found.yaml --evaluator latency --device cpu --json

A checkpoint of ``nas.train`` (its run directory or a ``.safetensors`` file) is scored as trained:
its weights' accuracy on the dataset's official test split (``--split val`` for the held-out
training images) at the resolution it was validated at, then the named evaluators (default
``cost,latency``) on its genome::

    python -m nas.evaluate runs/found                 # best.safetensors: test accuracy, latency, cost
    python -m nas.evaluate runs/found/last.safetensors --weights model --evaluator cost

Settings are ``--set KEY=VALUE`` pairs, checked against the knobs the chosen evaluators
declare (``--help-settings`` lists them). A candidate that fails (NaN loss, out of memory)
prints its reason and exits with code 1; bad input exits with code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nas import evaluators, settings
from nas.cli import Parser, evaluation_flags, parse_args, run
from nas.info import load_genome
from search_spaces.units import human
from nas.search.session import check_device, check_evaluators, owners
from search_spaces.errors import UserInputError

__all__ = ["main"]

PROG = "nas.evaluate"


def _parser(required: bool = True) -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Evaluate one architecture with the named evaluators.",
                                     parents=[evaluation_flags("cost; for a checkpoint cost,latency")])
    parser.add_argument("model", metavar="NAME_OR_YAML", nargs=None if required else "?",
                        help="a zoo model name or a genome YAML file")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    g = parser.add_argument_group("checkpoints (a nas.train run directory or .safetensors file)")
    g.add_argument("--split", choices=("test", "val"), default="test",
                   help="score the weights on the official test split (default) or the held-out training images")
    g.add_argument("--weights", choices=("auto", "model", "ema"), default="auto",
                   help="which weights of the checkpoint: its EMA when it has one (auto, default), or either")
    return parser


def _is_checkpoint(arg: str) -> bool:
    from pathlib import Path

    target = Path(arg)
    try:
        return target.suffix == ".safetensors" or (target.is_dir() and any(
            (target / f"{kind}.safetensors").is_file() for kind in ("best", "last")))
    except OSError:  # a name the system refuses: load_genome says so in one sentence
        return False


def _checkpoint_accuracy(args: argparse.Namespace) -> tuple[object, float, int]:
    """``(genome, accuracy, images)`` of a checkpoint's weights on ``args.split``."""
    from nas.data import DataConfig, loaders
    from nas.training.checkpoint import read_checkpoint
    from nas.training.loop import accuracy

    checkpoint = read_checkpoint(args.model)
    model = checkpoint.model(args.weights)
    d = checkpoint.meta["data"]
    if args.split == "val" and d.get("eval_split") == "test":
        raise UserInputError(f"{checkpoint.path} was trained on every training image (--eval-split test): it has "
                             "no held-out images to score on; use --split test")
    config = DataConfig(source=args.data or d["data"], resolution=d["resolution"],
                        eval_resolution=d["eval_resolution"], channels=checkpoint.genome().in_channels,
                        batch_size=d["batch_size"], val_size=d["val_size"], subset=d["subset"],
                        seed=int(checkpoint.meta["seed"]), eval_split=args.split)
    device = evaluators.resolve_device(args.device)
    _, batches, dataset = loaders(config, device)
    if dataset.num_classes != checkpoint.genome().num_classes:
        raise UserInputError(f"{checkpoint.path} classifies {checkpoint.genome().num_classes} classes but "
                             f"{dataset.name} has {dataset.num_classes}")
    acc = accuracy(model.to(device), batches)
    images = len(getattr(batches, "labels", ())) or len(getattr(batches, "loader", ()).dataset)
    return checkpoint.genome(), acc, images


def _text(name: str, metrics: evaluators.Metrics) -> str:
    rows = [("model", name)]
    for label, value, fmt in (("accuracy", metrics.accuracy, "{:.4f}"), ("latency (ms)", metrics.latency_ms, "{:.3f}"),
                              ("train step (ms)", metrics.train_step_ms, "{:.2f}")):
        if value is not None:
            rows.append((label, fmt.format(value)))
    if metrics.params is not None:
        rows.append(("params", f"{metrics.params} ({human(metrics.params)})"))
    if metrics.macs is not None:
        rows.append(("MACs", f"{metrics.macs} ({human(metrics.macs)})"))
    rows += [(k, f"{v:.6g}") for k, v in sorted(metrics.extra.items())]
    rows.append(("wall time (s)", f"{metrics.wall_s:.2f}"))
    if metrics.failed:
        rows.append(("FAILED", metrics.reason))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(_parser, argv, lambda a: settings.describe(owners(evaluators.parse(a.evaluator or "cost"),
                                                                        None)[0]))
    if args is None:
        return 0
    checkpoint = _is_checkpoint(args.model)
    if not args.evaluator:
        args.evaluator = "cost,latency" if checkpoint else "cost"
    chosen = evaluators.parse(args.evaluator)
    if checkpoint and "train" in (name.strip() for name in args.evaluator.split(",")):
        raise UserInputError("a checkpoint is scored as trained; the train evaluator would train its genome anew "
                             "(give the genome file instead)")
    genome = None if checkpoint else load_genome(args.model)[0]
    used, others = owners(chosen, None)
    given = settings.parse_pairs(args.set)
    settings.check(given, used, others)
    check_device(args.device)
    ctx = evaluators.RunContext(device=args.device, seed=args.seed, data=args.data, budget=given, threads=args.threads)
    scored = None
    if checkpoint:
        genome, acc, images = _checkpoint_accuracy(args)
        scored = (acc, images)
    check_evaluators(chosen, ctx)  # settings, data: the user's mistakes are exit 2, never a failed candidate
    metrics = evaluators.evaluate(genome, chosen, ctx)
    if scored is not None:
        metrics.accuracy = scored[0]
        metrics.extra[f"{args.split}_images"] = float(scored[1])
    print(json.dumps({"model": genome.name, **metrics.to_dict()}, indent=2) if args.json else _text(genome.name, metrics))
    return 1 if metrics.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())
