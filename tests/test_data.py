"""Real-data loading: Fashion-MNIST from the Debian package, IDX parsing, splits, resizing, channels."""

from __future__ import annotations

import dataclasses
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import DataConfig, adapt_channels, fixed_batch, loaders, open_dataset, split_indices
from nas.data.idx import read_idx
from nas.evaluators import RunContext
from search_spaces.errors import UserInputError


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture()
def tiny_fashion(tmp_path: Path) -> Path:
    """A 200-image directory in Fashion-MNIST's exact file layout (IDX, gzipped)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 50)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
    return tmp_path


def test_idx_files_round_trip(tiny_fashion: Path) -> None:
    images = read_idx(tiny_fashion / "train-images-idx3-ubyte.gz")
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8


def test_a_non_idx_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"hello world")
    with pytest.raises(UserInputError, match="x.gz: not an IDX file"):
        read_idx(bad)


def test_the_debian_package_is_the_default_source() -> None:
    dataset = open_dataset()
    assert dataset.name == "fashion-mnist" and dataset.num_classes == 10
    assert tuple(dataset.train_images.shape) == (60000, 1, 28, 28)
    assert tuple(dataset.test_images.shape) == (10000, 1, 28, 28)
    assert sorted(dataset.train_labels.unique().tolist()) == list(range(10))


def test_a_directory_is_recognised_by_its_files(tiny_fashion: Path) -> None:
    assert open_dataset(str(tiny_fashion)).train_images.shape[0] == 200


def test_missing_data_says_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="dataset-fashion-mnist"):
        open_dataset(f"fashion-mnist:{tmp_path / 'empty'}")
    with pytest.raises(UserInputError, match="neither a dataset name"):
        open_dataset(str(tmp_path / "nowhere"))


def test_split_is_fixed_by_split_seed_and_disjoint() -> None:
    train, val = split_indices(1000, 0.1, split_seed=0)
    assert len(val) == 100 and len(train) == 900
    assert not set(train.tolist()) & set(val.tolist())
    assert torch.equal(val, split_indices(1000, 0.1, split_seed=0)[1])
    assert not torch.equal(val, split_indices(1000, 0.1, split_seed=1)[1])


def test_batches_are_resized_normalised_and_channel_adapted(tiny_fashion: Path) -> None:
    config = DataConfig(source=str(tiny_fashion), resolution=32, channels=3, batch_size=16, val_size=40)
    train, val, _ = loaders(config)
    x, y = next(iter(train))
    assert tuple(x.shape) == (16, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x[:, 0], x[:, 1])  # gray repeated, not a changed architecture
    assert len(train) == 160 // 16 and sum(len(b[1]) for b in val) == 40


def test_training_order_depends_on_the_seed_only(tiny_fashion: Path) -> None:
    def first_labels(seed: int) -> torch.Tensor:
        train, _, _ = loaders(DataConfig(source=str(tiny_fashion), batch_size=32, val_size=40, seed=seed))
        return next(iter(train))[1]
    assert torch.equal(first_labels(0), first_labels(0))
    assert not torch.equal(first_labels(0), first_labels(1))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.device)])
def test_batches_kept_on_the_device_are_the_batches_copied_there(tiny_fashion: Path, device: str) -> None:
    """``resident``: the uint8 images and each pass's order live on the device; the batches are the same."""
    config = DataConfig(source=str(tiny_fashion), resolution=16, batch_size=32, val_size=40, seed=3)
    kept, copied = loaders(config, device, resident=True), loaders(config, device, resident=False)
    assert kept[0].images.device.type == device and copied[0].images.device.type == "cpu"
    for split in (0, 1):
        for _ in range(2):  # two passes: two shuffles
            pairs = list(zip(kept[split], copied[split], strict=True))
            assert pairs and all(torch.equal(xa.cpu(), xb.cpu()) and torch.equal(ya.cpu(), yb.cpu())
                                 for (xa, ya), (xb, yb) in pairs)


def test_on_a_gpu_the_data_is_resident_by_default_and_on_a_cpu_it_stays() -> None:
    config = DataConfig(resolution=16, batch_size=32, subset=64, val_size=40)
    assert loaders(config, "cpu")[0].resident is False
    if torch.cuda.is_available():
        assert loaders(config, "cuda")[0].resident is True


def test_colour_to_gray_averages() -> None:
    x = torch.arange(12.0).view(1, 3, 2, 2)
    assert torch.equal(adapt_channels(x, 1), x.mean(1, keepdim=True))


def test_fixed_batch_is_real_and_deterministic() -> None:
    x, y = fixed_batch(RunContext(seed=3), 8, 24, 3)
    x2, y2 = fixed_batch(RunContext(seed=3), 8, 24, 3)
    assert tuple(x.shape) == (8, 3, 24, 24) and torch.equal(x, x2) and torch.equal(y, y2)


@pytest.mark.parametrize(("field", "value"), [("resolution", 0), ("batch_size", -1), ("val_fraction", 1.0)])
def test_bad_settings_are_named(field: str, value: float) -> None:
    with pytest.raises(UserInputError, match=field):
        DataConfig(**{field: value})


def test_the_test_split_is_the_official_one_and_never_the_held_out_images(tiny_fashion: Path) -> None:
    config = DataConfig(source=str(tiny_fashion), resolution=16, batch_size=16, val_size=40)
    _, val, dataset = loaders(config)
    _, test, _ = loaders(DataConfig(**{**config.__dict__, "eval_split": "test"}))
    assert sum(len(y) for _, y in val) == 40 and sum(len(y) for _, y in test) == 50  # t10k holds 50
    assert torch.equal(torch.cat([y for _, y in test]), dataset.test_labels)


def test_an_unknown_eval_split_is_named() -> None:
    with pytest.raises(UserInputError, match="eval_split must be one of val, test, got 'train'"):
        DataConfig(eval_split="train")


def test_fixres_validation_runs_at_its_own_resolution(tiny_fashion: Path) -> None:
    config = DataConfig(source=str(tiny_fashion), resolution=16, eval_resolution=24, batch_size=16, val_size=40)
    train, val, _ = loaders(config)
    assert next(iter(train))[0].shape[-1] == 16 and next(iter(val))[0].shape[-1] == 24


def test_image_folders_are_read_with_per_image_transforms(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "train" / cls / f"{i}.png")
    train, val, dataset = loaders(DataConfig(source=str(tmp_path), resolution=16, eval_resolution=24, batch_size=4,
                                             val_size=4))
    assert dataset.num_classes == 2
    x, y = next(iter(train))
    assert tuple(x.shape) == (4, 3, 16, 16) and next(iter(val))[0].shape[-1] == 24


def test_an_image_folders_test_split_is_its_own_folder_and_required(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 3)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    config = DataConfig(source=str(tmp_path), resolution=16, batch_size=4, val_size=4, eval_split="test")
    _, test, _ = loaders(config)
    assert sum(len(y) for _, y in test) == 6 and next(iter(test))[0].shape[-1] == 16  # the val folder, resized
    bare = tmp_path / "bare"
    (tmp_path / "train").rename(bare)  # class folders only: nothing held out as a test split
    with pytest.raises(UserInputError, match="eval_split=test needs a test"):
        loaders(dataclasses.replace(config, source=str(bare)))
