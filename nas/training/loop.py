"""The one training loop: proxy training of a candidate, reporting validation accuracy as it goes.

Short schedules on reduced resolution and data estimate a candidate's accuracy (the
"proxy task" of MnasNet sec. 3 and EfficientNetV2 sec. 3.3). The loop uses label
smoothing (Szegedy et al. 2016), a linear warm-up then cosine decay of the learning rate
(Loshchilov & Hutter 2017), SGD with Nesterov momentum, RMSProp (the EfficientNet recipe:
decay 0.9, momentum 0.9, epsilon 1e-3) or AdamW; CUDA runs add AMP and channels_last.
A non-finite loss stops training with :class:`FloatingPointError`, which evaluators turn
into a failed metric for that candidate.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from search_spaces.errors import UserInputError
from search_spaces.registry import Registry

__all__ = ["FINITE_CHECK_EVERY", "OPTIMIZERS", "RunningLoss", "TrainConfig", "TrainResult", "accuracy", "apply_stage",
           "autocast_dtype", "backward_step", "lr_at", "mixed_precision", "recalibrate_bn", "train", "warmup_cosine"]

#: The proxy loop reads its running loss on the host (and stops on a NaN) every this many steps and at
#: each validation: once a step would make the GPU wait for every step before the next is queued.
FINITE_CHECK_EVERY = 16

#: name -> ``(params, config) -> optimizer``.
OPTIMIZERS: Registry[Callable[[Iterable[nn.Parameter], "TrainConfig"], torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("sgd", lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=0.9, nesterov=True,
                                                       weight_decay=c.weight_decay))
OPTIMIZERS.register("rmsprop", lambda p, c: torch.optim.RMSprop(p, lr=c.lr, alpha=0.9, momentum=0.9, eps=1e-3,
                                                               weight_decay=c.weight_decay))
OPTIMIZERS.register("adamw", lambda p, c: torch.optim.AdamW(p, lr=c.lr, weight_decay=c.weight_decay))


@dataclass(frozen=True)
class TrainConfig:
    """A training schedule.

    Attributes:
        epochs: Passes over the training split (fractions allowed); ignored if ``steps``.
        steps: Optimizer steps; 0 uses ``epochs``.
        optimizer: ``sgd``, ``rmsprop`` or ``adamw``.
        lr: Peak learning rate.
        weight_decay: L2 / decoupled weight decay.
        label_smoothing: Label smoothing of the cross-entropy.
        warmup_steps: Linear warm-up steps before the cosine decay (0: none).
        evals: How many times to validate (evenly spaced, the last at the end); each
            result is reported for pruning.
        grad_clip: Gradient-norm clip (0: none).
        amp: Mixed precision on CUDA (:func:`autocast_dtype`: bfloat16 where supported; ignored on CPU).
        channels_last: channels_last memory format (on every device: faster on CPUs too).
        bn_batches: Before each validation, re-estimate batch-norm statistics as exact
            averages over this many training batches (0: keep the running averages). Short
            proxy runs need it: with TF's BN momentum (0.01, EfficientNet) the running
            averages are still near their initial values after a few dozen steps, and the
            validation accuracy would say nothing about the network.
    """

    epochs: float = 1.0
    steps: int = 0
    optimizer: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-5
    label_smoothing: float = 0.1
    warmup_steps: int = 0
    evals: int = 1
    grad_clip: float = 5.0
    amp: bool = True
    channels_last: bool = True
    bn_batches: int = 20

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserInputError(f"optimizer: {OPTIMIZERS.unknown_message(self.optimizer)}")
        if self.steps < 0 or self.epochs <= 0 and self.steps == 0:
            raise UserInputError(f"a schedule needs epochs > 0 or steps > 0, got epochs={self.epochs}, "
                                 f"steps={self.steps}")
        if self.lr <= 0 or not math.isfinite(self.lr):
            raise UserInputError(f"lr must be a positive number, got {self.lr!r}")
        if self.evals < 1:
            raise UserInputError(f"evals must be >= 1, got {self.evals!r}")


@dataclass
class TrainResult:
    """What a training run measured.

    Attributes:
        accuracy: Final validation accuracy in [0, 1].
        history: ``(step, validation accuracy)`` at each evaluation.
        steps: Optimizer steps taken.
        train_loss: Mean training loss over the last evaluation interval.
        images_per_s: Training throughput: images / seconds of training, the batches' preparation included and
            the validations (BN re-estimation too) excluded.
    """

    accuracy: float
    history: list[tuple[int, float]] = field(default_factory=list)
    steps: int = 0
    train_loss: float = math.nan
    images_per_s: float = 0.0


def warmup_cosine(step: int, total: int, warmup: int, peak: float) -> float:
    """Learning rate at ``step`` of ``total``: linear warm-up over ``warmup`` steps to ``peak``, then cosine
    decay to 0 (every training here, proxy, full or supernet, follows it)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, progress)))


