"""Rounding rules of the EfficientNet / MobileNet papers' reference code, as pure functions.

These rules decide the exact channel and layer counts of every scaled network, so they
are kept tiny, dependency-free and property-tested (``tests/test_rounding.py``).
"""

from __future__ import annotations

import math

__all__ = ["DEPTH_ROUNDINGS", "make_divisible", "round_channels", "round_repeats", "round_resolution"]


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``.

    MobileNetV2 (Sandler et al. 2018) reference code ``_make_divisible``, reused by
    MnasNet and EfficientNet v1 (Tan & Le 2019, ``round_filters`` in
    ``efficientnet_model.py``): round half up to a multiple of ``divisor``, never below
    ``min_value`` (default: ``divisor``), and if that rounded down by more than
    ``1 - round_limit`` of ``value`` (the "never below 90%" guard), add one ``divisor``.
    EfficientNetV2's code (``round_filters`` in ``effnetv2_model.py``) has no guard:
    pass ``round_limit=0.0``.

    Args:
        value: The unrounded channel count (may be fractional after a multiplier).
        divisor: The multiple to round to; 1 rounds to the nearest integer.
        round_limit: Smallest allowed ratio of result to ``value``; 0 disables the guard.
        min_value: Lower bound of the result; ``None`` means ``divisor``.

    Returns:
        The rounded channel count, a positive multiple of ``divisor``.
    """
    if divisor < 1:
        raise ValueError(f"divisor must be a positive integer, got {divisor!r}")
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def round_channels(channels: int, multiplier: float = 1.0, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Scale a channel count by a width multiplier and round it (EfficientNet ``round_filters``).

    Tan & Le 2019, eq. 3: width is scaled by ``beta ** phi``; the code rounds the scaled
    count with :func:`make_divisible`. A multiplier of exactly 1 still rounds, as the
    reference code does (a no-op for counts already divisible by ``divisor``).
    """
    return make_divisible(channels * multiplier, divisor, round_limit)


#: Depth rounding modes: ``ceil`` is EfficientNet's ``round_repeats``; ``round`` keeps
#: single-layer stages single for longer (timm's ``depth_trunc='round'``).
DEPTH_ROUNDINGS = ("ceil", "round")


def round_repeats(repeats: int, multiplier: float = 1.0, mode: str = "ceil") -> int:
    """Scale a stage's layer count by a depth multiplier (EfficientNet ``round_repeats``).

    Tan & Le 2019, eq. 3: depth is scaled by ``alpha ** phi``; the reference code takes
    ``ceil(multiplier * repeats)`` so every stage grows once the multiplier exceeds 1.

    Args:
        repeats: The unscaled number of layers in the stage.
        multiplier: The depth multiplier.
        mode: ``"ceil"`` (EfficientNet) or ``"round"`` (half away from zero, at least 1).

    Returns:
        The scaled number of layers.
    """
    scaled = repeats * multiplier
    if mode == "ceil":
        # No epsilon guard on purpose: the reference code ceils the raw float product,
        # and matching it exactly matters more than tidying float noise.
        return int(math.ceil(scaled))
    if mode == "round":
        return max(1, int(math.floor(scaled + 0.5)))
    raise ValueError(f"depth rounding must be one of {', '.join(DEPTH_ROUNDINGS)}, got {mode!r}")


def round_resolution(resolution: int, multiplier: float = 1.0, divisor: int = 4, cap: int | None = None) -> int:
    """Scale an input resolution by ``multiplier`` and round it to the nearest multiple of ``divisor``.

    Tan & Le 2019, eq. 3: resolution is scaled by ``gamma ** phi``. The paper gives no
    rounding rule; its official resolutions (224, 240, 260, 300, 380, 456, 528, 600) are all
    multiples of 4, hence the default ``divisor``. EfficientNetV2 (Tan & Le 2021, sec. 3.4)
    caps the inference size at 480: pass ``cap=480``.

    Args:
        resolution: The base resolution in pixels.
        multiplier: The resolution multiplier.
        divisor: The multiple to round to (half rounds up); 1 rounds to the nearest pixel.
        cap: Largest allowed result, or ``None`` for no cap.

    Returns:
        The scaled resolution, at least ``divisor``.
    """
    if divisor < 1:
        raise ValueError(f"divisor must be a positive integer, got {divisor!r}")
    scaled = max(divisor, math.floor(resolution * multiplier / divisor + 0.5) * divisor)
    return scaled if cap is None else min(scaled, cap)
