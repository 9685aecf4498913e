"""Batches for proxy training: deterministic split, resize to the proxy resolution, channel adaptation.

In-memory datasets (Fashion-MNIST, CIFAR-10) are batched straight from uint8 tensors:
index, convert, resize (bilinear, antialiased) and normalise a whole batch at once on the
target device, which is far faster on a CPU than per-image PIL transforms. ImageFolder
datasets go through a ``torch.utils.data.DataLoader`` with torchvision transforms.

The validation split is held out of the *training* images with a fixed ``split_seed``
(not the run seed), so every candidate of a search is validated on the same images.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from nas.data.sources import Dataset, open_dataset
from search_spaces.errors import UserInputError

__all__ = ["EVAL_SPLITS", "Batches", "DataConfig", "adapt_channels", "fixed_batch", "loaders", "split_indices"]

#: What a DataConfig's second loader can read (``eval_split``).
EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True)
class DataConfig:
    """How to read and batch a dataset for one evaluation.

    Attributes:
        source: ``--data`` value (see :mod:`nas.data.sources`); ``None`` = Fashion-MNIST.
        resolution: Square input size the images are resized to.
        channels: Input channels the network expects (1 -> 3 repeats the gray channel;
            3 -> 1 averages), so an architecture never changes for the data.
        batch_size: Training batch size.
        val_fraction: Share of the training images held out for validation.
        val_size: If > 0, the number of held-out images instead (a cap for fast proxies).
        subset: If > 0, train on only this many of the remaining images.
        split_seed: Seed of the train/validation split (fixed across a search).
        seed: Seed of the training order.
        eval_batch_size: Batch size for validation.
        eval_resolution: Validation image size; 0 = ``resolution``. Larger than
            ``resolution`` is FixRes-style testing (Touvron et al. 2019: a network trained
            with random-resized crops sees objects larger at train time, so it tests better
            at a higher resolution; EfficientNetV2-S trains at up to 300 and tests at 384).
        eval_split: What the second loader reads: ``val`` (the held-out training images, for
            searching and selecting) or ``test`` (the dataset's official test split, for
            reporting a final model: never seen by a search or a selection).
        hold_out: With ``eval_split="test"``: whether the validation images are still held out
            of training (``True``, the default: every run trains on the same images) or the
            final model trains on all of them (``False``, ``nas.train --eval-split test``).
    """

    source: str | None = None
    resolution: int = 32
    channels: int = 3
    batch_size: int = 128
    val_fraction: float = 0.1
    val_size: int = 0
    subset: int = 0
    split_seed: int = 0
    seed: int = 0
    eval_batch_size: int = 256
    eval_resolution: int = 0
    eval_split: str = "val"
    hold_out: bool = True

    def __post_init__(self) -> None:
        for name in ("resolution", "channels", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserInputError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise UserInputError(f"val_fraction must be between 0 and 1, got {self.val_fraction!r}")
        for name in ("val_size", "subset", "eval_resolution"):
            if getattr(self, name) < 0:
                raise UserInputError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.eval_split not in EVAL_SPLITS:
            raise UserInputError(f"eval_split must be one of {', '.join(EVAL_SPLITS)}, got {self.eval_split!r}")
        if not self.hold_out and self.eval_split != "test":
            raise UserInputError("training on every image (hold_out=False) needs eval_split=test: there would be no "
                                 "held-out images to validate on")


def split_indices(n: int, val_fraction: float, split_seed: int, val_size: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, validation)`` indices of ``n`` examples: a seeded permutation, validation first."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    held = val_size if val_size > 0 else max(1, round(n * val_fraction))
    if held >= n:
        raise UserInputError(f"the validation split ({held} images) leaves no training images out of {n}")
    return order[held:], order[:held]


def adapt_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Make a float batch ``(N, C, H, W)`` have ``channels`` channels: repeat gray, or average colour."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1:
        return x.expand(-1, channels, -1, -1)
    if channels == 1:
        return x.mean(1, keepdim=True)
    raise UserInputError(f"cannot adapt {c}-channel images to {channels} channels")


class Batches:
    """Batches of one split of an in-memory dataset, ready for a network.

    Each pass (``iter``) yields ``(x, y)``: ``x`` float ``(B, channels, r, r)``, normalised,
    on ``device``; ``y`` int64 labels on ``device``. Shuffled passes use the permutation of
    ``seed + pass number``, so a run is reproducible and epochs differ.

    Args:
        dataset: An in-memory dataset.
        images: The split's images (uint8 ``(N, C, H, W)``).
        labels: The split's labels.
        config: Resolution, channels, batch size, seed.
        batch_size: Batch size of this split.
        shuffle: Whether to shuffle (and drop the last incomplete batch).
        device: Where batches go.
        augment: Optional per-batch transform of the uint8 images before conversion
            (e.g. torchvision's RandAugment), applied only when set; it gets them where they are
            kept (on ``device`` when ``resident``).
        resident: Keep the split's uint8 images, labels and each pass's order on ``device`` (copied
            once), so a batch is gathered there and no step waits for a host-to-device copy
            (Fashion-MNIST's 60,000 images are 47 MB). Off for augmentations that need the host
            (PIL).
    """

    def __init__(self, dataset: Dataset, images: torch.Tensor, labels: torch.Tensor, config: DataConfig,
                 batch_size: int, shuffle: bool, device: torch.device | str = "cpu",
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None, resident: bool = False) -> None:
        self.device, self.resident = torch.device(device), resident
        if resident:
            images, labels = images.to(self.device), labels.to(self.device)
        self.images, self.labels, self.config = images, labels, config
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.resolution = config.resolution  # progressive learning changes it between stages
        self._mean = torch.tensor(dataset.mean).view(1, -1, 1, 1)
        self._std = torch.tensor(dataset.std).view(1, -1, 1, 1)
        self._pass = 0

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.shuffle and n >= self.batch_size else -(-n // self.batch_size)

    def convert(self, raw: torch.Tensor) -> torch.Tensor:
        """uint8 images -> the network's float input (resize, normalise, adapt channels)."""
        x = raw.to(self.device, non_blocking=True).float().div_(255.0)
        x = (x - self._mean.to(x.device)) / self._std.to(x.device)
        r = self.resolution
        if x.shape[-2:] != (r, r):
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
        return adapt_channels(x, self.config.channels).contiguous()

    def order(self, epoch: int) -> torch.Tensor:
        """The image order of pass ``epoch``: the permutation of ``seed + epoch`` (shuffled), else as stored."""
        n = len(self.labels)
        where = self.images.device
        if not self.shuffle:
            return torch.arange(n, device=where)
        cached = getattr(self, "_order", None)
        if cached is None or cached[0] != epoch:
            gen = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)  # drawn on the host: every
            self._order = cached = (epoch, torch.randperm(n, generator=gen).to(where))  # device, the same order
        return cached[1]

    def batch(self, epoch: int, index: int, part: tuple[int, int] = (0, 1)) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``index`` of pass ``epoch``, the same whenever it is asked for (what a resumed run replays).

        Args:
            epoch: The pass.
            index: The batch within the pass.
            part: ``(rank, world)``: this process's contiguous share of the batch (data-parallel
                training splits every global batch this way).
        """
        idx = self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        rank, world = part
        if world > 1:
            share = len(idx) // world
            idx = idx[rank * share:(rank + 1) * share]
        raw = self.images[idx]
        if self.augment is not None:
            raw = self.augment(raw)
        return self.convert(raw), self.labels[idx].to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self._pass
        self._pass += 1
        for i in range(len(self)):
            yield self.batch(epoch, i)


def loaders(config: DataConfig, device: torch.device | str = "cpu",
            augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
            resident: bool | None = None) -> tuple[Any, Any, Dataset]:
    """``(train batches, validation batches, dataset)`` for ``config``.

    Args:
        config: What to read and how to batch it.
        device: Where batches go.
        augment: Per-batch transform of the training images (see :class:`Batches`).
        resident: Keep an in-memory dataset's splits on ``device`` (:class:`Batches`); ``None``: on a GPU yes.

    Raises:
        UserInputError: if the data cannot be found or the split is impossible.
    """
    dataset = open_dataset(config.source)
    if not dataset.in_memory:
        return _folder_loaders(dataset, config, device)
    train_idx, val_idx = split_indices(len(dataset.train_labels), config.val_fraction, config.split_seed,
                                       config.val_size)
    if not config.hold_out:
        train_idx = torch.cat([train_idx, val_idx])  # a final model: every training image, test split validates
    if config.subset:
        train_idx = train_idx[:config.subset]
    images, labels = dataset.train_images, dataset.train_labels
    if resident is None:
        resident = torch.device(device).type == "cuda"
    train = Batches(dataset, images[train_idx], labels[train_idx], config, config.batch_size, True, device, augment,
                    resident)
    eval_config = dataclasses.replace(config, resolution=config.eval_resolution or config.resolution)
    if config.eval_split == "test":
        eval_images, eval_labels = dataset.test_images, dataset.test_labels
    else:
        eval_images, eval_labels = images[val_idx], labels[val_idx]
    val = Batches(dataset, eval_images, eval_labels, eval_config, config.eval_batch_size, False, device,
                  resident=resident)
    return train, val, dataset


def _folder_loaders(dataset: Dataset, config: DataConfig, device: torch.device | str) -> tuple[Any, Any, Dataset]:
    """DataLoaders over an ImageFolder dataset (resize + centre crop, per image)."""
    from torchvision.transforms import v2  # late: only this route needs it

    def transform(r: int) -> Any:
        return v2.Compose([v2.Resize(r, antialias=True), v2.CenterCrop(r), v2.ToImage(),
                           v2.ToDtype(torch.float32, scale=True), v2.Normalize(dataset.mean, dataset.std)])

    base = copy.copy(dataset.folder_train)  # own transform; the cached dataset stays untouched
    base.transform = transform(config.resolution)  # type: ignore[attr-defined]
    val_base = copy.copy(base)
    val_base.transform = transform(config.eval_resolution or config.resolution)  # type: ignore[attr-defined]
    train_idx, val_idx = split_indices(len(base), config.val_fraction, config.split_seed, config.val_size)  # type: ignore[arg-type]
    if config.subset:
        train_idx = train_idx[:config.subset]
    gen = torch.Generator().manual_seed(config.seed)
    subset = torch.utils.data.Subset
    train = torch.utils.data.DataLoader(subset(base, train_idx.tolist()), config.batch_size, shuffle=True,  # type: ignore[arg-type]
                                        generator=gen, drop_last=True)
    if config.eval_split == "test":
        if dataset.folder_test is None:
            raise UserInputError(f"eval_split=test needs a test (or val) folder beside the training images of "
                                 f"{config.source}")
        test = copy.copy(dataset.folder_test)  # own transform, as above
        test.transform = val_base.transform  # type: ignore[attr-defined]
        val = torch.utils.data.DataLoader(test, config.eval_batch_size)  # type: ignore[arg-type]
    else:
        val = torch.utils.data.DataLoader(subset(val_base, val_idx.tolist()), config.eval_batch_size)  # type: ignore[arg-type]
    return _OnDevice(train, device, config.channels), _OnDevice(val, device, config.channels), dataset


class _OnDevice:
    """A DataLoader whose batches are moved to ``device`` with adapted channels."""

    def __init__(self, loader: Any, device: torch.device | str, channels: int) -> None:
        self.loader, self.device, self.channels = loader, torch.device(device), channels

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield adapt_channels(x.to(self.device), self.channels), y.to(self.device)


def fixed_batch(ctx: Any, n: int, resolution: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic batch of ``n`` real training images for training-free evaluators.

    Args:
        ctx: A :class:`~nas.evaluators.RunContext` (its ``data`` and ``seed`` are used).
        n: Batch size.
        resolution: Image size.
        channels: Channels the network expects.

    Returns:
        ``(x, y)`` on the CPU: float images as :class:`Batches` prepares them, int64 labels.
    """
    config = DataConfig(source=ctx.data, resolution=resolution, channels=channels, batch_size=n, seed=ctx.seed)
    train, _, _ = loaders(config)
    if isinstance(train, Batches):
        gen = torch.Generator().manual_seed(ctx.seed)
        idx = torch.randperm(len(train.labels), generator=gen)[:n]
        return train.convert(train.images[idx]), train.labels[idx].clone()
    x, y = next(iter(train))
    return x[:n], y[:n]