def lr_at(step: int, total: int, config: TrainConfig) -> float:
    """Learning rate at ``step`` of ``total`` under ``config`` (:func:`warmup_cosine`)."""
    return warmup_cosine(step, total, config.warmup_steps, config.lr)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], n: int,
                   channels_last: bool = False) -> None:
    """Reset every batch norm's running statistics and set them to the exact average over ``n`` batches.

    Uses cumulative averaging (``momentum=None``) with the norms in train mode and every other
    module in eval mode, without gradients, then restores each layer's momentum. Weights are
    untouched. Dropout and drop-path stay off: the statistics are those of the network that is
    evaluated, and the same for every call (with them on, each call drew other masks).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or n <= 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    for m in model.modules():
        m.train(m in norms)
    for i, (x, _) in enumerate(batches):
        if i >= n:
            break
        model(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@torch.no_grad()
def accuracy(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
             channels_last: bool = False, pad_to: int = 0) -> float:
    """Top-1 accuracy of ``model`` (eval mode) over ``batches``.

    Args:
        pad_to: Pad a smaller batch (the last) with zero images to this many and score only its own:
            in eval mode every image is independent, and one batch shape means one set of convolution
            plans (a GPU builds them for every new shape; the proxy scores at its training batch).
    """
    model.eval()
    right: torch.Tensor | None = None  # summed where computed: the host reads it once, at the end
    seen = 0
    for x, y in batches:
        n = len(y)
        if n < pad_to:
            x = torch.cat([x, x.new_zeros((pad_to - n, *x.shape[1:]))])
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        hits = (model(x)[:n].argmax(1) == y).sum()
        right = hits if right is None else right + hits
        seen += n
    return int(right) / seen if right is not None else 0.0


def autocast_dtype(device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The mixed-precision type a training on ``device`` uses, or ``None`` for full precision.

    bfloat16 where the GPU supports it (Ampere and later): it has float32's range, so no loss
    scaling is needed and :class:`torch.amp.GradScaler` stays off, and with it the host-device
    synchronisation its ``step`` makes to look for infinite gradients. float16 (with the scaler)
    on older GPUs; none on the CPU, where autocast's bfloat16 is slower than float32 for these
    networks, even on a Xeon with AMX (``benchmarks/memory_format.py --bf16``; docs/BENCHMARKS.md).
    """
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def mixed_precision(device: torch.device, amp: bool = True
                    ) -> tuple[Callable[[], contextlib.AbstractContextManager[Any]], torch.amp.GradScaler]:
    """``(autocast, scaler)`` for a training on ``device``: a context factory in :func:`autocast_dtype`'s
    precision, and the gradient scaler only float16 needs (every loop here takes its precision this way)."""
    dtype = autocast_dtype(device, amp)
    return (lambda: torch.autocast(device.type, dtype=dtype, enabled=dtype is not None),
            torch.amp.GradScaler("cuda", enabled=dtype == torch.float16))


class RunningLoss:
    """Losses summed where they are computed, read on the host only when asked.

    A per-step read (``loss.item()``, a finiteness check) makes the host wait for the GPU's step
    before it can queue the next one; the loops here add every step and read every
    :data:`FINITE_CHECK_EVERY` steps and before a validation or checkpoint. The sum is float64,
    so the mean equals what reading every step would give.

    Args:
        device: Where the losses are.
        what: The loss's name in the error.
        hint: What the error adds after the step.
    """

    def __init__(self, device: torch.device, what: str = "loss", hint: str = "") -> None:
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.count, self.what, self.hint = 0, what, hint

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss.detach()
        self.count += 1

    def state(self) -> dict[str, float | int]:
        """The running sum and count, for a checkpoint taken inside an epoch (the host waits here)."""
        return {"loss_sum": float(self.total), "loss_count": self.count}

    def restore(self, state: dict[str, float | int]) -> None:
        """Continue from :meth:`state`'s figures."""
        self.total.fill_(float(state["loss_sum"]))
        self.count = int(state["loss_count"])

    def read(self, step: int, reset: bool = False) -> float:
        """The mean since the last reset (the host waits for the device here).

        Raises:
            FloatingPointError: if it is NaN or infinite (the run cannot continue).
        """
        mean = float(self.total) / max(1, self.count)
        if not math.isfinite(mean):
            raise FloatingPointError(f"{self.what} became {mean} by step {step}{self.hint}")
        if reset:
            self.total.zero_()
            self.count = 0
        return mean


def backward_step(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler, grad_clip: float, step: int, check_finite: bool = True) -> None:
    """One optimizer step on ``loss`` (every training here, proxy or full, takes its steps this way).

    Args:
        check_finite: Check the loss before the step. The check reads the loss on the host, which
            makes a GPU wait for the step's work; the proxy loop checks a :class:`RunningLoss` now and
            then instead.

    Raises:
        FloatingPointError: if the loss is NaN or infinite (the run cannot continue).
    """
    if check_finite and not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {loss.item()} at step {step}")
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()


