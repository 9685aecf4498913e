"""Where datasets come from: the ``--data`` argument resolved to images and labels.

``--data`` is a dataset name (``fashion-mnist``, ``cifar10``), a name with a directory
(``cifar10:/data/cifar``), ``fashion-mnist:download`` (torchvision's downloader, for
machines with internet), or a directory whose contents say what it is (IDX files ->
Fashion-MNIST format; ``cifar-10-batches-py`` or ``data_batch_1`` -> CIFAR-10; class
sub-directories of images, optionally under ``train/`` and ``val/`` -> ImageFolder).
Without ``--data``, Fashion-MNIST is looked up where the Debian package
``dataset-fashion-mnist`` installs it.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.idx import read_idx
from nas.data.pickles import load_restricted
from search_spaces.files import check_path
from search_spaces.errors import UserInputError
from search_spaces.registry import Registry

__all__ = ["DEFAULT_SOURCE", "FASHION_MNIST_DIRS", "SOURCES", "Dataset", "open_dataset"]

DEFAULT_SOURCE = "fashion-mnist"
#: Searched in order for Fashion-MNIST's IDX files when no directory is given.
FASHION_MNIST_DIRS = (
    Path("/usr/share/datasets/fashion-mnist"),  # Debian package dataset-fashion-mnist
    Path.home() / ".cache" / "nas" / "FashionMNIST" / "raw",  # torchvision's downloader, below
)
_FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                  "t10k-labels-idx1-ubyte")
_HOW_TO_GET = ("install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
               "pass --data DIR with its four IDX files, or on a machine with internet pass "
               "--data fashion-mnist:download")


@dataclass
class Dataset:
    """A dataset's images and labels.

    In-memory datasets (Fashion-MNIST, CIFAR-10) hold uint8 ``(N, C, H, W)`` tensors;
    ImageFolder datasets hold torchvision datasets read lazily from disk.

    Attributes:
        name: Dataset name.
        num_classes: Number of classes.
        mean: Per-channel mean of the training images in [0, 1].
        std: Per-channel standard deviation.
        train_images: Training images (uint8 tensor), or ``None`` for on-disk datasets.
        train_labels: Training labels (int64 tensor).
        test_images: Test images (the official test split).
        test_labels: Test labels.
        folder_train: On-disk training dataset (ImageFolder), else ``None``.
        folder_test: On-disk test / validation dataset, else ``None``.
    """

    name: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_images: torch.Tensor | None = None
    train_labels: torch.Tensor | None = None
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    folder_train: object | None = None
    folder_test: object | None = None

    @property
    def in_memory(self) -> bool:
        """Whether images are uint8 tensors in memory."""
        return self.train_images is not None

    @property
    def channels(self) -> int:
        """Image channels of the stored data (1 for Fashion-MNIST)."""
        return int(self.train_images.shape[1]) if self.train_images is not None else 3


def _idx_file(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _has_idx(directory: Path) -> bool:
    return all(_idx_file(directory, f) for f in _FASHION_FILES)


def _fashion_mnist(directory: Path | None) -> Dataset:
    if directory is None:
        env = os.environ.get("NAS_FASHION_MNIST")
        candidates = ([Path(env)] if env else []) + list(FASHION_MNIST_DIRS)
        directory = next((d for d in candidates if _has_idx(d)), None)
        if directory is None:
            searched = ", ".join(str(d) for d in candidates)
            raise UserInputError(f"no Fashion-MNIST found (searched {searched}); {_HOW_TO_GET}")
    elif not _has_idx(directory):
        raise UserInputError(f"{directory}: no Fashion-MNIST IDX files ({', '.join(_FASHION_FILES)}, optionally "
                             f".gz) in this directory; {_HOW_TO_GET}")
    arrays = [read_idx(_idx_file(directory, f)) for f in _FASHION_FILES]  # type: ignore[arg-type]
    images = [torch.from_numpy(a.copy()).unsqueeze(1) for a in (arrays[0], arrays[2])]
    labels = [torch.from_numpy(a.astype(np.int64)) for a in (arrays[1], arrays[3])]
    # Statistics of the 60,000 training images (Xiao et al. 2017's data), as commonly used.
    return Dataset("fashion-mnist", 10, (0.2860,), (0.3530,), images[0], labels[0], images[1], labels[1])


def _fashion_mnist_download(_: Path | None) -> Dataset:
    import torchvision  # late: only this route needs it

    root = FASHION_MNIST_DIRS[1].parent.parent
    try:
        torchvision.datasets.FashionMNIST(str(root), train=True, download=True)
        torchvision.datasets.FashionMNIST(str(root), train=False, download=True)
    except Exception as err:  # noqa: BLE001  (network errors come in many types)
        raise UserInputError(f"fashion-mnist:download failed ({err}); {_HOW_TO_GET}") from None
    return _fashion_mnist(FASHION_MNIST_DIRS[1])


#: The only globals a CIFAR-10 batch may name: what rebuilds a numpy array (numpy 1 and 2 spell
#: the module ``numpy.core`` and ``numpy._core``) and the bytes helper of protocol-2 pickles.
_BATCH_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
    ("numpy.core.numeric", "_frombuffer"): np.zeros(0).__reduce_ex__(5)[0],
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


def _batch_arrays(entry: Any) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels of a loaded CIFAR-10 batch, checked."""
    images = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(entry["labels"], dtype=np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if labels.size and not 0 <= labels.min() <= labels.max() <= 9:
        raise ValueError(f"labels must be 0-9, got {labels.min()} to {labels.max()}")
    return images, labels


def _cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels of one CIFAR-10 python batch file (a dict of lists, strings
    and numpy arrays: anything but the numpy array constructors is refused)."""
    return load_restricted(path, _batch_arrays, reading="CIFAR-10 batch", being="a CIFAR-10 python batch",
                           refusal="a CIFAR-10 batch holds only arrays", allowed=_BATCH_GLOBALS, encoding="latin1")


def _cifar10(directory: Path | None) -> Dataset:
    if directory is None:
        raise UserInputError("cifar10 needs a directory: --data cifar10:DIR (DIR holds cifar-10-batches-py)")
    batches = directory / "cifar-10-batches-py" if (directory / "cifar-10-batches-py").is_dir() else directory
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (batches / n).is_file()]
    if missing:
        raise UserInputError(f"{directory}: not a CIFAR-10 directory (missing {', '.join(missing)}); download the "
                             "python version from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it there")
    parts = [_cifar10_batch(batches / name) for name in names]
    train_x = torch.from_numpy(np.concatenate([p[0] for p in parts[:5]]))
    train_y = torch.from_numpy(np.concatenate([p[1] for p in parts[:5]]))
    return Dataset("cifar10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), train_x, train_y,
                   torch.from_numpy(parts[5][0]), torch.from_numpy(parts[5][1]))


def _imagefolder(directory: Path | None) -> Dataset:
    import torchvision  # late: only this route needs it

    if directory is None or not directory.is_dir():
        raise UserInputError(f"imagefolder needs a directory of class sub-directories, got {directory}")
    train_dir = directory / "train" if (directory / "train").is_dir() else directory
    test_dir = next((directory / d for d in ("val", "test") if (directory / d).is_dir()), None)
    try:
        train = torchvision.datasets.ImageFolder(str(train_dir))
        test = torchvision.datasets.ImageFolder(str(test_dir)) if test_dir else None
    except (FileNotFoundError, RuntimeError):
        raise UserInputError(f"{directory}: not an ImageFolder directory (no images found in class "
                             "sub-directories)") from None
    # ImageNet statistics: the usual choice for natural photos of unknown origin.
    return Dataset(f"imagefolder:{directory.name}", len(train.classes), (0.485, 0.456, 0.406),
                   (0.229, 0.224, 0.225), folder_train=train, folder_test=test)


#: name -> loader taking an optional directory.
SOURCES: Registry[Callable[[Path | None], Dataset]] = Registry("dataset")
SOURCES.register("fashion-mnist", _fashion_mnist)
SOURCES.register("cifar10", _cifar10)
SOURCES.register("imagefolder", _imagefolder)

_CACHE: dict[str, Dataset] = {}


def _detect(directory: Path) -> str:
    if _has_idx(directory):
        return "fashion-mnist"
    if (directory / "cifar-10-batches-py").is_dir() or (directory / "data_batch_1").is_file():
        return "cifar10"
    if any(p.is_dir() for p in directory.iterdir()):
        return "imagefolder"
    raise UserInputError(f"{directory}: holds no dataset this toolkit reads (Fashion-MNIST IDX files, CIFAR-10 "
                         "python batches, or ImageFolder class sub-directories)")


def open_dataset(source: str | None = None) -> Dataset:
    """The dataset ``source`` names (see the module docstring); loaded once per process.

    Raises:
        UserInputError: one sentence naming ``source`` and saying how to get the data.
    """
    key = source or DEFAULT_SOURCE
    if key in _CACHE:
        return _CACHE[key]
    name, _, rest = key.partition(":")
    check_path(rest if name in SOURCES and rest else key, "dataset")  # an over-long name is one sentence, not OSError
    if name == "fashion-mnist" and rest == "download":
        dataset = _fashion_mnist_download(None)
    elif name in SOURCES:
        dataset = SOURCES.get(name)(Path(rest).expanduser() if rest else None)
    elif Path(key).expanduser().is_dir():
        directory = Path(key).expanduser()
        dataset = SOURCES.get(_detect(directory))(directory)
    else:
        raise UserInputError(f"dataset {key!r} is neither a dataset name ({', '.join(SOURCES.names())}) nor a "
                             "directory")
    _CACHE[key] = dataset
    return dataset
