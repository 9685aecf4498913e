"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import pytest
import torch

from search_spaces.reference import counted_macs, n_params  # noqa: F401  (tests import them from here)

pytest_plugins = ["tests.postgres"]  # fixtures ``postgres_server`` (session) and ``postgres`` (a fresh database)


@pytest.fixture(autouse=True)
def _small_threads() -> None:
    """Keep each test to one thread: the suite is many tiny models, threads only add overhead."""
    torch.set_num_threads(1)