def apply_stage(model: nn.Module, train_batches: Any, stage: Any, num_classes: int) -> Callable[..., Any] | None:
    """Set one progressive-learning stage (EfficientNetV2 sec. 4, Algorithm 1) on the model and data.

    ``stage`` has ``image_size``, ``dropout``, ``randaugment_magnitude`` and ``mixup_alpha``
    (a :class:`nas.training.progressive.StageSettings`). The image size goes to the training
    batches, the dropout rate to every ``nn.Dropout`` of the model, RandAugment (torchvision,
    per image, :func:`~nas.training.progressive.augmentations`) to the batches'
    augmentation; returns the batch-level MixUp (torchvision) or ``None``.

    Raises:
        UserInputError: if the batches cannot change their image size (on-disk datasets).
    """
    from nas.training.progressive import augmentations  # late: only progressive runs need it

    if not hasattr(train_batches, "resolution"):
        raise UserInputError("progressive learning needs an in-memory dataset (Fashion-MNIST, CIFAR-10)")
    train_batches.resolution = int(stage.image_size)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = float(stage.dropout)
    augment = augmentations(stage, num_classes or None)
    rand_augment = augment.image
    train_batches.augment = (lambda raw: torch.stack([rand_augment(img) for img in raw])) if rand_augment else None
    return augment.batch


def train(model: nn.Module, train_batches: Any, val_batches: Any, config: TrainConfig,
          device: torch.device | str = "cpu", report: Callable[[int, float], None] | None = None,
          stages: Sequence[Any] = (), num_classes: int = 0) -> TrainResult:
    """Train ``model`` on ``train_batches`` (re-iterated per epoch) and validate on ``val_batches``.

    Args:
        model: The network (moved to ``device``).
        train_batches: Re-iterable ``(x, y)`` batches (e.g. :class:`nas.data.Batches`).
        val_batches: Validation batches.
        config: The schedule.
        device: Where to train.
        report: Called with ``(step, validation accuracy)`` after each evaluation; it may
            raise to stop the run (pruning), and that exception propagates.
        stages: Progressive-learning stages (see :func:`apply_stage`); the run is split
            into ``len(stages)`` equal parts by steps, each trained with its stage's image
            size and regularisation. Empty: no progressive learning.
        num_classes: Classes (needed for MixUp when a stage uses it).

    Raises:
        FloatingPointError: if the loss becomes NaN or infinite.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    # channels_last on every device: a CPU training step of EfficientNet-B0 at the proxy's 28 px runs 2.7x
    # faster in it (benchmarks/memory_format.py), as much as the format gives on GPUs.
    channels_last = config.channels_last
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    per_epoch = len(train_batches)
    if per_epoch == 0:
        raise UserInputError("the training split has fewer images than one batch")
    total = config.steps or max(1, round(config.epochs * per_epoch))
    eval_at = {round(total * (i + 1) / config.evals) for i in range(config.evals)}
    optimizer = OPTIMIZERS.get(config.optimizer)(model.parameters(), config)
    autocast, scaler = mixed_precision(device, config.amp)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    result = TrainResult(accuracy=math.nan)
    losses = RunningLoss(device)
    step, busy, images, segment = 0, 0.0, 0, time.perf_counter()
    current, mixup = -1, None

    def stage_of(at: int) -> int:  # equal shares of the steps, in order
        return min(len(stages) - 1, at * len(stages) // total)

    while step < total:
        model.train()
        if stages and stage_of(step) != current:
            current = stage_of(step)
            mixup = apply_stage(model, train_batches, stages[current], num_classes)
        for x, y in train_batches:
            if stages and stage_of(step) != current:
                break  # a stage boundary mid-epoch: restart the pass with the next stage's settings
            if mixup is not None:
                x, y = mixup(x, y)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, config)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast():
                loss = loss_fn(model(x), y)
            backward_step(loss, model, optimizer, scaler, config.grad_clip, step, check_finite=False)
            losses.add(loss)
            images += len(y)
            step += 1
            if step in eval_at:
                train_loss = losses.read(step, reset=True)
                if cuda:
                    torch.cuda.synchronize(device)  # the segment's time is the device's, not the host's queueing
                busy += time.perf_counter() - segment
                # the training's precision and batch shape: a GPU reuses the convolution plans the steps made
                with autocast():
                    recalibrate_bn(model, train_batches, config.bn_batches, channels_last)
                    acc = accuracy(model, val_batches, channels_last, pad_to=len(y))
                result.history.append((step, acc))
                result.train_loss = train_loss
                if report is not None:
                    report(step, acc)
                model.train()
                segment = time.perf_counter()
            elif step % FINITE_CHECK_EVERY == 0:
                losses.read(step)
            if step >= total:
                break
    optimizer.zero_grad(set_to_none=True)
    result.accuracy = result.history[-1][1]
    result.steps = step
    result.images_per_s = images / busy if busy > 0 else 0.0
    return result
