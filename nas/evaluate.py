"""``python -m nas.evaluate NAME_OR_YAML --evaluator NAME[,NAME...]``: evaluate one architecture.

Runs the named evaluators (``cost``, ``train``, ``zero-cost``, ``latency``, ``latency-lut``,
``train-step``) on a zoo model or a genome YAML file and prints their metrics::

    python -m nas.evaluate efficientnet_b0 --evaluator cost,train --set epochs=1 --set subset=10000
    python -m nas.evaluate found.yaml --evaluator latency --device cpu --json

Budget knobs are ``--set KEY=VALUE`` pairs (see each evaluator's documentation). A
candidate that fails (NaN loss, out of memory) prints its reason and exits with code 1;
bad input exits with code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from nas import evaluators
from nas.cli import run
from nas.info import human, load_genome
from search_spaces.errors import UserInputError

__all__ = ["main", "parse_settings"]

PROG = "nas.evaluate"


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_settings(pairs: Sequence[str]) -> dict[str, Any]:
    """``["epochs=2", "optimizer=adamw"]`` -> ``{"epochs": 2, "optimizer": "adamw"}`` (numbers and booleans parsed)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = _value(value.strip())
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Evaluate one architecture with the named evaluators.")
    parser.add_argument("model", metavar="NAME_OR_YAML", help="a zoo model name or a genome YAML file")
    parser.add_argument("-e", "--evaluator", default="cost",
                        help=f"comma-separated evaluators, run in order ({', '.join(evaluators.names())}); "
                             "default: cost")
    parser.add_argument("--data", help="dataset name (fashion-mnist, cifar10, cifar10:DIR) or directory; "
                                       "default: Fashion-MNIST from the Debian package dataset-fashion-mnist")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--seed", type=int, default=0, help="seed for init, data order and batches (default 0)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluator budget knob, repeatable (e.g. epochs=1, subset=10000, resolution=32)")
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
    args = _parser().parse_args(argv)
    chosen = evaluators.parse(args.evaluator)
    genome, _, _ = load_genome(args.model)
    if args.threads is not None and args.threads < 1:
        raise UserInputError(f"--threads must be a positive integer, got {args.threads}")
    try:
        evaluators.resolve_device(args.device)
    except RuntimeError as err:
        raise UserInputError(f"--device {args.device!r} is not a device ({err})") from None
    ctx = evaluators.RunContext(device=args.device, seed=args.seed, data=args.data,
                                budget=parse_settings(args.set), threads=args.threads)
    if args.data is not None or any(e.name == "train" for e in chosen):
        from nas.data import open_dataset  # check the data up front: a missing dataset is bad input, not a failure

        open_dataset(args.data)
    metrics = evaluators.evaluate(genome, chosen, ctx)
    print(json.dumps({"model": genome.name, **metrics.to_dict()}, indent=2) if args.json else _text(genome.name, metrics))
    return 1 if metrics.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())
