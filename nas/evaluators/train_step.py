"""``train-step``: measured training step time, normalised by a reference network timed in the same process.

EfficientNetV2 (Tan & Le 2021, sec. 3.3) searches with the reward ``A * S^w * P^v`` where
``S`` is the *normalised training step time*: one step's time relative to a reference, so
the reward does not depend on the machine. Here a step is what the training loop does per
batch: forward, label-smoothed cross-entropy, backward and an SGD-with-momentum update
(:data:`nas.training.loop.OPTIMIZERS` ``"sgd"``), in train mode, on synthetic inputs
(timing only: the values never matter). We report the median over ``step_repeats`` steps
after ``step_warmup`` untimed ones, and divide by the reference network's median measured
the same way at the same batch, resolution, classes and input channels. The reference is
timed once per process per (reference, device, batch, resolution, classes, channels,
threads, AMP, channels_last) and cached.

Knobs: :class:`TrainStepSettings` (batch, resolution, warm-up and timed steps, the reference
network, AMP on CUDA, channels_last on every device). The step is timed in the memory format
the trainings use (``nas.training.loop``, ``nas.train``: channels_last on the CPU too, where it
is 1.3-2.3x faster): timed in NCHW on the CPU, candidates' ratios to the reference were up to
20% off the ones their training has (``benchmarks/train_step_format.py``).

Metrics: ``train_step_ms`` (median); extra ``train_step_ratio`` (ours / reference),
``train_step_iqr_ms``, ``train_step_reference_ms`` and ``train_step_reference_cached``
(1 when the reference came from the cache).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.evaluators.train import MAX_PROXY_RESOLUTION, amp_knob, channels_last_knob
from nas.settings import knob
from nas.training.loop import OPTIMIZERS, TrainConfig, mixed_precision
from search_spaces import build, zoo
from search_spaces.genome import Network

__all__ = ["StepConfig", "TrainStepEvaluator", "TrainStepSettings", "clear_reference_cache", "measure_train_step",
           "time_train_steps"]

#: (reference, device, batch, resolution, classes, channels, threads, amp, channels_last) -> median ms.
_REFERENCE_MS: dict[tuple[Any, ...], float] = {}


def clear_reference_cache() -> None:
    """Forget every cached reference time (the next evaluation times the reference again)."""
    _REFERENCE_MS.clear()


@dataclass(frozen=True)
class StepConfig:
    """How to time a training step.

    Attributes:
        batch: Images per step (>= 2: batch norm needs two values per channel in train mode).
        resolution: Square input size.
        warmup: Untimed steps first (allocator, cuDNN autotuning, thread pools).
        repeats: Timed steps; the median is reported.
        reference: Zoo name of the reference network.
        amp: Mixed precision (CUDA only).
        channels_last: channels_last memory format (every device, as the trainings).
    """

    batch: int = 32
    resolution: int = 224
    warmup: int = 3
    repeats: int = 5
    reference: str = "efficientnet_b0"
    amp: bool = True
    channels_last: bool = True

    @classmethod
    def from_context(cls, genome: Network, ctx: RunContext) -> StepConfig:
        """The run's :class:`TrainStepSettings`; the resolution defaults to the genome's."""
        s = ctx.settings(TrainStepSettings)
        return cls(batch=s.step_batch, resolution=genome.resolution if s.step_resolution is None else s.step_resolution,
                   warmup=s.step_warmup, repeats=s.step_repeats, reference=s.step_reference, amp=s.amp,
                   channels_last=s.channels_last)


@dataclass(frozen=True)
class TrainStepSettings:
    """Knobs of the ``train-step`` evaluator; defaults are :class:`StepConfig`'s."""

    step_batch: int = knob(StepConfig.batch, "images per timed step (>= 2: batch norm in train mode)", low=2,
                           high=65_536)
    step_resolution: int | None = knob(None, "image size of the timed steps", low=8, high=MAX_PROXY_RESOLUTION,
                                       none="the genome's resolution")
    step_warmup: int = knob(StepConfig.warmup, "untimed steps first", low=0, high=100_000)
    step_repeats: int = knob(StepConfig.repeats, "timed steps; the median is reported", low=1, high=100_000)
    step_reference: str = knob(StepConfig.reference, "zoo model the step time is divided by",
                               choices=lambda: zoo.names())
    amp: bool = amp_knob()
    channels_last: bool = channels_last_knob()


