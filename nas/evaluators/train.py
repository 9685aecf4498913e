"""``train``: proxy training on real data (Fashion-MNIST by default); accuracy = validation accuracy.

Its knobs are :class:`TrainSettings` (``python -m nas.evaluate --evaluator train
--help-settings`` lists them): the schedule (``epochs`` or ``steps``, optimizer, learning
rate, ...), the data (``resolution``, ``subset``, ``val_size``, ``batch_size``, ...) and the
split scored (``eval_split``: ``val``, the held-out training images a search or a selection
may look at, or ``test``, the dataset's official test split, for reporting a final model only).

The defaults are the proxy measured in docs/BENCHMARKS.md ("Evaluator fidelity"): on 30
``mbconv`` genomes around 400M MACs its ranking agrees with a 5-epoch training at Spearman
0.816 (1 epoch: 0.658).

The genome is trained as it is, except for its classifier, which gets the dataset's class
count (``num_classes``), and its input size (``resolution``); gray images are repeated to
the genome's input channels, so the architecture does not change for the data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.data import DataConfig, loaders
from nas.data.loader import EVAL_SPLITS
from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.settings import knob
from nas.training.init import zero_init_residuals
from nas.training.loop import OPTIMIZERS, TrainConfig, TrainResult, train
from nas.training.progressive import PRESETS, ProgressiveSchedule
from search_spaces import build
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

__all__ = ["MAX_PROXY_RESOLUTION", "VAL_SIZE", "TrainEvaluator", "TrainSettings", "amp_knob", "channels_knob",
           "channels_last_knob", "refuse_test_split", "resolution_knob"]

#: Largest image size a proxy knob accepts: above it one batch of a small network no longer fits
#: a workstation's memory, and no proxy needs it.
MAX_PROXY_RESOLUTION = 1024

#: Held-out training images a proxy scores by default: the first of the seeded split, which the
#: ``supernet`` evaluator also scores on by default, so both rank candidates on the same images.
VAL_SIZE = 2000


def resolution_knob() -> Any:
    """The ``resolution`` knob: the proxy's image size, read by ``train`` and ``zero-cost`` alike."""
    return knob(28, "image size the proxy trains (and zero-cost scores) at", low=8, high=MAX_PROXY_RESOLUTION)


def channels_knob() -> Any:
    """The ``channels`` knob, read by every evaluator that feeds real images to the network."""
    return knob(None, "input channels the images are adapted to (gray repeated)", low=1, high=4,
                none="the genome's in_channels")


def amp_knob() -> Any:
    """The ``amp`` knob, read by ``train`` and ``train-step`` alike (one precision for a trial's trainings)."""
    return knob(True, "mixed precision on a GPU: bfloat16 where supported, else float16 with loss scaling (the CPU "
                      "trains in float32 either way)")


def channels_last_knob() -> Any:
    """The ``channels_last`` knob, read by ``train`` and ``train-step`` alike."""
    return knob(True, "channels_last memory format on every device (faster on CPUs and GPUs alike for these "
                      "networks)")


@dataclass(frozen=True)
class TrainSettings:
    """Knobs of the ``train`` evaluator (proxy training)."""

    epochs: float = knob(2.0, "passes over the training images (fractions allowed); ignored when steps > 0",
                         low=0.0, high=10_000.0)
    steps: int = knob(0, "optimizer steps instead of epochs (0: use epochs)", low=0, high=10_000_000)
    resolution: int = resolution_knob()
    reference_resolution: int = knob(0, "if > 0, train at resolution * genome.resolution / this (a network scaled "
                                        "to larger inputs trains on proportionally larger images)", low=0,
                                     high=MAX_PROXY_RESOLUTION * 10)
    eval_resolution: int | str = knob(0, "validation image size (0: resolution; larger: FixRes-style testing; fixres: "
                                   "the progressive preset's)", low=0, high=MAX_PROXY_RESOLUTION, special=("fixres",))
    batch_size: int = knob(128, "training batch size", low=2, high=65_536)
    subset: int = knob(6000, "training images used (0: all left after the validation split)", low=0,
                       high=100_000_000)
    val_size: int = knob(VAL_SIZE, "held-out training images scored (0: 10% of the training images)", low=0,
                         high=100_000_000)
    eval_split: str = knob("val", "what accuracy is measured on: val (held-out training images, for searching) or "
                                  "test (the official test split, for reporting a final model only)",
                           choices=EVAL_SPLITS)
    optimizer: str = knob("sgd", "optimizer", choices=lambda: OPTIMIZERS.names())
    lr: float = knob(0.1, "peak learning rate", low=0.0, low_open=True, high=100.0)
    weight_decay: float = knob(5e-5, "weight decay", low=0.0, high=1.0)
    label_smoothing: float = knob(0.1, "label smoothing of the cross-entropy", low=0.0, high=0.99)
    warmup_steps: int = knob(0, "linear learning-rate warm-up steps before the cosine decay", low=0,
                             high=10_000_000)
    evals: int = knob(1, "validations, evenly spaced (each reported for pruning)", low=1, high=1000)
    bn_batches: int = knob(20, "training batches re-estimating batch-norm statistics before each validation "
                               "(0: keep the running averages)", low=0, high=100_000)
    progressive: str = knob("", "EfficientNetV2 progressive learning preset scaled to resolution (empty: off)",
                            choices=lambda: ("", *PRESETS.names()))
    channels: int | None = channels_knob()
    amp: bool = amp_knob()
    channels_last: bool = channels_last_knob()
    zero_init_residual: bool = knob(False, "start every residual branch at zero (its last norm's scale), so a deeper "
                                           "network starts as the same function: short proxies of deep networks need "
                                           "it (the scaling-law fit sets it)")

    def __post_init__(self) -> None:
        if self.steps == 0 and self.epochs <= 0:
            raise UserInputError(f"a proxy needs epochs > 0 or steps > 0, got epochs={self.epochs:g}, steps=0")
        if self.eval_resolution == "fixres" and not self.progressive:
            raise UserInputError("eval_resolution=fixres takes the test size of a progressive preset; set progressive "
                                 "too, or give eval_resolution a size")


