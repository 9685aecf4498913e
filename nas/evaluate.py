"""``python -m nas.evaluate NAME_OR_YAML --evaluator NAME[,NAME...]``: evaluate one architecture.

Runs the named evaluators (``cost``, ``train``, ``zero-cost``, ``latency``, ``latency-lut``,
``train-step``) on a zoo model or a genome YAML file and prints their metrics::

    python -m nas.evaluate efficientnet_b0 --evaluator cost,train --set epochs=1 --set subset=10000
    python -m nas.evaluate found.yaml --evaluator latency --device cpu --json

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

__all__ = ["main"]

PROG = "nas.evaluate"


def _parser(required: bool = True) -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Evaluate one architecture with the named evaluators.",
                                     parents=[evaluation_flags("cost", "cost")])
    parser.add_argument("model", metavar="NAME_OR_YAML", nargs=None if required else "?",
                        help="a zoo model name or a genome YAML file")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    return parser


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
    args = parse_args(_parser, argv, lambda a: settings.describe(owners(evaluators.parse(a.evaluator), None)[0]))
    if args is None:
        return 0
    chosen = evaluators.parse(args.evaluator)
    genome, _, _ = load_genome(args.model)
    used, others = owners(chosen, None)
    given = settings.parse_pairs(args.set)
    settings.check(given, used, others)
    check_device(args.device)
    ctx = evaluators.RunContext(device=args.device, seed=args.seed, data=args.data, budget=given, threads=args.threads)
    check_evaluators(chosen, ctx)  # settings, data: the user's mistakes are exit 2, never a failed candidate
    metrics = evaluators.evaluate(genome, chosen, ctx)
    print(json.dumps({"model": genome.name, **metrics.to_dict()}, indent=2) if args.json else _text(genome.name, metrics))
    return 1 if metrics.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())
