"""Real data for proxy training and training-free proxies.

Fashion-MNIST is built in (the Debian package ``dataset-fashion-mnist``); CIFAR-10 and
ImageFolder directories come through ``--data``. See :mod:`nas.data.sources` for how
``--data`` is read and :mod:`nas.data.loader` for batching.
"""

from nas.data.loader import Batches, DataConfig, adapt_channels, fixed_batch, loaders, split_indices
from nas.data.sources import DEFAULT_SOURCE, SOURCES, Dataset, open_dataset

__all__ = [
    "DEFAULT_SOURCE", "SOURCES", "Batches", "DataConfig", "Dataset", "adapt_channels", "fixed_batch", "loaders",
    "open_dataset", "split_indices",
]