def measure_train_step(model: nn.Module, config: StepConfig, device: torch.device, in_channels: int,
                       num_classes: int, seed: int = 0) -> list[float]:
    """Milliseconds of each of ``config.repeats`` training steps of ``model`` after ``config.warmup`` untimed ones.

    A step is zero-grad, forward, cross-entropy, backward and an SGD-momentum update, in
    train mode, on one fixed synthetic batch; CUDA is synchronised around each timed step.
    Gradients are released before returning. The model's weights change (it is trained).
    """
    cuda = device.type == "cuda"
    channels_last = config.channels_last
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(config.batch, in_channels, config.resolution, config.resolution, generator=gen).to(device)
    y = torch.randint(0, num_classes, (config.batch,), generator=gen).to(device)
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    schedule = TrainConfig(lr=1e-3)  # the loop's SGD (Nesterov momentum 0.9, weight decay); a small lr keeps it finite
    optimizer = OPTIMIZERS.get("sgd")(model.parameters(), schedule)
    autocast, scaler = mixed_precision(device, config.amp)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=schedule.label_smoothing)
    times: list[float] = []
    try:
        for i in range(config.warmup + config.repeats):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if cuda:
                torch.cuda.synchronize(device)
            if i >= config.warmup:
                times.append((time.perf_counter() - start) * 1e3)
    finally:
        optimizer.zero_grad(set_to_none=True)
    return times


def time_train_steps(genome: Network, config: StepConfig, device: torch.device, seed: int = 0) -> list[float]:
    """Build ``genome`` at ``config.resolution`` (seeded) and :func:`measure_train_step` it."""
    torch.manual_seed(seed)
    model = build(dataclasses.replace(genome, resolution=config.resolution))
    try:
        return measure_train_step(model, config, device, genome.in_channels, genome.num_classes, seed)
    finally:
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _iqr(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return q3 - q1


class TrainStepEvaluator(Evaluator):
    """Median training step time of the genome and its ratio to a reference network (see the module docstring)."""

    name = "train-step"
    provides = ("train_step_ms", "train_step_ratio")
    settings = TrainStepSettings

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        config = StepConfig.from_context(genome, ctx)
        # The reference is built at the candidate's classes and input channels, so only the body differs.
        reference = dataclasses.replace(zoo.get(config.reference), num_classes=genome.num_classes,
                                        in_channels=genome.in_channels)
        device = ctx.torch_device()
        cuda = device.type == "cuda"
        # Threads are the context's: nas.evaluators.evaluate sets them around every evaluator.
        key = (config.reference, str(device), config.batch, config.resolution, genome.num_classes,
               genome.in_channels, torch.get_num_threads(), cuda and config.amp, config.channels_last)
        times = time_train_steps(genome, config, device, ctx.seed)
        # The reference goes second: the first network timed in a process runs cold (allocator,
        # kernel caches), and the cached reference divides every later candidate's time.
        cached = key in _REFERENCE_MS
        if not cached:
            _REFERENCE_MS[key] = statistics.median(time_train_steps(reference, config, device, seed=0))
        ours, ref = statistics.median(times), _REFERENCE_MS[key]
        return Metrics(train_step_ms=ours, extra={
            "train_step_ratio": ours / ref, "train_step_iqr_ms": _iqr(times), "train_step_reference_ms": ref,
            "train_step_reference_cached": float(cached)})
