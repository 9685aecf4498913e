"""Counts for people: ``5288548`` -> ``5.29M``; the one number format of tables, logs and messages."""

from __future__ import annotations

__all__ = ["human"]


def human(n: float) -> str:
    """``5288548 -> '5.29M'``, ``385814752 -> '385.8M'``: two decimals below 100 units, one from 100.

    ``K``, ``M`` and ``G`` are powers of 1000 (parameters, MACs, activations); counts below
    1000 are printed whole.
    """
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.2f}{unit}" if abs(value) < 100 else f"{value:.1f}{unit}"
    return f"{n:.0f}" if isinstance(n, float) else str(n)
