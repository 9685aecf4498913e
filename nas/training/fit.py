"""Full training of one network under a recipe: what ``python -m nas.train`` runs.

The step itself is the proxy loop's (:func:`nas.training.loop.backward_step`); around it this
module adds what a long run needs: the recipe's parts (:mod:`nas.training.components`),
EfficientNetV2 progressive learning per epoch, validation of the weights and their EMA after
every epoch, ``metrics.csv`` and a PNG of the curves, and checkpoints
(:mod:`nas.training.checkpoint`).

A run is a pure function of its settings: every step re-seeds Python's, NumPy's and torch's
generators from ``(seed, step, rank)`` before it draws its batch's augmentation, mixing and
drop-path masks, and the data order of an epoch is the permutation of ``(seed, epoch)``. A
resumed run therefore continues to bit-identical weights (same device and threads) without
storing generator states, from a checkpoint taken at any step. Under ``torchrun`` every
process trains on its contiguous share of each global batch and DistributedDataParallel
averages the gradients; rank 0 alone writes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.data import DataConfig, loaders
from nas.training.checkpoint import read_checkpoint, save_checkpoint
from nas.training.components import build_parts, image_augment, loss_for, mixer
from nas.training.distributed import device_of, distributed
from nas.training.loop import FINITE_CHECK_EVERY, RunningLoss, accuracy, backward_step, mixed_precision
from nas.training.recipes import Recipe
from search_spaces import build
from search_spaces.codec import to_dict
from search_spaces.errors import UserInputError
from search_spaces.files import atomic_write, atomic_write_text
from search_spaces.genome import Network

__all__ = ["FitSettings", "apply_recipe", "fit"]

METRICS = "metrics.csv"
CURVES = "curves.png"
COLUMNS = ("epoch", "step", "lr", "train_loss", "val_accuracy", "val_accuracy_ema", "images_per_s", "wall_s")


@dataclass(frozen=True)
class FitSettings:
    """One training run (every field a ``python -m nas.train`` flag or the recipe).

    Attributes:
        genome: The network, with the recipe's regularisation applied (:func:`apply_recipe`).
        recipe: The recipe.
        epochs: Epochs to train.
        batch_size: Global batch size (the recipe's lr is rescaled to it).
        data: ``--data`` (``None``: Fashion-MNIST).
        resolution: Training image size.
        eval_resolution: Validation image size (0: ``resolution``).
        subset: Train on only this many images (0: all but the held-out ones).
        val_size: Held-out training images validated after every epoch (0: 10%).
        eval_split: ``val`` (held-out training images) or ``test`` (the official test split; then
            the run trains on every training image, and ``best`` is chosen on the test split, so
            report ``last``).
        seed: Seed of the initial weights, the data order and every augmentation.
        checkpoint_minutes: Also write ``last`` every this many minutes (0: only at epoch ends).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """

    genome: Network
    recipe: Recipe
    epochs: int
    batch_size: int = 128
    data: str | None = None
    resolution: int = 28
    eval_resolution: int = 0
    subset: int = 0
    val_size: int = 0
    eval_split: str = "val"
    seed: int = 0
    checkpoint_minutes: float = 10.0
    device: str = "auto"

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by these settings (everything that changes the weights)."""
        return {"genome": to_dict(self.genome), "recipe": self.recipe.to_dict(), "data": self.data_dict(),
                "epochs": self.epochs, "seed": self.seed}

    def data_dict(self) -> dict[str, Any]:
        """The data settings a checkpoint records."""
        return {"data": self.data, "resolution": self.resolution, "eval_resolution": self.eval_resolution,
                "batch_size": self.batch_size, "subset": self.subset, "val_size": self.val_size,
                "eval_split": self.eval_split}


def apply_recipe(genome: Network, recipe: Recipe, num_classes: int | None = None) -> Network:
    """``genome`` with the recipe's stochastic depth, dropout and BN momentum, and ``num_classes`` classes."""
    changes: dict[str, Any] = {}
    if recipe.drop_path is not None:
        changes["drop_path"] = recipe.drop_path
    if recipe.dropout is not None:
        changes["head"] = dataclasses.replace(genome.head, dropout=recipe.dropout)
    if recipe.bn_momentum is not None:
        changes["norm"] = dataclasses.replace(genome.norm, momentum=recipe.bn_momentum)
    if num_classes is not None:
        changes["num_classes"] = num_classes
    return dataclasses.replace(genome, **changes) if changes else genome


def _seed_everything(*parts: int) -> None:
    """Seed Python's, NumPy's and torch's generators from ``parts`` (a step's draws depend on nothing else)."""
    value = 0
    for part in parts:
        value = (value * 1_000_003 + int(part) + 1) % (2**63 - 1)
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


def _stage_plan(settings: FitSettings) -> Any:
    """The progressive-learning schedule stretched to this run's epochs and resolution, or ``None``."""
    if not settings.recipe.progressive:
        return None
    from nas.training.progressive import PRESETS

    preset = PRESETS.get(settings.recipe.progressive)
    stages = min(preset.stages, settings.epochs)
    return preset.scaled(settings.resolution, epochs=settings.epochs, stages=stages)


def _enter_stage(stage: Any, model: nn.Module, train_batches: Any, parts: Any, recipe: Recipe,
                 num_classes: int) -> None:
    """Set one progressive-learning stage (EfficientNetV2 Algorithm 1): image size, RandAugment, dropout, mixup."""
    train_batches.resolution = int(stage.image_size)
    train_batches.augment = image_augment(recipe, magnitude=stage.randaugment_magnitude)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = float(stage.dropout)
    parts.mixup = mixer(recipe, num_classes, mixup=stage.mixup_alpha)
    parts.loss = loss_for(recipe, parts.mixup is not None)


def _check_resume(meta: dict[str, Any], settings: FitSettings, out: Path) -> None:
    ours = json.loads(json.dumps(settings.identity()))  # the same plain types as the checkpoint's JSON
    diff = [key for key in ours if meta.get(key) != ours[key]]
    if diff:
        raise UserInputError(f"--resume: the checkpoint in {out} was trained with other settings ({', '.join(diff)}); "
                             "resume with the same genome, recipe, data flags, epochs and seed")


def _write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(out / METRICS, buffer.getvalue())


def _plot(out: Path, history: list[dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(epochs, [row["train_loss"] for row in history], marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title="loss")
    right.plot(epochs, [row["val_accuracy"] for row in history], marker="o", label="weights")
    if any(row["val_accuracy_ema"] != "" for row in history):
        right.plot(epochs, [row["val_accuracy_ema"] or math.nan for row in history], marker="s", label="EMA")
    right.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write(out / CURVES, lambda handle: handle.write(buffer.getvalue()))


def fit(settings: FitSettings, out: Path, *, resume: bool = False, init: Callable[[nn.Module], None] | None = None,
        stop_after: int = 0, progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``settings.genome`` into ``out``; return the summary (best accuracy, steps, wall time, ...).

    Args:
        settings: The run.
        out: Run directory (checkpoints, ``metrics.csv``, ``curves.png``).
        resume: Continue ``out/last`` (its settings must equal ``settings``).
        init: Loads starting weights into the freshly built model (``--init``); not on resume.
        stop_after: If > 0, stop after this many steps of this call, leaving a checkpoint.
        progress: Show a progress bar (rank 0).
        log: Where one-line messages go (rank 0).

    Raises:
        UserInputError: a checkpoint exists without ``resume`` or none with it, its settings
            differ, the data cannot be read or does not suit the recipe.
        FloatingPointError: the loss became NaN or infinite.
    """
    rank, world = distributed()
    device = device_of(rank, settings.device)
    out = Path(out)
    state = None
    if resume:
        if not (out / "last.safetensors").is_file():
            raise UserInputError(f"--resume: {out} holds no checkpoint to continue (last.safetensors)")
        state = read_checkpoint(out / "last.safetensors", with_state=True)
        _check_resume(state.meta, settings, out)
    elif (out / "last.safetensors").exists():
        raise UserInputError(f"{out} already holds a training checkpoint; add --resume to continue it, or choose "
                             "another --out")
    if settings.batch_size % world:
        raise UserInputError(f"the batch size {settings.batch_size} does not split evenly over {world} processes")

    recipe = settings.recipe
    data = DataConfig(source=settings.data, resolution=settings.resolution, channels=settings.genome.in_channels,
                      batch_size=settings.batch_size, val_size=settings.val_size, subset=settings.subset,
                      seed=settings.seed, eval_resolution=settings.eval_resolution, eval_split=settings.eval_split,
                      hold_out=settings.eval_split != "test")
    # the recipes' augmentations work per image on the host (PIL), so the images stay there
    train_batches, val_batches, dataset = loaders(data, device, resident=False)
    if not hasattr(train_batches, "batch"):
        raise UserInputError(f"nas.train reads in-memory datasets (fashion-mnist, cifar10); {settings.data} is an "
                             "ImageFolder directory, which it does not read yet")
    if dataset.num_classes != settings.genome.num_classes:
        raise UserInputError(f"{settings.genome.name} has {settings.genome.num_classes} classes but {dataset.name} "
                             f"has {dataset.num_classes}")
    torch.manual_seed(settings.seed)
    model = build(settings.genome)
    if state is None and init is not None:
        init(model)
    model.to(device)
    # channels_last on every device: on this 2-core CPU a training step of EfficientNet-B0 at 28 px is 2.3-2.8x
    # faster than in NCHW (oneDNN's depthwise kernels), as it is on GPUs (docs/BENCHMARKS.md)
    model.to(memory_format=torch.channels_last)
    per_epoch = len(train_batches)
    if per_epoch == 0:
        raise UserInputError(f"the training split has fewer images than one batch ({settings.batch_size})")
    total = settings.epochs * per_epoch
    parts = build_parts(model, recipe, batch_size=settings.batch_size, epochs=settings.epochs,
                        steps_per_epoch=per_epoch, num_classes=dataset.num_classes, device=device)
    # bfloat16 on GPUs that have it (no gradient scaler, whose step waits for the GPU), float16 with the scaler on
    # older ones, float32 on the CPU: the proxy loop's rule
    autocast, scaler = mixed_precision(device)
    step, history, best = 0, [], -1.0
    if state is not None:
        model.load_state_dict(state.weights)
        if parts.ema is not None:
            parts.ema.module.load_state_dict(state.ema)
        parts.optimizer.load_state_dict(state.state["optimizer"])
        parts.scheduler.load_state_dict(state.state["scheduler"])
        if state.state["scaler"]:  # empty when written without float16 (a CPU run, a bfloat16 GPU)
            scaler.load_state_dict(state.state["scaler"])
        step, history, best = int(state.meta["step"]), list(state.state["history"]), float(state.state["best"])
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
    plan = _stage_plan(settings)
    if plan is None:
        train_batches.augment = image_augment(recipe)
    meta_base = {**settings.identity(), "num_classes": dataset.num_classes, "dataset": dataset.name}

    def meta(kind_step: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**meta_base, "step": kind_step, "epoch": round(kind_step / per_epoch, 6), **(extra or {})}

    def save_last() -> None:
        if rank != 0:
            return
        payload = {"optimizer": parts.optimizer.state_dict(), "scheduler": parts.scheduler.state_dict(),
                   "scaler": scaler.state_dict(), "history": history, "best": best,
                   "epoch_so_far": {**losses.state(), "busy": busy, "images": images,
                                    "wall_s": wall_before + time.monotonic() - started}}
        save_checkpoint(out, "last", model.state_dict(), parts.ema.module.state_dict() if parts.ema else None,
                        meta(step), payload)

    if world > 1 and rank == 0:
        log(f"data parallel: {world} processes, {settings.batch_size // world} images each per step "
            f"({device.type})")
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=settings.genome.name[:24], unit="step", dynamic_ncols=True)
    started, last_save, done_here = time.monotonic(), time.monotonic(), 0
    # the losses stay on the device and are read every few steps and before every validation and checkpoint (a
    # GPU then never waits for the host inside an epoch, and NaN weights are never saved)
    losses = RunningLoss(device, "the training loss", "; lower the learning rate (--set lr=...)")
    busy, images, wall_before = 0.0, 0, 0.0
    if state is not None:  # the interrupted epoch's running figures, so its metrics row is the whole epoch's
        so_far = state.state["epoch_so_far"]
        if "losses" in so_far:  # a checkpoint written before the losses stayed on the device: one per step
            so_far = {**so_far, "loss_sum": math.fsum(so_far["losses"]), "loss_count": len(so_far["losses"])}
        losses.restore(so_far)
        busy, images = float(so_far["busy"]), int(so_far["images"])
        wall_before = float(so_far["wall_s"])
    stage = None
    while step < total:
        epoch, offset = divmod(step, per_epoch)
        if plan is not None and plan.stage_of(epoch) != stage:
            stage = plan.stage_of(epoch)
            _enter_stage(plan.settings(stage), model, train_batches, parts, recipe, dataset.num_classes)
        model.train()
        for index in range(offset, per_epoch):
            tick = time.perf_counter()
            _seed_everything(settings.seed, step, rank)
            x, y = train_batches.batch(epoch, index, (rank, world))
            if parts.erasing is not None:
                x = parts.erasing(x)
            target = y
            if parts.mixup is not None:
                x, target = parts.mixup(x, y)
            x = x.contiguous(memory_format=torch.channels_last)
            with autocast():
                loss = parts.loss(net(x), target)
            backward_step(loss, net, parts.optimizer, scaler, recipe.grad_clip, step, check_finite=False)
            step += 1
            done_here += 1
            parts.scheduler.step_update(step)
            if parts.ema is not None:
                parts.ema.update(model, step=step)
            losses.add(loss)
            busy += time.perf_counter() - tick
            images += len(y) * world
            end_of_epoch = step % per_epoch == 0
            stopping = bool(stop_after) and done_here >= stop_after
            due = settings.checkpoint_minutes > 0 and time.monotonic() - last_save >= 60 * settings.checkpoint_minutes
            saving = end_of_epoch or due or stopping  # the last step ends an epoch
            if step % FINITE_CHECK_EVERY == 0 or saving:
                # the epoch's mean so far; raises on NaN before anything is saved
                mean = losses.read(step, reset=end_of_epoch)
                if bar is not None:
                    bar.set_postfix(epoch=f"{step / per_epoch:.2f}", loss=f"{mean:.3f}",
                                    acc=f"{history[-1]['val_accuracy']:.4f}" if history else "-")
            if bar is not None:
                bar.update(1)
            if end_of_epoch:
                acc = accuracy(model, val_batches, True)
                ema_acc = accuracy(parts.ema.module, val_batches, True) if parts.ema is not None else None
                model.train()
                row = {"epoch": step // per_epoch, "step": step, "lr": parts.optimizer.param_groups[0]["lr"],
                       "train_loss": mean, "val_accuracy": acc,
                       "val_accuracy_ema": "" if ema_acc is None else ema_acc,
                       "images_per_s": images / busy if busy > 0 else 0.0,
                       "wall_s": wall_before + time.monotonic() - started}
                history.append(row)
                busy, images = 0.0, 0
                score = max(acc, ema_acc if ema_acc is not None else -1.0)
                if rank == 0:
                    log(f"epoch {row['epoch']}/{settings.epochs}: loss {row['train_loss']:.4f}, validation accuracy "
                        f"{acc:.4f}" + (f", EMA {ema_acc:.4f}" if ema_acc is not None else "")
                        + f", {row['images_per_s']:.0f} images/s")
                    if score > best:
                        best = score
                        use_ema = ema_acc is not None and ema_acc >= acc
                        weights = parts.ema.module.state_dict() if use_ema else model.state_dict()
                        save_checkpoint(out, "best", weights, None,
                                        meta(step, {"accuracy": score, "weights": "ema" if use_ema else "model"}))
                    _write_metrics(out, history)
                    _plot(out, history, f"{settings.genome.name}, recipe {recipe.name}")
            if saving:
                save_last()
                last_save = time.monotonic()
            if stopping and step < total:
                if bar is not None:
                    bar.close()
                return {"step": step, "total": total, "finished": False}
    if bar is not None:
        bar.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return {"step": step, "total": total, "finished": True, "best_accuracy": best, "history": history,
            "wall_s": history[-1]["wall_s"] if history else 0.0}
