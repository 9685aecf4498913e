"""``python -m nas.latency table --space mbconv --out FILE``: measure a space's latency table on this device.

Samples the space, times every distinct part (stem, block, head) of the samples in
isolation, times some whole samples and fits the learned correction
(:mod:`nas.latency.space_table`), then writes table and correction to ``FILE``
atomically; the ``latency-lut`` evaluator reads it (``--set latency_table=FILE``).
Progress bars and the estimated time go to stderr, a one-line summary to stdout.

The defaults time on the CPU with one thread at batch 1 and the space's default
resolution, with the steady allocator (stable timings; this process is only measuring)::

    python -m nas.latency table --space mbconv --out mbconv_table.json
    python -m nas.latency table --space fused --resolution 192 --threads 4 --out fused.json
    python -m nas.latency where          # the cache directory latency-lut builds tables in

The same command is installed as the ``nas-latency`` console script (``main``). Bad input
is one sentence and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from nas.cli import run
from search_spaces.errors import UserInputError

__all__ = ["main", "parser"]

PROG = "nas.latency"
#: Below this share of networks within +-10% (cross-validated), the correction is reported as unreliable.
POOR_FIT = 0.8


def parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    from nas.latency.space_table import TableRecipe

    d = TableRecipe(space="mbconv")
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    t = commands.add_parser("table", help="measure a latency table (and its correction) for a search space",
                            description="Measure a latency table and its learned correction for a search space on "
                                        "this device, and write them to --out atomically.")
    t.add_argument("--space", required=True, help="search space (mbconv, fused, regnet, nasnet, pnas)")
    t.add_argument("--out", required=True, type=Path, help="JSON file to write (replaced atomically)")
    t.add_argument("--resolution", type=int, help="input size (default: the space's, 224 for mbconv)")
    t.add_argument("--batch", type=int, default=d.batch, help=f"images per timed call (default {d.batch})")
    t.add_argument("--threads", type=int, default=d.threads, help=f"torch CPU threads (default {d.threads})")
    t.add_argument("--device", default=d.device, help=f"cpu, cuda or cuda:N (default {d.device})")
    t.add_argument("--samples", type=int, default=d.samples,
                   help=f"sampled genomes whose distinct parts are timed (default {d.samples})")
    t.add_argument("--seed", type=int, default=d.seed, help=f"first sampling seed (default {d.seed})")
    t.add_argument("--fit", type=int, default=d.fit,
                   help=f"whole sampled networks timed to fit the correction; 0: none (default {d.fit})")
    t.add_argument("--passes", type=int, default=d.passes,
                   help=f"passes over those networks, lowest median kept (default {d.passes})")
    t.add_argument("--warmup", type=int, default=d.warmup, help=f"untimed calls per part (default {d.warmup})")
    t.add_argument("--repeats", type=int, default=d.repeats,
                   help=f"timed calls per part, median kept (default {d.repeats})")
    t.add_argument("--model-warmup", type=int, default=d.model_warmup,
                   help=f"untimed calls per whole network (default {d.model_warmup})")
    t.add_argument("--model-repeats", type=int, default=d.model_repeats,
                   help=f"timed calls per whole network (default {d.model_repeats})")
    t.add_argument("--num-classes", type=int, default=d.num_classes,
                   help=f"classifier outputs of the sampled genomes (default {d.num_classes})")
    t.add_argument("--in-channels", type=int, default=d.in_channels,
                   help=f"input channels of the sampled genomes (default {d.in_channels})")
    t.add_argument("--steady-allocator", action=argparse.BooleanOptionalAction, default=True,
                   help="time with glibc's allocator made steady (process-wide: see nas.latency.measure; "
                        "default on)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    commands.add_parser("where", help="print the directory latency-lut caches its tables in")
    return p


def _table(args: argparse.Namespace) -> int:
    from nas.latency.space_table import TableRecipe, build_predictor

    if args.out.is_dir():
        raise UserInputError(f"--out {args.out} is a directory; give the table's file name")
    recipe = TableRecipe(space=args.space, resolution=args.resolution, batch=args.batch, threads=args.threads,
                         device=_device(args.device), samples=args.samples, seed=args.seed, fit=args.fit,
                         passes=args.passes, warmup=args.warmup, repeats=args.repeats,
                         model_warmup=args.model_warmup, model_repeats=args.model_repeats,
                         num_classes=args.num_classes, in_channels=args.in_channels, steady=args.steady_allocator)
    start = time.perf_counter()
    predictor = build_predictor(recipe, quiet=args.quiet)
    predictor.save(args.out)
    c = predictor.correction
    fit = "no correction" if c is None else (
        f"correction fitted on {c.train.n} networks (within +-10%: {100 * c.train.within_10:.0f}% in-sample"
        + (f", {100 * c.cross_validated.within_10:.0f}% cross-validated)" if c.cross_validated else ")"))
    print(f"wrote {args.out}: {len(predictor.table):,} parts, {fit}; measured in {time.perf_counter() - start:.0f} s "
          f"on {predictor.table.fingerprint}")
    check = c.cross_validated or c.train if c is not None else None
    if check is not None and check.within_10 < POOR_FIT:
        print(f"{PROG}: warning: the correction predicts only {100 * check.within_10:.0f}% of the timed networks "
              f"within +-10%: the whole-network timings are noisy (other processes on this machine?); measure again "
              f"on a quieter machine, or with more --passes", file=sys.stderr)
    return 0


def _device(text: str) -> str:
    """``text`` as a device torch can use here, or one sentence saying why not."""
    import torch

    from nas.evaluators import resolve_device

    try:
        device = resolve_device(text)
    except RuntimeError as err:
        raise UserInputError(f"--device {text!r} is not a device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"--device {text!r}: torch sees no CUDA GPU on this machine")
    return str(device)


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    if args.command == "where":
        from nas.latency.cache import cache_dir

        print(cache_dir())
        return 0
    return _table(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m nas.latency`` and the ``nas-latency`` console script."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
