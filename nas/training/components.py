"""A recipe's parts, built from timm's maintained implementations rather than re-written ones.

- optimizer: ``timm.optim.create_optimizer_v2`` (SGD, TF-style RMSProp, AdamW, LAMB; no weight
  decay on biases and norms, as timm and the papers' code do);
- schedule: ``timm.scheduler.create_scheduler_v2``, updated every step;
- Mixup/CutMix: ``timm.data.Mixup`` (its label smoothing too);
- RandAugment / AutoAugment: ``timm.data.auto_augment`` (TF semantics), per image, on PIL images;
- Random Erasing: ``timm.data.random_erasing.RandomErasing`` on the normalised batch;
- EMA of the weights: ``timm.utils.ModelEmaV3``;
- losses: ``timm.loss`` (``SoftTargetCrossEntropy`` for mixed targets, ``BinaryCrossEntropy``).

A recipe's schedule is defined over its paper's epochs. On a run of another length the warm-up
keeps its share of the run (ConvNeXt's 20 of 300 epochs is 1 of 15), while a step decay keeps its
interval in epochs ("0.97 every 2.4 epochs", as timm's and TF's code apply it whatever the run's
length): compressing it too would drop the learning rate to 1% of its peak in any run, and a
24-epoch run on Fashion-MNIST stalled at 0.877 that way (docs/BENCHMARKS.md). Cosine schedules
span the run (:func:`schedule_epochs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.training.recipes import Recipe
from search_spaces.errors import UserInputError

__all__ = ["Parts", "build_parts", "image_augment", "loss_for", "mixer", "schedule_epochs"]


def schedule_epochs(recipe: Recipe, epochs: int) -> tuple[float, float]:
    """``(warm-up epochs, step-decay interval)`` of ``recipe`` on a run of ``epochs``: the warm-up's share of the
    run is the recipe's, the decay interval is the recipe's."""
    return recipe.warmup_epochs * epochs / recipe.epochs, recipe.decay_epochs


def image_augment(recipe: Recipe, magnitude: float | None = None, seed_mean: int = 128
                  ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Per-image augmentation of a uint8 batch ``(N, C, H, W)``: random crop, flip and the recipe's auto-augment.

    The crop is a random-resized crop back to the image's own size over ``recipe.crop_scale`` of
    its area, the flip horizontal with probability ``recipe.hflip``. ``magnitude`` replaces the
    auto-augment string's ``m`` (progressive learning ramps it; TF scale, up to 30).
    """
    import numpy as np
    from PIL import Image
    from torchvision.transforms import v2

    from nas.training import timm_compat
    from timm.data.auto_augment import auto_augment_transform, rand_augment_transform

    timm_compat.patch()
    low, high = recipe.crop_scale
    flip = recipe.hflip
    policy = recipe.augment
    if policy and magnitude is not None:
        if not policy.startswith("rand"):
            raise UserInputError(f"recipe {recipe.name!r}: progressive learning ramps RandAugment's magnitude, so "
                                 f"augment must be a rand-... string, got {policy!r}")
        parts = [p for p in policy.split("-") if not p.startswith(("m", "mmax"))] + [f"m{magnitude:g}", "mmax30"]
        policy = "-".join(parts)
    hparams = {"img_mean": seed_mean}
    try:
        auto = (rand_augment_transform(policy, hparams) if policy.startswith("rand")
                else auto_augment_transform(policy, hparams)) if policy else None
    except (ValueError, AssertionError, KeyError) as err:
        raise UserInputError(f"recipe {recipe.name!r}: augment {policy!r} is not a timm auto-augment string "
                             f"({err})") from None
    crop = low < 1.0
    if not crop and flip == 0 and auto is None:
        return None

    crops: dict[int, v2.RandomResizedCrop] = {}
    flipper = v2.RandomHorizontalFlip(flip)

    def one(img: torch.Tensor) -> torch.Tensor:
        size = img.shape[-1]
        pil = Image.fromarray(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy())
        if crop:
            if size not in crops:
                crops[size] = v2.RandomResizedCrop(size, scale=(low, high), antialias=True)
            pil = crops[size](pil)
        if flip > 0:
            pil = flipper(pil)
        if auto is not None:
            pil = auto(pil)
        out = torch.from_numpy(np.asarray(pil).copy())
        return out.unsqueeze(0) if out.dim() == 2 else out.permute(2, 0, 1)

    return lambda raw: torch.stack([one(img) for img in raw])