def refuse_test_split(budget: Mapping[str, Any]) -> None:
    """Raise if a budget that will *choose* architectures (a search, a grid) scores them on the test split.

    The official test split is for reporting what was chosen; choosing on it makes the report optimistic.
    """
    if budget.get("eval_split", "val") != "val":
        raise UserInputError(f"setting eval_split={budget['eval_split']} would choose architectures on the test "
                             "split; a search selects on the held-out training images (eval_split=val)")


class TrainEvaluator(Evaluator):
    """Short training run; reports validation accuracy (and intermediate values to ``ctx.report``)."""

    name = "train"
    provides = ("accuracy",)
    settings = TrainSettings

    def check(self, ctx: RunContext) -> None:
        """The settings, and that the dataset exists and its split can give the images asked for."""
        from nas.data import open_dataset

        s = ctx.settings(TrainSettings)
        dataset = open_dataset(ctx.data)
        n = len(dataset.train_labels) if dataset.in_memory else len(dataset.folder_train)  # type: ignore[arg-type]
        held = s.val_size or max(1, round(n * DataConfig.val_fraction))
        if held >= n:
            raise UserInputError(f"setting val_size={held} holds out every one of the {n} training images of "
                                 f"{dataset.name}; a proxy needs some left to train on")
        if s.eval_split == "test" and dataset.test_labels is None and dataset.folder_test is None:
            raise UserInputError(f"setting eval_split=test: dataset {dataset.name} has no test split")

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        result = self.trained(genome, ctx)[1]
        return Metrics(accuracy=result.accuracy, extra={
            "train_steps": float(result.steps), "train_loss": result.train_loss,
            "train_images_per_s": result.images_per_s})

    @staticmethod
    def trained(genome: Network, ctx: RunContext) -> tuple[nn.Module, TrainResult, DataConfig]:
        """The proxy training :meth:`run` scores: ``(trained network, its result, the data it used)``.

        Benchmarks that study the proxy (``benchmarks/proxy_noise.py`` scores the network image by
        image) call this, so they train exactly as a search's trial does.
        """
        s = ctx.settings(TrainSettings)
        resolution = s.resolution
        if s.reference_resolution:
            resolution = max(8, round(resolution * genome.resolution / s.reference_resolution))
        fixres = s.eval_resolution == "fixres"
        data = DataConfig(source=ctx.data, resolution=resolution,
                          channels=genome.in_channels if s.channels is None else s.channels,
                          batch_size=s.batch_size, eval_batch_size=s.batch_size, subset=s.subset,
                          val_size=s.val_size, seed=ctx.seed,
                          eval_resolution=0 if fixres else s.eval_resolution, eval_split=s.eval_split)
        schedule = TrainConfig(epochs=s.epochs, steps=s.steps, optimizer=s.optimizer, lr=s.lr,
                               weight_decay=s.weight_decay, label_smoothing=s.label_smoothing,
                               warmup_steps=s.warmup_steps, evals=s.evals, bn_batches=s.bn_batches, amp=s.amp,
                               channels_last=s.channels_last)
        stages: tuple = ()
        if s.progressive:
            progressive = ProgressiveSchedule.preset(s.progressive).scaled(data.resolution)
            stages = progressive.plan()
            if fixres:
                data = dataclasses.replace(data, eval_resolution=progressive.eval_image_size)
        device = ctx.torch_device()
        train_batches, val_batches, dataset = loaders(data, device)
        proxy = dataclasses.replace(genome, num_classes=dataset.num_classes, resolution=data.resolution,
                                    in_channels=data.channels)
        torch.manual_seed(ctx.seed)
        model = build(proxy)
        if s.zero_init_residual:
            zero_init_residuals(model)
        result = train(model, train_batches, val_batches, schedule, device, ctx.report, stages, dataset.num_classes)
        return model, result, data
