"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nas.supernet import SupernetConfig
from nas.supernet.train import TrainSettings, train_supernet
from search_spaces.spaces.mbconv import OPS

from search_spaces.reference import counted_macs, n_params  # noqa: F401  (tests import them from here)

pytest_plugins = ["tests.postgres"]  # fixtures ``postgres_server`` (session) and ``postgres`` (a fresh database)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``device`` tests where torch sees no CUDA GPU (CI), so the suites stay green without one."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (device marker)")
    for item in items:
        if item.get_closest_marker("device") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _small_threads() -> None:
    """Keep each test to one thread: the suite is many tiny models, threads only add overhead."""
    torch.set_num_threads(1)



#: A supernet training of 8 steps on 64 Fashion-MNIST images at 16 px: its results mean nothing, its files are real.
TINY_SUPERNET = TrainSettings(resolution=16, epochs=2, batch_size=16, subset=64, val_size=32, random_subnets=1,
                              checkpoint_minutes=0, config=SupernetConfig(resolution=16, ops=tuple(OPS)))


@pytest.fixture(scope="session")
def tiny_supernet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of a finished :data:`TINY_SUPERNET` run (shared by every test that scores from a supernet)."""
    out = tmp_path_factory.mktemp("tiny_supernet")
    torch.set_num_threads(1)
    result = train_supernet(TINY_SUPERNET, out, progress=False, log=lambda _: None)
    assert result["finished"] and result["total"] == 8
    return out