@dataclass
class Parts:
    """The built parts of one training run."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss: nn.Module
    mixup: Any | None
    erasing: Any | None
    ema: Any | None


def build_parts(model: nn.Module, recipe: Recipe, *, batch_size: int, epochs: int, steps_per_epoch: int,
                num_classes: int, device: torch.device) -> Parts:
    """Optimizer, scheduler, loss, Mixup/CutMix, Random Erasing and EMA for ``model`` under ``recipe``."""
    from timm.data.random_erasing import RandomErasing
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    from timm.utils import ModelEmaV3

    kwargs: dict[str, Any] = {}
    if recipe.optimizer in ("sgd", "rmsproptf"):
        kwargs["momentum"] = recipe.momentum
    if recipe.opt_eps is not None:
        kwargs["eps"] = recipe.opt_eps
    optimizer = create_optimizer_v2(model, opt=recipe.optimizer, lr=recipe.lr_for(batch_size),
                                    weight_decay=recipe.weight_decay, **kwargs)
    warmup, decay = schedule_epochs(recipe, epochs)
    scheduler, _ = create_scheduler_v2(optimizer, sched=recipe.schedule, num_epochs=epochs, decay_epochs=decay,
                                       decay_rate=recipe.decay_rate, min_lr=recipe.min_lr,
                                       warmup_lr=recipe.warmup_lr, warmup_epochs=warmup, step_on_epochs=False,
                                       updates_per_epoch=steps_per_epoch)
    mixup = mixer(recipe, num_classes)
    mixing = mixup is not None
    if (mixing or recipe.progressive) and batch_size % 2:
        raise UserInputError(f"recipe {recipe.name!r} mixes pairs of images: the batch size must be even, "
                             f"got {batch_size}")
    erasing = (RandomErasing(recipe.random_erasing, mode="pixel", device=str(device))
               if recipe.random_erasing > 0 else None)
    # timm's EMA warm-up (decay 1 - (1 + step)^-2/3, capped at the recipe's): the papers' 0.9999 averages over
    # 10,000 steps, more than a short run takes, and would keep the EMA near the initial weights.
    ema = (ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True, device=device)
           if recipe.ema_decay > 0 else None)
    return Parts(optimizer, scheduler, loss_for(recipe, mixing), mixup, erasing, ema)


def mixer(recipe: Recipe, num_classes: int, mixup: float | None = None) -> Any | None:
    """timm's Mixup/CutMix for ``recipe`` (``mixup`` replaces its Mixup alpha), or ``None`` when both are off."""
    from timm.data import Mixup

    alpha = recipe.mixup if mixup is None else mixup
    if alpha <= 0 and recipe.cutmix <= 0:
        return None
    return Mixup(mixup_alpha=alpha, cutmix_alpha=recipe.cutmix, prob=recipe.mix_prob, switch_prob=recipe.switch_prob,
                 label_smoothing=recipe.label_smoothing, num_classes=num_classes)


def loss_for(recipe: Recipe, mixing: bool) -> nn.Module:
    """The recipe's loss: BCE, or cross-entropy on hard labels (with label smoothing) or mixed soft targets.

    Mixup's targets already carry the label smoothing, so the losses on them add none.
    """
    from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy

    if recipe.loss == "bce":
        return BinaryCrossEntropy(smoothing=0.0 if mixing else recipe.label_smoothing,
                                  target_threshold=recipe.bce_target_threshold)
    return SoftTargetCrossEntropy() if mixing else nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
