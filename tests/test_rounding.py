"""Properties of the rounding rules every scaled width and depth goes through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_spaces.rounding import make_divisible, round_channels, round_repeats, round_resolution

values = st.floats(min_value=1.0, max_value=4096.0, allow_nan=False)
divisors = st.sampled_from([1, 2, 4, 8, 16])


@given(values, divisors)
def test_make_divisible_returns_a_positive_multiple(value: float, divisor: int) -> None:
    out = make_divisible(value, divisor)
    assert out % divisor == 0 and out >= divisor


@given(values, divisors)
def test_make_divisible_never_drops_below_ninety_percent(value: float, divisor: int) -> None:
    assert make_divisible(value, divisor, round_limit=0.9) >= 0.9 * value


@given(values, divisors)
def test_make_divisible_rounds_to_nearest_without_guard(value: float, divisor: int) -> None:
    out = make_divisible(value, divisor, round_limit=0.0)
    assert abs(out - value) <= divisor / 2 or out == divisor


@given(st.integers(min_value=1, max_value=512).map(lambda k: 8 * k))
def test_multiples_of_the_divisor_are_fixed_points(channels: int) -> None:
    assert make_divisible(channels, 8) == channels
    assert round_channels(channels, 1.0) == channels


@pytest.mark.parametrize(("value", "with_guard", "without_guard"), [
    (36.0, 40, 40),  # nearest multiple rounds half up
    (11.0, 16, 8),   # 8 < 0.9 * 11, so the v1 guard adds a divisor; V2's code keeps 8
    (20.0, 24, 24),
    (44.0, 48, 48),
])
def test_v1_guard_differs_from_v2(value: float, with_guard: int, without_guard: int) -> None:
    assert make_divisible(value, 8, round_limit=0.9) == with_guard
    assert make_divisible(value, 8, round_limit=0.0) == without_guard


def test_efficientnet_widths_from_the_official_table() -> None:
    # B4 (width 1.4): stem 32 -> 48, head 1280 -> 1792, stage 40 -> 56, 112 -> 160.
    assert [round_channels(c, 1.4) for c in (32, 1280, 40, 112)] == [48, 1792, 56, 160]
    # B7 (width 2.0): 16 -> 32, 320 -> 640.
    assert [round_channels(c, 2.0) for c in (16, 320)] == [32, 640]


@given(st.integers(min_value=1, max_value=30), st.floats(min_value=1.0, max_value=6.0))
def test_ceil_depth_never_shrinks_and_overshoots_by_under_one(repeats: int, mult: float) -> None:
    out = round_repeats(repeats, mult, "ceil")
    assert repeats * mult <= out < repeats * mult + 1


@given(st.integers(min_value=1, max_value=30), st.floats(min_value=0.1, max_value=6.0))
def test_round_depth_is_nearest_and_at_least_one(repeats: int, mult: float) -> None:
    out = round_repeats(repeats, mult, "round")
    assert out >= 1 and (out == 1 or abs(out - repeats * mult) <= 0.5)


def test_ceil_matches_the_reference_on_float_noise() -> None:
    # 3 * 1.4 = 4.199999999999999 in floating point; the reference ceils to 5 as we do.
    assert round_repeats(3, 1.4) == 5
    assert round_repeats(1, 1.1) == 2


def test_bad_depth_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="depth rounding"):
        round_repeats(2, 1.0, "floor")


@given(st.integers(min_value=8, max_value=1024), st.floats(min_value=0.5, max_value=4.0), divisors)
def test_round_resolution_is_the_nearest_multiple(resolution: int, multiplier: float, divisor: int) -> None:
    out = round_resolution(resolution, multiplier, divisor)
    assert out % divisor == 0 and (abs(out - resolution * multiplier) <= divisor / 2 or out == divisor)


@given(st.integers(min_value=8, max_value=1024), st.floats(min_value=1.0, max_value=4.0))
def test_round_resolution_respects_the_cap(resolution: int, multiplier: float) -> None:
    assert round_resolution(resolution, multiplier, cap=480) <= 480


def test_official_efficientnet_resolutions_are_multiples_of_four() -> None:
    for r in (224, 240, 260, 300, 380, 456, 528, 600):
        assert round_resolution(r) == r
    assert round_resolution(224, 1.15) == 256  # 257.6 -> nearest multiple of 4
