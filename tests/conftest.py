"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _small_threads() -> None:
    """Keep each test to one thread: the suite is many tiny models, threads only add overhead."""
    torch.set_num_threads(1)


def n_params(module: torch.nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def counted_macs(module: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass as FlopCounterMode counts them (total / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.randn(*shape))
    return counter.get_total_flops() // 2
