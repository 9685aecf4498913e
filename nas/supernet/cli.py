"""``python -m nas.supernet``: train a weight-sharing supernet once, then search thousands of its subnets.

Commands::

    python -m nas.supernet train --space mbconv --budget 400M --data fashion-mnist --out DIR
    python -m nas.supernet train ... --out DIR --resume          # after a kill: same final weights
    torchrun --nproc-per-node 4 -m nas.supernet train ... --out DIR   # one process per GPU (DDP)

Then ``python -m nas.search --space mbconv --budget 400M --evaluator supernet --set supernet=DIR``
scores each candidate from the supernet's weights in well under a second. Progress goes to
stderr, the summary to stdout; bad input is one sentence and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nas.cli import MAX_SEED, Parser, integer, path, run
from search_spaces.errors import UserInputError

__all__ = ["main", "parser"]

PROG = "nas.supernet"


def _positive(kind: type) -> object:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    from nas.supernet.space import SUPERNET_SPACE
    from nas.supernet.train import SCHEDULES, TrainSettings
    from search_spaces.spaces.mbconv import OPS

    d = TrainSettings()
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    t = commands.add_parser("train", help="train a supernet (sandwich rule, in-place distillation)",
                            description="Train an elastic supernet of a search space on real images; write a "
                                        "checkpoint every epoch (and every --checkpoint-minutes), then the weights.")
    t.add_argument("--space", default=SUPERNET_SPACE, choices=(SUPERNET_SPACE,),
                   help=f"the search space whose configurations it holds (default {SUPERNET_SPACE})")
    t.add_argument("--out", required=True, type=path, help="directory for the checkpoint, weights and summary")
    t.add_argument("--budget", help="MACs target (e.g. 400M): random subnets are drawn among those with 0.5x to "
                                    "1.5x it at 224 px (default: the whole space)")
    t.add_argument("--data", help="dataset (fashion-mnist, cifar10, cifar10:DIR) or an ImageFolder directory "
                                  "(default: Fashion-MNIST)")
    t.add_argument("--ops", default=",".join(OPS),
                   help=f"comma-separated ops it holds weights for (default: all, {','.join(OPS)})")
    t.add_argument("--resolution", type=integer(8, 1024), default=d.resolution,
                   help=f"image size it trains at (default {d.resolution})")
    t.add_argument("--epochs", type=_positive(float), default=d.epochs, help=f"passes over the images (default "
                                                                             f"{d.epochs:g})")
    t.add_argument("--batch-size", type=integer(2, 65_536), default=d.batch_size,
                   help=f"images per step and process (default {d.batch_size})")
    t.add_argument("--lr", type=_positive(float), default=d.lr, help=f"peak learning rate (default {d.lr:g})")
    t.add_argument("--random-subnets", type=integer(0, 64), default=d.random_subnets,
                   help=f"random subnets per step besides the largest and smallest (default {d.random_subnets})")
    t.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="sandwich: every dimension elastic from the start (BigNAS); progressive: kernel, then depth, "
                        f"then expansion and the rest (OFA) (default {d.schedule})")
    t.add_argument("--no-distill", action="store_true",
                   help="train every subnet on the labels instead of the largest's predictions")
    t.add_argument("--plain-kernel", action="store_true",
                   help="a 3x3 kernel is the plain centre of the 5x5 (BigNAS), not OFA's learned transform")
    t.add_argument("--val-size", type=integer(1, 10_000_000), default=d.val_size,
                   help=f"held-out training images, the train evaluator's split (default {d.val_size})")
    t.add_argument("--subset", type=integer(0, 100_000_000), default=d.subset,
                   help="training images used (default 0: all not held out)")
    t.add_argument("--seed", type=integer(0, MAX_SEED), default=d.seed, help="seed of everything (default 0)")
    t.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes,
                   help=f"also checkpoint this often within an epoch; 0: at epoch ends only (default "
                        f"{d.checkpoint_minutes:g})")
    t.add_argument("--threads", type=integer(1, 1024), help="torch CPU threads (default: torch's)")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    t.add_argument("--stop-after", type=integer(1, 10**9), help=argparse.SUPPRESS)  # tests: a preempted job
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _train(args: argparse.Namespace) -> int:
    import torch

    from nas.search.budget import parse_macs
    from nas.supernet.model import SupernetConfig
    from nas.supernet.train import TrainSettings, train_supernet

    if args.threads:
        torch.set_num_threads(args.threads)
    ops = tuple(op.strip() for op in args.ops.split(",") if op.strip())
    config = SupernetConfig(ops=ops, resolution=args.resolution, kernel_transform=not args.plain_kernel)
    from nas.supernet.space import Coverage

    Coverage(ops)  # refuses an unknown op before any data is read
    if args.checkpoint_minutes < 0 or args.checkpoint_minutes != args.checkpoint_minutes:
        raise UserInputError(f"--checkpoint-minutes must be >= 0, got {args.checkpoint_minutes!r}")
    settings = TrainSettings(data=args.data, resolution=args.resolution, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr, random_subnets=args.random_subnets,
                             distill=not args.no_distill, schedule=args.schedule,
                             budget=parse_macs(args.budget) if args.budget else 0.0, val_size=args.val_size,
                             subset=args.subset, seed=args.seed, checkpoint_minutes=args.checkpoint_minutes,
                             config=config)
    log = (lambda text: print(text, file=sys.stderr))
    result = train_supernet(settings, Path(args.out), resume=args.resume, stop_after=args.stop_after or 0,
                            progress=not args.quiet, log=log)
    if not result["finished"]:
        print(f"stopped at step {result['step']} of {result['total']}; checkpoint in {args.out} "
              f"(continue with --resume)")
        return 0
    last = result["history"][-1] if result["history"] else {}
    print(f"supernet trained: {result['total']} steps; largest {last.get('largest', float('nan')):.4f}, smallest "
          f"{last.get('smallest', float('nan')):.4f} validation accuracy; weights in {Path(args.out) / 'supernet.safetensors'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m nas.supernet`` and the ``nas-supernet`` script."""
    def body(argv: Sequence[str] | None) -> int:
        args = parser().parse_args(argv)
        return {"train": _train}[args.command](args)

    return run(body, argv, PROG)
