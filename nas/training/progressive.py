"""EfficientNetV2 progressive learning: image size and regularisation ramped over K stages.

Tan & Le, "EfficientNetV2: Smaller Models and Faster Training", ICML 2021, sec. 4.2,
Algorithm 1: training is split into ``M`` stages; stage ``i`` trains ``N / M`` steps with
image size ``S_i`` and each regularisation ``phi_i^k = phi_0^k + (phi_e^k - phi_0^k) * i / (M - 1)``
(linear from the minimum to the maximum). The regularisations are dropout, RandAugment
magnitude and mixup alpha; Table 6 gives the ImageNet minimum and maximum of each for
V2-S/M/L, and sec. 5.1 trains 350 epochs in four stages ("about 87 epochs per stage").

What the official code (google/automl, ``efficientnetv2/main.py`` and ``main_tf2.py``)
does differently, and what we follow:

- Image size: ``int(ibase + (train_size - ibase) * (i + 1) / M)`` with ``ibase = 128``
  (``hparams.py``: ``data.ibase``), so the first stage is *already one step up* from 128
  and the last is the final train size: S 171, 214, 257, 300; M and L 192, 256, 320, 384.
  This is rule ``"official"`` (the presets' default); Algorithm 1's endpoint-inclusive
  ramp, rounded to the nearest pixel, is rule ``"paper"`` (128, 185, 243, 300 for S).
- Final train size: the code trains M and L at 384 (``effnetv2_configs.py``) where Table 6
  prints 380; the presets use 384 so the official sequence is reproduced.
- Regularisation: the code ramps RandAugment and mixup with ``np.linspace(min, max, M)``,
  i.e. Algorithm 1, but uses its own maxima (S: magnitude 10, mixup 0; M: 15, 0.2;
  L: 20, 0.5) and keeps dropout constant (it computes a dropout ramp and deletes it). The
  presets take every minimum and maximum from Table 6 and ramp dropout as the paper says.
- Stage epochs: stage ``i`` spans epochs ``[int(i / M * E), int((i + 1) / M * E))``
  (``main_tf2.py``), 87, 88, 87, 88 of 350.
- Evaluation: the code tests at a larger size than it trains (S 300 -> 384, M/L 384 -> 480),
  FixRes-style; :func:`fixres_resolution` is that rule.

Everything here is pure arithmetic on frozen data except :func:`augmentations`, which
builds torchvision transforms (imported lazily, so this module stays light).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search_spaces.errors import UserInputError
from search_spaces.registry import Registry

if TYPE_CHECKING:
    from torchvision.transforms import v2

__all__ = ["PRESETS", "SIZE_RULES", "ProgressiveSchedule", "StageAugmentations", "StageSettings", "augmentations",
           "fixres_resolution"]

#: Largest RandAugment magnitude torchvision's default 31 magnitude bins accept.
MAX_RANDAUGMENT_MAGNITUDE = 30


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _official_size(lo: int, hi: int, stage: int, stages: int) -> int:
    """automl ``efficientnetv2/main.py``: ``int(ibase + (size - ibase) * (stage + 1) / stages)``."""
    ratio = float(stage + 1) / float(stages)  # same float arithmetic as the official code
    return int(lo + (hi - lo) * ratio)


def _paper_size(lo: int, hi: int, stage: int, stages: int) -> int:
    """Algorithm 1: ``S_i = S_0 + (S_e - S_0) * i / (M - 1)``, rounded half up (one stage: ``S_e``)."""
    if stage == stages - 1:
        return hi
    return _round_half_up(lo + (hi - lo) * stage / (stages - 1))


#: name -> ``(min size, max size, stage, stages) -> image size`` (ramp and rounding together).
SIZE_RULES: Registry[Callable[[int, int, int, int], int]] = Registry("image-size rule")
SIZE_RULES.register("official", _official_size)
SIZE_RULES.register("paper", _paper_size)


def _ramp(lo: float, hi: float, stage: int, stages: int) -> float:
    """Algorithm 1's ``phi_i = phi_0 + (phi_e - phi_0) * i / (M - 1)``; the endpoints are exact, as in ``np.linspace``.

    A single stage trains with the final values (there is nothing to ramp).
    """
    if stage == stages - 1:
        return hi
    if stage == 0:
        return lo
    return lo + (hi - lo) * stage / (stages - 1)


def fixres_resolution(train_res: int, ratio: float = 1.25, divisor: int = 1) -> int:
    """Test resolution for a network trained at ``train_res`` (FixRes, Touvron et al. 2019).

    FixRes ("Fixing the train-test resolution discrepancy", NeurIPS 2019, sec. 3): random
    resized crops at train time make objects look larger than a centre crop at the same
    resolution does at test time, so a network tests better at a *larger* resolution than
    it was trained at. Rule: ``divisor * round_half_up(train_res * ratio / divisor)``.

    The EfficientNetV2 code's train/eval sizes (``effnetv2_configs.py``) are this rule with
    ``ratio`` = 384 / 300 = 1.28 for S and 480 / 384 = 1.25 for M and L; its EfficientNet
    configs train at 80% of the eval size (``train.isize=0.8``), i.e. ``ratio`` 1.25, the default.

    Args:
        train_res: Final training image size.
        ratio: Test / train size, >= 1.
        divisor: Round to a multiple of this (1: nearest pixel).

    Raises:
        UserInputError: for a non-positive size or divisor, or ``ratio < 1``.
    """
    if train_res < 1:
        raise UserInputError(f"train_res must be a positive image size, got {train_res!r}")
    if not ratio >= 1.0 or not math.isfinite(ratio):
        raise UserInputError(f"FixRes ratio must be a finite number >= 1 (test at a larger size), got {ratio!r}")
    if divisor < 1:
        raise UserInputError(f"divisor must be >= 1, got {divisor!r}")
    return divisor * _round_half_up(train_res * ratio / divisor)


@dataclass(frozen=True)
class StageSettings:
    """What one progressive-learning stage trains with (the attributes the training loop's ``apply_stage`` reads).

    Attributes:
        image_size: Training image size (square).
        dropout: Dropout rate of the classifier.
        randaugment_magnitude: RandAugment magnitude (the ramp's exact value; torchvision
            needs an integer, :func:`augmentations` rounds it).
        mixup_alpha: Mixup's Beta(alpha, alpha) parameter; 0 disables mixup.
        epochs: Epochs this stage trains.
    """

    image_size: int
    dropout: float
    randaugment_magnitude: float
    mixup_alpha: float
    epochs: int


@dataclass(frozen=True)
class ProgressiveSchedule:
    """A progressive-learning schedule (EfficientNetV2 sec. 4.2, Algorithm 1, Table 6).

    Every value ramps from its minimum at the first stage to its maximum at the last; image
    sizes follow ``size_rule`` (see :data:`SIZE_RULES` and the module docstring).

    Attributes:
        stages: Number of stages ``M`` (K).
        epochs: Total training epochs, split into stages as the official code does.
        min_image_size: ``S_0``, the smallest training image size.
        max_image_size: ``S_e``, the final training image size.
        min_dropout: Dropout rate at the first stage.
        max_dropout: Dropout rate at the last stage.
        min_randaugment: RandAugment magnitude at the first stage (torchvision scale 0..30).
        max_randaugment: RandAugment magnitude at the last stage.
        min_mixup: Mixup alpha at the first stage.
        max_mixup: Mixup alpha at the last stage.
        size_rule: ``official`` (automl code) or ``paper`` (Algorithm 1, endpoints included).
        fixres_ratio: Test size / final train size (:func:`fixres_resolution`).
    """

    stages: int = 4
    epochs: int = 350
    min_image_size: int = 128
    max_image_size: int = 300
    min_dropout: float = 0.1
    max_dropout: float = 0.3
    min_randaugment: float = 5.0
    max_randaugment: float = 15.0
    min_mixup: float = 0.0
    max_mixup: float = 0.0
    size_rule: str = "official"
    fixres_ratio: float = 1.25

    def __post_init__(self) -> None:
        if not isinstance(self.stages, int) or self.stages < 1:
            raise UserInputError(f"stages must be an integer >= 1, got {self.stages!r}")
        if not isinstance(self.epochs, int) or self.epochs < self.stages:
            raise UserInputError(f"epochs must be an integer >= stages ({self.stages}) so every stage trains, "
                                 f"got {self.epochs!r}")
        if not 1 <= self.min_image_size <= self.max_image_size:
            raise UserInputError(f"image sizes must satisfy 1 <= min_image_size <= max_image_size, "
                                 f"got {self.min_image_size!r} and {self.max_image_size!r}")
        self._check_range("dropout", self.min_dropout, self.max_dropout, 1.0, upper_open=True)
        self._check_range("randaugment", self.min_randaugment, self.max_randaugment, MAX_RANDAUGMENT_MAGNITUDE)
        self._check_range("mixup", self.min_mixup, self.max_mixup, math.inf)
        if self.size_rule not in SIZE_RULES:
            raise UserInputError(f"size_rule: {SIZE_RULES.unknown_message(self.size_rule)}")
        fixres_resolution(self.max_image_size, self.fixres_ratio)  # validates the ratio

    def _check_range(self, name: str, lo: float, hi: float, limit: float, upper_open: bool = False) -> None:
        below = hi < limit if upper_open else hi <= limit
        if not (0.0 <= lo <= hi and below):
            bound = f"< {limit:g}" if upper_open else f"<= {limit:g}"
            raise UserInputError(f"{name} must satisfy 0 <= min_{name} <= max_{name} {bound}, got {lo!r} and {hi!r}")

    @classmethod
    def preset(cls, name: str) -> ProgressiveSchedule:
        """The ImageNet schedule of ``efficientnetv2_s``, ``efficientnetv2_m`` or ``efficientnetv2_l``."""
        return PRESETS.get(name)

    def scaled(self, max_image_size: int, *, min_image_size: int | None = None, epochs: int | None = None,
               stages: int | None = None) -> ProgressiveSchedule:
        """This schedule for a proxy task: image sizes scaled to ``max_image_size``, regularisation kept.

        The minimum size scales by the same factor (rounded half up, at least 1) unless
        given; RandAugment's magnitudes are relative to the image size in torchvision, so
        they carry over unchanged. E.g. ``preset("efficientnetv2_s").scaled(32, epochs=8)``
        for Fashion-MNIST: sizes 18, 23, 27, 32 over 2 epochs each.
        """
        if min_image_size is None:
            min_image_size = max(1, _round_half_up(self.min_image_size * max_image_size / self.max_image_size))
        return dataclasses.replace(self, max_image_size=max_image_size, min_image_size=min_image_size,
                                   epochs=self.epochs if epochs is None else epochs,
                                   stages=self.stages if stages is None else stages)

    def stage_start(self, stage: int) -> int:
        """First epoch of ``stage`` (``stages`` gives ``epochs``): ``int(stage / M * E)``, as in ``main_tf2.py``."""
        if not 0 <= stage <= self.stages:
            raise UserInputError(f"stage must be in 0..{self.stages}, got {stage!r}")
        return int(float(stage) / float(self.stages) * self.epochs)

    def stage_of(self, epoch: float) -> int:
        """The stage that trains 0-based ``epoch`` (a fractional epoch is progress within it)."""
        if not 0 <= epoch < self.epochs:
            raise UserInputError(f"epoch must be in [0, {self.epochs}), got {epoch!r}")
        return max(i for i in range(self.stages) if self.stage_start(i) <= epoch)

    def settings(self, stage: int) -> StageSettings:
        """Image size, regularisation and length of ``stage`` (0-based)."""
        if not isinstance(stage, int) or not 0 <= stage < self.stages:
            raise UserInputError(f"stage must be an integer in 0..{self.stages - 1}, got {stage!r}")
        k = self.stages
        return StageSettings(
            image_size=SIZE_RULES.get(self.size_rule)(self.min_image_size, self.max_image_size, stage, k),
            dropout=_ramp(self.min_dropout, self.max_dropout, stage, k),
            randaugment_magnitude=_ramp(self.min_randaugment, self.max_randaugment, stage, k),
            mixup_alpha=_ramp(self.min_mixup, self.max_mixup, stage, k),
            epochs=self.stage_start(stage + 1) - self.stage_start(stage))

    def plan(self) -> tuple[StageSettings, ...]:
        """Every stage's settings, in order (what ``nas.training.loop.train(stages=...)`` takes)."""
        return tuple(self.settings(i) for i in range(self.stages))

    @property
    def eval_image_size(self) -> int:
        """FixRes test size: :func:`fixres_resolution` of the final train size with ``fixres_ratio``."""
        return fixres_resolution(self.max_image_size, self.fixres_ratio)


#: EfficientNetV2 presets, one line each: Table 6's minima/maxima, the official code's final
#: train size (M/L 384, Table 6: 380) and test/train size ratio (S 384/300, M/L 480/384).
PRESETS: Registry[ProgressiveSchedule] = Registry("progressive-learning preset")
PRESETS.register("efficientnetv2_s", ProgressiveSchedule(
    max_image_size=300, min_dropout=0.1, max_dropout=0.3, min_randaugment=5.0, max_randaugment=15.0,
    min_mixup=0.0, max_mixup=0.0, fixres_ratio=384 / 300))
PRESETS.register("efficientnetv2_m", ProgressiveSchedule(
    max_image_size=384, min_dropout=0.1, max_dropout=0.4, min_randaugment=5.0, max_randaugment=20.0,
    min_mixup=0.0, max_mixup=0.2, fixres_ratio=480 / 384))
PRESETS.register("efficientnetv2_l", ProgressiveSchedule(
    max_image_size=384, min_dropout=0.1, max_dropout=0.5, min_randaugment=5.0, max_randaugment=25.0,
    min_mixup=0.0, max_mixup=0.4, fixres_ratio=480 / 384))


@dataclass(frozen=True)
class StageAugmentations:
    """A stage's data regularisation, torchvision transforms or ``None`` when off.

    Attributes:
        image: Per-image RandAugment (``v2.RandAugment``), applied before batching.
        batch: Batch-level mixup (``v2.MixUp``), applied to ``(images, labels)`` batches.
    """

    image: v2.RandAugment | None
    batch: v2.MixUp | None


def augmentations(settings: StageSettings | Any, num_classes: int | None = None) -> StageAugmentations:
    """torchvision transforms for one stage's RandAugment magnitude and mixup alpha.

    RandAugment (Cubuk et al. 2020) uses 2 ops per image (the official code's
    ``ra_num_layers``) at ``round(randaugment_magnitude)`` on torchvision's 31-bin scale;
    magnitude 0 means no RandAugment, as in the training loop. Mixup (Zhang et al. 2018)
    is ``v2.MixUp(alpha)`` when alpha > 0, else ``None``.

    Note the scales differ: TF's RandAugment (official code) reads a magnitude ``m`` as
    ``m / 10`` of each op's range, torchvision as ``m / 30``, so the same number is a
    milder augmentation here.

    Args:
        settings: A stage (anything with ``randaugment_magnitude`` and ``mixup_alpha``).
        num_classes: Classes, for mixup's one-hot labels (``None``: labels already one-hot).
    """
    from torchvision.transforms import v2  # late: the schedule itself needs no torchvision

    magnitude = _round_half_up(float(settings.randaugment_magnitude))
    if not 0 <= magnitude <= MAX_RANDAUGMENT_MAGNITUDE:
        raise UserInputError(f"randaugment_magnitude must be in 0..{MAX_RANDAUGMENT_MAGNITUDE}, "
                             f"got {settings.randaugment_magnitude!r}")
    alpha = float(settings.mixup_alpha)
    if not alpha >= 0.0:
        raise UserInputError(f"mixup_alpha must be >= 0, got {settings.mixup_alpha!r}")
    return StageAugmentations(
        image=v2.RandAugment(num_ops=2, magnitude=magnitude) if magnitude > 0 else None,
        batch=v2.MixUp(alpha=alpha, num_classes=num_classes) if alpha > 0 else None)
