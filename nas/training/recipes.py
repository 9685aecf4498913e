"""Training recipes as data: the published schedules of EfficientNet, EfficientNetV2, ResNet strikes back and ConvNeXt.

A recipe is a YAML file (``nas/training/recipes/NAME.yaml`` for the built-in ones, or a user's
own path) whose keys are the fields of :class:`Recipe`; its ``provenance`` names the paper and
table each value comes from. Values are the paper's, at the paper's batch size; the learning
rate is rescaled to the batch a run actually uses (``lr_scale``: linear, or square root for
LAMB as timm does), and ``epochs`` is what the paper trained on ImageNet (a run's ``--epochs``
overrides it). The components are the field's maintained ones, built in
:mod:`nas.training.components` from timm.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from search_spaces.errors import UserInputError, first_line

__all__ = ["LOSSES", "OPTIMIZERS", "RECIPE_DIR", "SCHEDULES", "Recipe", "load_recipe", "recipe_names"]

RECIPE_DIR = Path(__file__).with_name("recipes")
OPTIMIZERS = ("sgd", "rmsproptf", "adamw", "lamb")  #: timm optimizer names a recipe may use
SCHEDULES = ("cosine", "step")  #: timm scheduler names (step: multiply by ``decay_rate`` every ``decay_epochs``)
LOSSES = ("ce", "bce")  #: softmax cross-entropy, or per-class binary cross-entropy (RSB sec. 2.2)


@dataclass(frozen=True)
class Recipe:
    """A training recipe (every field may appear in its YAML file).

    Attributes:
        name: The recipe's name.
        provenance: Paper and table the values come from.
        epochs: Epochs of the published schedule (a run may override).
        batch_size: The paper's global batch size, to which ``lr`` belongs.
        optimizer: timm optimizer name (:data:`OPTIMIZERS`).
        lr: Peak learning rate at ``batch_size``.
        lr_scale: ``linear`` or ``sqrt``: how ``lr`` follows a different batch size.
        weight_decay: Weight decay (decoupled for AdamW/LAMB, L2 otherwise).
        momentum: Momentum of SGD and RMSProp.
        opt_eps: Epsilon of RMSProp/Adam-style optimizers.
        schedule: ``cosine`` or ``step`` (:data:`SCHEDULES`).
        decay_epochs: Step schedule: epochs between decays.
        decay_rate: Step schedule: factor per decay.
        warmup_epochs: Linear warm-up epochs from ``warmup_lr``.
        warmup_lr: Learning rate at the start of the warm-up.
        min_lr: Floor of the cosine schedule.
        loss: ``ce`` or ``bce`` (:data:`LOSSES`).
        label_smoothing: Label smoothing (of mixup's targets too).
        bce_target_threshold: BCE only: targets above it become 1 (RSB), ``None`` keeps soft targets.
        augment: timm auto-augment string (``rand-m9-mstd0.5-inc1``: RandAugment with TF semantics;
            ``original``: AutoAugment's ImageNet policy) or empty for none.
        mixup: Mixup alpha (0: none).
        cutmix: CutMix alpha (0: none).
        mix_prob: Probability that a batch is mixed at all.
        switch_prob: Probability of CutMix rather than Mixup when both are on.
        random_erasing: Random Erasing probability (0: none).
        drop_path: Stochastic-depth rate set on the genome (``None``: keep the genome's).
        dropout: Classifier dropout set on the genome (``None``: keep the genome's).
        ema_decay: Weight EMA decay (0: no EMA).
        grad_clip: Gradient-norm clip (0: none).
        progressive: EfficientNetV2 progressive-learning preset (``nas.training.progressive``)
            or empty; its image sizes are rescaled to the run's resolution.
        bn_momentum: BatchNorm momentum in PyTorch's convention (TF's 0.99 decay is 0.01);
            ``None`` keeps the genome's.
        crop_scale: Area range of the random-resized crop (Szegedy et al. 2015; the papers'
            ImageNet crop is 0.08-1); ``[1, 1]`` turns the crop off.
        hflip: Probability of a horizontal flip.
    """

    name: str
    provenance: str
    epochs: float
    batch_size: int
    optimizer: str
    lr: float
    lr_scale: str = "linear"
    weight_decay: float = 0.0
    momentum: float = 0.9
    opt_eps: float | None = None
    schedule: str = "cosine"
    decay_epochs: float = 0.0
    decay_rate: float = 1.0
    warmup_epochs: float = 0.0
    warmup_lr: float = 1e-6
    min_lr: float = 0.0
    loss: str = "ce"
    label_smoothing: float = 0.0
    bce_target_threshold: float | None = None
    augment: str = ""
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5
    random_erasing: float = 0.0
    drop_path: float | None = None
    dropout: float | None = None
    ema_decay: float = 0.0
    grad_clip: float = 0.0
    progressive: str = ""
    bn_momentum: float | None = None
    crop_scale: tuple[float, float] = (0.08, 1.0)
    hflip: float = 0.5

    def __post_init__(self) -> None:
        where = f"recipe {self.name!r}"
        for name, allowed in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("loss", LOSSES),
                              ("lr_scale", ("linear", "sqrt"))):
            if getattr(self, name) not in allowed:
                raise UserInputError(f"{where}: {name} must be one of {', '.join(allowed)}, "
                                     f"got {getattr(self, name)!r}")
        positive = ("epochs", "lr")
        unit = ("label_smoothing", "mix_prob", "switch_prob", "random_erasing", "ema_decay", "hflip")
        for name in positive:
            if not _number(getattr(self, name)) or getattr(self, name) <= 0:
                raise UserInputError(f"{where}: {name} must be a positive number, got {getattr(self, name)!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UserInputError(f"{where}: batch_size must be a positive integer, got {self.batch_size!r}")
        for name in ("weight_decay", "warmup_epochs", "warmup_lr", "min_lr", "mixup", "cutmix", "grad_clip",
                     "decay_epochs", "decay_rate", "momentum"):
            if not _number(getattr(self, name)) or getattr(self, name) < 0:
                raise UserInputError(f"{where}: {name} must be a number >= 0, got {getattr(self, name)!r}")
        for name in unit:
            if not _number(getattr(self, name)) or not 0 <= getattr(self, name) <= 1:
                raise UserInputError(f"{where}: {name} must be a number from 0 to 1, got {getattr(self, name)!r}")
        for name in ("drop_path", "dropout", "bce_target_threshold", "bn_momentum"):
            value = getattr(self, name)
            if value is not None and (not _number(value) or not 0 <= value < 1):
                raise UserInputError(f"{where}: {name} must be a number in [0, 1) or absent, got {value!r}")
        crop = self.crop_scale
        if (not isinstance(crop, list | tuple) or len(crop) != 2 or not all(_number(v) for v in crop)
                or not 0 < crop[0] <= crop[1] <= 1):
            raise UserInputError(f"{where}: crop_scale must be two numbers 0 < low <= high <= 1, got {crop!r}")
        object.__setattr__(self, "crop_scale", (float(crop[0]), float(crop[1])))
        if self.schedule == "step" and (self.decay_epochs <= 0 or not 0 < self.decay_rate <= 1):
            raise UserInputError(f"{where}: the step schedule needs decay_epochs > 0 and 0 < decay_rate <= 1")
        if self.progressive:
            from nas.training.progressive import PRESETS

            if self.progressive not in PRESETS:
                raise UserInputError(f"{where}: progressive: {PRESETS.unknown_message(self.progressive)}")

    def lr_for(self, batch_size: int) -> float:
        """Peak learning rate for a global batch of ``batch_size`` (Goyal et al. 2017's linear rule, or sqrt)."""
        ratio = batch_size / self.batch_size
        return self.lr * (ratio if self.lr_scale == "linear" else math.sqrt(ratio))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what a checkpoint records)."""
        data = dataclasses.asdict(self)
        data["crop_scale"] = list(self.crop_scale)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "recipe") -> Recipe:
        """A recipe from plain data; unknown keys are one sentence naming them and the known ones."""
        if not isinstance(data, dict):
            raise UserInputError(f"{where}: a recipe is a mapping of fields, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserInputError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}; a recipe has "
                                 f"{', '.join(sorted(known))}")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.name not in data]
        if missing:
            raise UserInputError(f"{where}: missing field(s) {', '.join(missing)}")
        return cls(**data)


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def recipe_names() -> list[str]:
    """Names of the built-in recipes."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str | os.PathLike[str]) -> Recipe:
    """A built-in recipe by name, or a user's recipe YAML file.

    Raises:
        UserInputError: unknown name, unreadable file, or invalid fields (one sentence).
    """
    text = str(name_or_path)
    path = RECIPE_DIR / f"{text}.yaml"
    if not path.is_file():
        path = Path(text)
        if not (text.endswith((".yaml", ".yml")) or path.is_file()):
            import difflib

            close = difflib.get_close_matches(text, recipe_names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserInputError(f"unknown recipe {text!r} (built in: {', '.join(recipe_names())}; or a YAML "
                                 f"file){hint}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"recipe file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UserInputError(f"cannot read the recipe {path}: {type(err).__name__}: "
                             f"{first_line(err)}") from None
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return Recipe.from_dict(data, where=f"recipe {path}")
