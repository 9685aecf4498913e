"""``train``: proxy training on real data (Fashion-MNIST by default); accuracy = validation accuracy.

Budget keys (``RunContext.budget``), with defaults:

- ``epochs`` 2, or ``steps`` (0: use epochs);
- ``resolution`` 28; ``reference_resolution`` 0 (off; else the proxy trains at
  ``resolution * genome.resolution / reference_resolution``, so networks scaled to larger
  inputs, such as compound scaling's gamma, also train on proportionally larger images);
  ``eval_resolution`` 0 (= ``resolution``; larger for FixRes-style
  testing, or ``fixres`` with a progressive preset);
- ``batch_size`` 128; ``subset`` 6000 training images (0: all 54,000 left after the split);
  ``val_size`` 2000 held-out images (0: 10% of the training images); ``eval_split`` ``val``
  (accuracy on those held-out images: what a search or a selection may look at) or
  ``test`` (on the dataset's official test split: for reporting a final model only);
- ``optimizer`` sgd, ``lr`` 0.1, ``weight_decay`` 5e-5, ``label_smoothing`` 0.1,
  ``warmup_steps`` 0;
- ``evals`` 1 (validations, each reported for pruning); ``bn_batches`` 20 (batch-norm
  statistics re-estimated before each validation, see :class:`~nas.training.loop.TrainConfig`);
- ``progressive`` "" or a preset (``efficientnetv2_s`` / ``_m`` / ``_l``): EfficientNetV2's
  progressive learning scaled to ``resolution``, in equal shares of the steps;
- ``channels``: the genome's ``in_channels``.

The defaults are the proxy measured in docs/BENCHMARKS.md ("Evaluator fidelity"): on 30
``mbconv`` genomes around 400M MACs its ranking agrees with a 5-epoch training at Spearman
0.816 (1 epoch: 0.658), for about a minute per genome on one CPU thread.

The genome is trained as it is, except for its classifier, which gets the dataset's class
count (``num_classes``), and its input size (``resolution``); gray images are repeated to
the genome's input channels, so the architecture does not change for the data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from nas.data import DataConfig, loaders
from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.training.loop import TrainConfig, train
from nas.training.progressive import ProgressiveSchedule
from search_spaces.errors import UserInputError
from search_spaces import build
from search_spaces.genome import Network

__all__ = ["TrainEvaluator", "refuse_test_split"]


def refuse_test_split(budget: Mapping[str, Any]) -> None:
    """Raise if a budget that will *choose* architectures (a search, a grid) scores them on the test split.

    The official test split is for reporting what was chosen; choosing on it makes the report optimistic.
    """
    if budget.get("eval_split", "val") != "val":
        raise UserInputError(f"--set eval_split={budget['eval_split']} would choose architectures on the test "
                             "split; a search selects on the held-out training images (eval_split=val)")


def _eval_resolution(value: object) -> int:
    """``eval_resolution`` budget value: an int, or ``fixres`` (resolved once the schedule is known)."""
    if value == "fixres":
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserInputError(f"eval_resolution must be an integer or 'fixres', got {value!r}")
    return value


class TrainEvaluator(Evaluator):
    """Short training run; reports validation accuracy (and intermediate values to ``ctx.report``)."""

    name = "train"
    provides = ("accuracy",)

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        resolution = int(ctx.get("resolution", 28))
        reference = ctx.get_int("reference_resolution", 0, 0)
        if reference:
            resolution = max(8, round(resolution * genome.resolution / reference))
        data = DataConfig(source=ctx.data, resolution=resolution,
                          channels=int(ctx.get("channels", genome.in_channels)),
                          batch_size=int(ctx.get("batch_size", 128)), subset=int(ctx.get("subset", 6000)),
                          val_size=int(ctx.get("val_size", 2000)), seed=ctx.seed,
                          eval_resolution=_eval_resolution(ctx.get("eval_resolution", 0)),
                          eval_split=str(ctx.get("eval_split", "val")))
        schedule = TrainConfig(
            epochs=float(ctx.get("epochs", 2.0)), steps=int(ctx.get("steps", 0)),
            optimizer=str(ctx.get("optimizer", "sgd")), lr=float(ctx.get("lr", 0.1)),
            weight_decay=float(ctx.get("weight_decay", 5e-5)), label_smoothing=float(ctx.get("label_smoothing", 0.1)),
            warmup_steps=int(ctx.get("warmup_steps", 0)), evals=int(ctx.get("evals", 1)),
            bn_batches=int(ctx.get("bn_batches", 20)))
        stages: tuple = ()
        preset = ctx.get("progressive", "")
        if preset:
            progressive = ProgressiveSchedule.preset(str(preset)).scaled(data.resolution)
            stages = progressive.plan()
            if ctx.get("eval_resolution", 0) == "fixres":
                data = dataclasses.replace(data, eval_resolution=progressive.eval_image_size)
        device = ctx.torch_device()
        train_batches, val_batches, dataset = loaders(data, device)
        proxy = dataclasses.replace(genome, num_classes=dataset.num_classes, resolution=data.resolution,
                                    in_channels=data.channels)
        torch.manual_seed(ctx.seed)
        model = build(proxy)
        result = train(model, train_batches, val_batches, schedule, device, ctx.report, stages, dataset.num_classes)
        return Metrics(accuracy=result.accuracy, extra={
            "train_steps": float(result.steps), "train_loss": result.train_loss,
            "train_images_per_s": result.images_per_s})
