"""Full-training throughput: ``nas.train``'s loop on our efficientnet_b0 against timm's tf_efficientnet_b0.

timm's own training script (``train.py``) is not part of the timm package, so it cannot run here.
The comparison instead drives timm's model with a plain loop built from the same recipe parts
(``nas.training.components``: timm's optimizer, scheduler, Mixup/CutMix, augmentation, EMA, loss),
the same real Fashion-MNIST batches, channels_last, and the same step; ``nas.train``'s side is
:func:`nas.training.fit.fit` itself (seeding, checkpoint bookkeeping and all), timed by the
images/s it writes to ``metrics.csv`` (training steps only, no validation). Runs alternate (ours,
timm, ours, ...) so drifts in the machine's speed hit both.

Usage:
    python benchmarks/recipe_throughput.py [--recipe efficientnet] [--resolution 28] [--batch 128] [--steps 20]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

import search_spaces as ss
from nas.data import DataConfig, loaders
from nas.training.components import build_parts, image_augment
from nas.training.fit import FitSettings, apply_recipe, fit
from nas.training.loop import backward_step
from nas.training.recipes import load_recipe

from common import machine, revision  # benchmarks/common.py (scripts run from this directory)


def _timm_rate(recipe: object, genome: ss.Network, args: argparse.Namespace) -> float:
    import timm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = timm.create_model("tf_efficientnet_b0", num_classes=10, drop_rate=genome.head.dropout,
                                  drop_path_rate=genome.drop_path, bn_momentum=genome.norm.momentum)
    model = model.to(memory_format=torch.channels_last).train()
    data = DataConfig(resolution=args.resolution, batch_size=args.batch, subset=args.batch * args.steps,
                      val_size=args.batch)
    batches, _, _ = loaders(data)
    batches.augment = image_augment(recipe)
    parts = build_parts(model, recipe, batch_size=args.batch, epochs=1, steps_per_epoch=args.steps, num_classes=10,
                        device=torch.device("cpu"))
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    busy = 0.0
    for step in range(args.steps):
        tick = time.perf_counter()
        x, y = batches.batch(0, step)
        target = y
        if parts.mixup is not None:
            x, target = parts.mixup(x, y)
        loss = parts.loss(model(x.contiguous(memory_format=torch.channels_last)), target)
        backward_step(loss, model, parts.optimizer, scaler, recipe.grad_clip, step)
        parts.scheduler.step_update(step + 1)
        if parts.ema is not None:
            parts.ema.update(model, step=step + 1)
        busy += time.perf_counter() - tick
    return args.batch * args.steps / busy


def _our_rate(recipe: object, genome: ss.Network, args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as out:
        settings = FitSettings(genome=genome, recipe=recipe, epochs=1, batch_size=args.batch,
                               resolution=args.resolution, subset=args.batch * args.steps, val_size=args.batch,
                               checkpoint_minutes=0)
        fit(settings, Path(out), progress=False, log=lambda _: None)
        with open(Path(out) / "metrics.csv") as handle:
            return float(next(csv.DictReader(handle))["images_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="efficientnet")
    parser.add_argument("--resolution", type=int, default=28)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe)
    genome = apply_recipe(dataclasses.replace(ss.zoo.get("efficientnet_b0"), resolution=args.resolution), recipe,
                          num_classes=10)
    rates: dict[str, list[float]] = {"nas.train (ours)": [], "timm model, same parts": []}
    for run in range(args.runs + 1):  # run 0 warms up both
        for side, measure in (("nas.train (ours)", _our_rate), ("timm model, same parts", _timm_rate)):
            rate = measure(recipe, genome, args)
            if run:
                rates[side].append(rate)
    print(f"Machine: {machine()}; torch threads {torch.get_num_threads()}; commit {revision()}.\n")
    print(f"efficientnet_b0, recipe {args.recipe}, Fashion-MNIST at {args.resolution} px, batch {args.batch}, "
          f"{args.steps} steps per run, median of {args.runs} alternating runs:\n")
    print("| loop and model | images/s (median) | runs |")
    print("|---|---:|---|")
    for side, values in rates.items():
        print(f"| {side} | {statistics.median(values):,.0f} | {', '.join(f'{r:,.0f}' for r in values)} |")
    ours, theirs = (statistics.median(v) for v in rates.values())
    print(f"\nRatio ours / timm: {ours / theirs:.3f} (goal >= 1.0)")


if __name__ == "__main__":
    main()
