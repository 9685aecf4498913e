"""``python -m nas.supernet``: train a weight-sharing supernet once, then search thousands of its subnets.

Commands::

    python -m nas.supernet train --space mbconv --budget 400M --data fashion-mnist --out DIR
    python -m nas.supernet train ... --out DIR --resume          # after a kill: same final weights
    torchrun --nproc-per-node 4 -m nas.supernet train ... --out DIR   # one process per GPU (DDP)

Then ``python -m nas.search --space mbconv --budget 400M --evaluator supernet --set supernet=DIR``
scores each candidate from the supernet's weights in well under a second. An accuracy predictor
fitted on supernet scores answers in microseconds, and specialises the supernet for latency
targets (Once-for-All)::

    python -m nas.supernet predictor --supernet DIR                # DIR/predictor.safetensors
    python -m nas.search --space mbconv --evaluator predictor --set predictor=DIR/predictor.safetensors ...
    python -m nas.supernet specialise --supernet DIR --latency-ms 8,12,16,20,25 --out OUTDIR

Progress goes to stderr, the summary to stdout; bad input is one sentence and exit status 2.
``specialise`` exits with status 1 when a subnet misses its target when measured.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas.cli import MAX_SEED, Parser, integer, max_parallel, path, run
from nas.supernet.score import CALIBRATION_IMAGES
from search_spaces.errors import UserInputError

__all__ = ["main", "parser"]

PROG = "nas.supernet"
PREDICTOR = "predictor.safetensors"  #: the accuracy predictor's default file in the supernet's directory


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
    from nas.supernet.space import DEFAULT_OPS, SUPERNET_SPACE
    from nas.supernet.train import SCHEDULES, TrainSettings
    from search_spaces.spaces.mbconv import OPS

    d = TrainSettings()
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    t = commands.add_parser("train", help="train a supernet (sandwich rule; --distill: in-place distillation)",
                            description="Train an elastic supernet of a search space on real images; write a "
                                        "checkpoint every epoch (and every --checkpoint-minutes), then the weights.")
    t.add_argument("--space", default=SUPERNET_SPACE, choices=(SUPERNET_SPACE,),
                   help=f"the search space whose configurations it holds (default {SUPERNET_SPACE})")
    t.add_argument("--out", required=True, type=path, help="directory for the checkpoint, weights and summary")
    t.add_argument("--budget", help="MACs target (e.g. 400M): random subnets are drawn among those with 0.5x to "
                                    "1.5x it at 224 px (default: the whole space)")
    t.add_argument("--data", help="dataset (fashion-mnist, cifar10, cifar10:DIR) or an ImageFolder directory "
                                  "(default: Fashion-MNIST)")
    t.add_argument("--ops", default=",".join(DEFAULT_OPS),
                   help=f"comma-separated ops it holds weights for, among {','.join(OPS)} (default "
                        f"{','.join(DEFAULT_OPS)}: configurations mixing the conv and ds paths with MBConv rank "
                        f"poorly after CPU-sized training)")
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
    t.add_argument("--distill", action=argparse.BooleanOptionalAction, default=d.distill,
                   help="in-place distillation: the other subnets learn from the largest's predictions instead of "
                        "the labels (default off: on Fashion-MNIST it gave worse subnets and a worse search, "
                        "docs/BENCHMARKS.md)")
    t.add_argument("--plain-kernel", action="store_true",
                   help="a 3x3 kernel is the plain centre of the 5x5 (BigNAS), not OFA's learned transform")
    t.add_argument("--val-size", type=integer(1, 10_000_000), default=d.val_size,
                   help=f"held-out training images every configuration is scored on, a superset of the train "
                        f"evaluator's (default {d.val_size})")
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
    _predictor_parser(commands)
    _specialise_parser(commands)
    return p


def _targets(text: str) -> tuple[float, ...]:
    """``--latency-ms 8,12.5,20`` -> the targets, each a positive number of milliseconds, none twice."""
    parts = [t.strip() for t in text.split(",")]
    try:
        values = tuple(float(t) for t in parts)
    except ValueError:
        values = ()
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of positive milliseconds, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"lists a target twice: {text!r}")
    return values


def _hidden(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        values = ()
    if not values or any(not 1 <= v <= 65_536 for v in values):
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of layer sizes from 1 to 65,536, got {text!r}")
    return values


def _predictor_parser(commands: Any) -> None:
    from nas.supernet.predictor import MEMBERS

    p = commands.add_parser("predictor", help="fit an accuracy predictor on configurations the supernet scores",
                            description="Score random configurations with a trained supernet (resumable: the "
                                        "scores are kept in JSON-lines files), fit an MLP predicting their accuracy "
                                        "(Once-for-All), report its error on held-out configurations and save it.")
    p.add_argument("--supernet", required=True, type=path, help="directory of a trained supernet")
    p.add_argument("--samples", type=integer(4, 10_000_000), default=1000,
                   help="configurations scored to fit on (default 1000)")
    p.add_argument("--test", type=integer(2, 10_000_000), default=200,
                   help="other configurations scored to test on (default 200)")
    p.add_argument("--seed", type=integer(0, MAX_SEED), default=0,
                   help="seed of the drawn configurations and of the fit (default 0)")
    p.add_argument("--out", type=path, help=f"predictor file to write (default: {PREDICTOR} in the supernet's "
                                            "directory)")
    p.add_argument("--records", type=path, help="directory of the scored-configuration files (default: the "
                                                "supernet's)")
    p.add_argument("--hidden", type=_hidden, default=(400, 400, 400),
                   help="hidden layer sizes of the MLP (default 400,400,400, as Once-for-All)")
    p.add_argument("--members", type=integer(1, 100), default=MEMBERS,
                   help=f"MLPs fitted alike and averaged (default {MEMBERS}; 1: Once-for-All's single MLP)")
    p.add_argument("--epochs", type=integer(1, 1_000_000), default=500,
                   help="most epochs of the fit; it stops early on its validation slice (default 500)")
    p.add_argument("--calibration-images", type=integer(1, 100_000), default=CALIBRATION_IMAGES,
                   help="training images each configuration's batch-norm statistics are re-estimated on "
                        f"(default {CALIBRATION_IMAGES})")
    p.add_argument("--val-images", type=integer(0, 10_000_000), default=0,
                   help="held-out images each configuration is scored on (default 0: the supernet's whole split)")
    p.add_argument("--device", default="cpu", help="where configurations are scored: cpu, cuda, cuda:N or auto "
                                                   "(default cpu)")
    p.add_argument("--threads", type=integer(1, max_parallel), help="torch CPU threads while scoring (default: "
                                                                     "torch's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _specialise_parser(commands: Any) -> None:
    from nas.supernet.evolution import EvolutionSettings

    d = EvolutionSettings()
    p = commands.add_parser("specialise", help="a subnet for each latency target, measured to meet it (Once-for-All)",
                            description="For each latency target, search the supernet's configurations with the "
                                        "accuracy predictor and this CPU's latency table (batch 1, 224 px), measure "
                                        "the winner, and write one genome file per target, a table and a plot.")
    p.add_argument("--supernet", required=True, type=path, help="directory of a trained supernet")
    p.add_argument("--latency-ms", required=True, type=_targets, help="comma-separated latency targets, e.g. 8,12,16")
    p.add_argument("--out", required=True, type=path, help="directory for the genome files, table and plot")
    p.add_argument("--predictor", type=path, help=f"accuracy predictor file (default: {PREDICTOR} in the supernet's "
                                                  "directory)")
    p.add_argument("--latency-table", type=path,
                   help="latency table file (python -m nas.latency table); default: this CPU's cached table for "
                        "mbconv at 224 px, batch 1, one thread, built on first use")
    p.add_argument("--seconds", type=_positive(float), default=d.seconds,
                   help=f"search time per target (default {d.seconds:g})")
    p.add_argument("--population", type=integer(2, 100_000), default=d.population,
                   help=f"candidates per generation (default {d.population})")
    p.add_argument("--generations", type=integer(1, 10_000_000), default=d.generations,
                   help=f"most generations per target (default {d.generations})")
    p.add_argument("--margin", type=_positive(float), default=1.0,
                   help="first limit on the predicted latency, as a share of the target (default 1)")
    p.add_argument("--tries", type=integer(1, 100), default=4,
                   help="most candidates measured per target before it is reported missed (default 4)")
    p.add_argument("--seed", type=integer(0, MAX_SEED), default=0, help="seed of the search (default 0)")
    p.add_argument("--no-score", action="store_true", help="do not score the subnets with the supernet's weights")
    p.add_argument("--threads", type=integer(1, max_parallel),
                   help="torch CPU threads of the search and the scoring (default: torch's; a measurement runs "
                        "with the latency table's)")


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
                             distill=args.distill, schedule=args.schedule,
                             budget=parse_macs(args.budget) if args.budget else 0.0, val_size=args.val_size,
                             subset=args.subset, seed=args.seed, checkpoint_minutes=args.checkpoint_minutes,
                             config=config)
    log = (lambda text: print(text, file=sys.stderr))
    try:
        result = train_supernet(settings, Path(args.out), resume=args.resume, stop_after=args.stop_after or 0,
                                progress=not args.quiet, log=log)
    except FloatingPointError as diverged:  # --lr too high for this space and data; no NaN weights were saved
        raise UserInputError(str(diverged)) from None
    if not result["finished"]:
        print(f"stopped at step {result['step']} of {result['total']}; checkpoint in {args.out} "
              f"(continue with --resume)")
        return 0
    last = result["history"][-1] if result["history"] else {}
    nan = float("nan")
    print(f"supernet trained: {result['total']} steps; validation accuracy of the largest {last.get('largest', nan):.4f}, "
          f"the smallest {last.get('smallest', nan):.4f}, random configurations {last.get('random', nan):.4f}; "
          f"weights in {Path(args.out) / 'supernet.safetensors'}")
    return 0


def _digest(directory: Path) -> str:
    """SHA-256 of a supernet's weights: a predictor fitted on one supernet is refused for another."""
    from nas.supernet.train import WEIGHTS

    digest = hashlib.sha256()
    try:
        with open(directory / WEIGHTS, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise UserInputError(f"cannot read the supernet's weights {directory / WEIGHTS}: {err.strerror or err}") from None
    return digest.hexdigest()


class _LazyScorer:
    """A :class:`~nas.supernet.score.SubnetScorer` made on the first score (a finished collection needs none)."""

    def __init__(self, directory: Path, args: argparse.Namespace) -> None:
        self.directory, self.args, self.scorer = directory, args, None

    def accuracy(self, genome: Any) -> float:
        if self.scorer is None:
            from nas.evaluators import resolve_device
            from nas.supernet.score import SubnetScorer

            self.scorer = SubnetScorer(self.directory, self.args.calibration_images, self.args.val_images,
                                       resolve_device(self.args.device))
        return self.scorer.accuracy(genome)


def _predictor(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from nas.search.session import check_device
    from nas.stats import kendall, spearman
    from nas.supernet.encoding import encoding_of
    from nas.supernet.predictor import AccuracyPredictor
    from nas.supernet.samples import collect
    from nas.supernet.train import load_supernet

    check_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    directory = Path(args.supernet).expanduser().resolve()
    coverage = load_supernet(directory).coverage  # refuses a directory without a trained supernet
    out = Path(args.out) if args.out else directory / PREDICTOR
    if out.is_dir():
        raise UserInputError(f"--out {out} is a directory; give the predictor's file name")
    records = Path(args.records) if args.records else directory
    train_file, test_file = records / f"predictor-train-s{args.seed}.jsonl", records / f"predictor-test-s{args.seed}.jsonl"
    scorer = _LazyScorer(directory, args)
    scoring = {"calibration_images": args.calibration_images, "val_images": args.val_images}
    train = collect(scorer, coverage, args.samples, args.seed, train_file, scoring=scoring, progress=not args.quiet)
    test_seed = MAX_SEED + 1 + args.seed  # beyond every --seed: held-out draws never repeat a fitting stream
    test = collect(scorer, coverage, args.test, test_seed, test_file, scoring=scoring, progress=not args.quiet)
    fitted = {r["genome"] for r in train}
    held = [r for r in test if r["genome"] not in fitted]  # a repeat of a fitted draw would not be held out
    encoding = encoding_of(coverage.ops)
    predictor = AccuracyPredictor(encoding, args.hidden, args.seed, members=args.members)
    fit = predictor.fit(encoding.encode_params([r["params"] for r in train]), [r["accuracy"] for r in train],
                        epochs=args.epochs)
    truth = np.array([r["accuracy"] for r in held])
    guess = predictor.predict(encoding.encode_params([r["params"] for r in held]))
    rmse = 100 * float(np.sqrt(np.mean((guess - truth) ** 2)))
    baseline = 100 * float(np.sqrt(np.mean((predictor.mean - truth) ** 2)))
    rho, tau = spearman(guess, truth), kendall(guess, truth)
    predictor.meta = {"supernet": str(directory), "supernet_sha256": _digest(directory),
                      "samples": {"train": str(train_file), "test": str(test_file), "seed": args.seed},
                      "test": {"configurations": len(held), "rmse_points": rmse, "mean_rmse_points": baseline,
                               "spearman": rho, "kendall": tau}}
    predictor.save(out)
    print(f"scored configurations: {len(train):,} to fit on ({train_file}), {len(held):,} held out ({test_file})")
    print(f"fit: {fit.members} MLP{'s' if fit.members > 1 else ''} on {fit.train:,} configurations, {fit.validation:,} "
          f"for early stopping; best epoch {fit.best_epoch} of {fit.epochs}, validation RMSE "
          f"{100 * fit.validation_rmse:.2f} points")
    print(f"held-out test ({len(held):,} configurations): RMSE {rmse:.2f} points of accuracy (predicting the mean: "
          f"{baseline:.2f}), Spearman {rho:.3f}, Kendall {tau:.3f}")
    print(f"wrote {out}")
    return 0


def _specialise(args: argparse.Namespace) -> int:
    from nas.supernet.evolution import EvolutionSettings
    from nas.supernet.predictor import AccuracyPredictor
    from nas.supernet.report import outputs, write_report
    from nas.supernet.specialise import latency_table, specialise
    from search_spaces.files import prepare_dir

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    directory = Path(args.supernet).expanduser().resolve()
    out = prepare_dir(args.out, "--out", outputs(args.latency_ms))
    file = Path(args.predictor) if args.predictor else directory / PREDICTOR
    predictor = AccuracyPredictor.load(file)
    fitted_on = predictor.meta.get("supernet_sha256")
    if fitted_on is not None and fitted_on != _digest(directory):
        raise UserInputError(f"the accuracy predictor {file} was fitted on another supernet than the one in "
                             f"{directory}; fit one for it with python -m nas.supernet predictor --supernet "
                             f"{directory}")
    if args.latency_table and not Path(args.latency_table).is_file():
        raise UserInputError(f"--latency-table {args.latency_table}: no such file; make one with python -m nas.latency "
                             f"table --space mbconv --out {args.latency_table}")
    table_file, latency = latency_table(predictor.encoding.coverage.space,
                                        str(args.latency_table) if args.latency_table else None)
    score = None
    if not args.no_score:
        from nas.supernet.score import SubnetScorer

        score = SubnetScorer(directory).accuracy
    settings = EvolutionSettings(population=args.population, generations=args.generations, seconds=args.seconds,
                                 seed=args.seed)
    outcomes = specialise(args.latency_ms, predictor, latency, settings=settings, margin=args.margin,
                          tries=args.tries, score=score)
    table = write_report(outcomes, out, {"supernet": str(directory), "predictor": str(file),
                                         "latency_table": str(table_file)})
    print(table, end="")
    print(f"wrote {out}")
    missed = [o for o in outcomes if not o.met]
    if missed:
        print(f"{PROG}: {len(missed)} of {len(outcomes)} targets not met: "
              f"{', '.join(f'{o.target_ms:g} ms ({o.note})' for o in missed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m nas.supernet`` and the ``nas-supernet`` script."""
    def body(argv: Sequence[str] | None) -> int:
        args = parser().parse_args(argv)
        return {"train": _train, "predictor": _predictor, "specialise": _specialise}[args.command](args)

    return run(body, argv, PROG)
