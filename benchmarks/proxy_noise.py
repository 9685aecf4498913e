"""How much of a proxy training's seed-to-seed spread is the evaluation set's, and how much the training's.

Trains one scaling-law member (``--strategy`` at ``--s`` times the base's MACs, as
``python -m scaling.laws fit`` builds it) with the fit's proxy (:data:`scaling.laws.fit.FIT_BUDGET`:
2 epochs of 6,000 Fashion-MNIST images, residual branches zero-initialised) once per seed, and
records which images each training gets right: the fit's 5,000 validation images, then
``--extra`` further training images that neither the validation split nor the training subset
uses. Over seeds, the variance of an accuracy measured on n images is the variance of the
networks' accuracies on the whole distribution (the training's share) plus the mean over images of
the per-image variance of being right, divided by n (the evaluation set's share, which a larger
set shrinks). Both shares are printed for the 5,000 validation images and for all of them.

``--optimizer``, ``--lr``, ``--weight-decay`` and ``--warmup`` override the fit's schedule, to ask
whether another recipe trains with less spread.

Usage:
    python benchmarks/proxy_noise.py --strategy width --s 1 --seeds 6 [--threads 2]
    python benchmarks/proxy_noise.py --strategy width --s 1 --seeds 6 --optimizer adamw --lr 0.003 --weight-decay 0.05
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from common import machine, revision  # benchmarks/common.py (scripts run from this directory)
from nas.data import open_dataset
from nas.data.loader import Batches, split_indices
from nas.evaluators.base import RunContext
from nas.evaluators.train import TrainEvaluator, TrainSettings
from scaling.family import load_base
from scaling.laws.fit import FIT_BUDGET
from scaling.strategies import at_macs, parse
from search_spaces.genome import Network

_DEFAULTS = TrainSettings()


def _hits(genome: Network, budget: dict[str, Any], seed: int, extra: int) -> tuple[np.ndarray, float, float]:
    """One training's right/wrong per image (validation split first), its training loss and wall seconds.

    The training is the ``train`` evaluator's own (:meth:`TrainEvaluator.trained`), seeded ``seed``.
    """
    start = time.perf_counter()
    model, result, data = TrainEvaluator.trained(genome, RunContext(seed=seed, budget=budget))
    seconds = time.perf_counter() - start
    dataset = open_dataset(data.source)
    train_idx, val_idx = split_indices(len(dataset.train_labels), data.val_fraction, data.split_seed, data.val_size)
    unused = train_idx[data.subset:][:extra]  # the loader trains on the first ``subset`` left after validation
    model.eval()
    right = []
    with torch.no_grad():
        for idx in (val_idx, unused):
            images = Batches(dataset, dataset.train_images[idx], dataset.train_labels[idx], data,
                             data.eval_batch_size, False, "cpu")
            for x, y in images:
                right.append((model(x.contiguous(memory_format=torch.channels_last)).argmax(1) == y).numpy())
    return np.concatenate(right), result.train_loss, seconds


def shares(right: np.ndarray) -> tuple[float, float, float]:
    """``(sd over seeds, evaluation set's share, training's share)`` of the accuracies, in points, from a
    seeds x images array of 0/1: the evaluation set's variance is the mean per-image variance over n images."""
    accuracy = right.mean(1)
    total = accuracy.var(ddof=1)
    images = right.var(0, ddof=1).mean() / right.shape[1]
    return 100 * total ** 0.5, 100 * images ** 0.5, 100 * max(total - images, 0.0) ** 0.5


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="efficientnet_b0")
    p.add_argument("--strategy", default="width", help="scaling strategy (ignored at --s 1: the base itself)")
    p.add_argument("--s", type=float, default=1.0, help="multiple of the base's MACs")
    p.add_argument("--seeds", type=int, default=6, help="trainings, with seeds 0..N-1")
    p.add_argument("--extra", type=int, default=30_000, help="unused training images scored besides validation")
    p.add_argument("--optimizer", default=_DEFAULTS.optimizer)
    p.add_argument("--lr", type=float, default=_DEFAULTS.lr)
    p.add_argument("--weight-decay", type=float, default=_DEFAULTS.weight_decay)
    p.add_argument("--warmup", type=int, default=_DEFAULTS.warmup_steps, help="linear warm-up steps")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if args.seeds < 2:
        p.error("--seeds must be at least 2: a spread needs two trainings")
    torch.set_num_threads(args.threads)
    base = load_base(args.base)[0]
    genome = base if args.s == 1 else at_macs(parse(args.strategy), base, args.s)
    budget = {**FIT_BUDGET, "reference_resolution": base.resolution, "optimizer": args.optimizer, "lr": args.lr,
              "weight_decay": args.weight_decay, "warmup_steps": args.warmup}
    print(f"# {machine()}; {revision()}")
    print(f"# {genome.name}: {args.strategy} at {args.s:g}x {args.base}; {budget['optimizer']} lr {budget['lr']:g}, "
          f"weight decay {budget['weight_decay']:g}, warm-up {budget['warmup_steps']}\n")
    print("| seed | validation accuracy | accuracy on all images | training loss | s |\n|---:|---:|---:|---:|---:|")
    rows, n_val = [], budget["val_size"]
    for seed in range(args.seeds):
        right, loss, seconds = _hits(genome, budget, seed, args.extra)
        rows.append(right)
        print(f"| {seed} | {right[:n_val].mean():.4f} | {right.mean():.4f} | {loss:.3f} | {seconds:.0f} |", flush=True)
    right = np.array(rows, dtype=np.float64)
    print("\n| scored on | sd over seeds (points) | evaluation set's share | training's share |\n|---|---:|---:|---:|")
    for n in (n_val, right.shape[1]):
        total, images, training = shares(right[:, :n])
        print(f"| {n:,} images | {total:.3f} | {images:.3f} | {training:.3f} |")
    pairs = [(right[i] != right[j]).mean() for i in range(len(right)) for j in range(i + 1, len(right))]
    print(f"\nTwo trainings disagree on {100 * float(np.mean(pairs)):.2f}% of the images (mean over pairs).")


if __name__ == "__main__":
    main()
