"""RegNet: width quantisation (paper eq. 2-4), the X/Y block, the space, its named points, EDFs."""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import search_spaces as ss
from search_spaces import spaces, zoo
from search_spaces.blocks.bottleneck import BottleneckSpec, bottleneck_widths
from search_spaces.spaces import MacsRange
from search_spaces.spaces.edf import (
    compare_spaces, complexity_weights, edf_at, edf_curve, ks_statistic, plot_edfs, sample_models, shared_edges,
)
from search_spaces.spaces.regnet import (
    RegNetSpace, adjust_widths_groups, has_stages, quantize_w0, regnet_exponents, regnet_widths,
)
from search_spaces.zoo import regnet_points
from search_spaces.zoo.regnet_points import POINTS
from tests.conftest import counted_macs, n_params

#: Parameter counts of timm 1.0's models (1000 classes); also checked against live timm below.
TIMM_PARAMS = {
    "regnetx_002": 2_684_792, "regnetx_004": 5_157_512, "regnetx_032": 15_296_552, "regnetx_160": 54_278_536,
    "regnety_004": 4_344_144, "regnety_040": 20_646_656, "regnety_080": 39_180_068,
}

depths = st.integers(min_value=1, max_value=63)
initial = st.integers(min_value=1, max_value=31).map(lambda k: 8 * k)
slopes = st.floats(min_value=0.0, max_value=256.0, allow_nan=False)
multipliers = st.floats(min_value=1.5, max_value=3.0, allow_nan=False)


def timm_model(name: str) -> torch.nn.Module:
    timm = pytest.importorskip("timm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timm.create_model(name, pretrained=False)


# --- widths: paper eq. 2-4 --------------------------------------------------------------


@given(depths, initial, slopes, multipliers)
def test_stage_widths_are_increasing_multiples_of_8_and_depths_sum_to_d(d: int, w0: int, wa: float,
                                                                          wm: float) -> None:
    widths, stage_depths = regnet_widths(d, w0, wa, wm)
    assert all(w > 0 and w % 8 == 0 for w in widths)
    assert widths == sorted(set(widths)) and widths[0] == w0  # s_0 = 0: the first block is w0 wide
    assert sum(stage_depths) == d and min(stage_depths) >= 1


@given(depths, initial, slopes, multipliers)
def test_block_widths_follow_the_quantised_linear_function(d: int, w0: int, wa: float, wm: float) -> None:
    exps = regnet_exponents(d, w0, wa, wm)
    widths, stage_depths = regnet_widths(d, w0, wa, wm)
    per_block = [w for w, n in zip(widths, stage_depths) for _ in range(n)]
    for j, (s, w) in enumerate(zip(exps, per_block)):
        u = w0 + wa * j  # eq. 2
        assert abs(math.log(u / w0) / math.log(wm) - s) <= 0.5 + 1e-9  # eq. 3: the nearest exponent
        assert abs(w - w0 * wm ** s) <= 4 + 1e-6  # eq. 4, rounded to a multiple of 8
    assert list(exps) == sorted(exps)


@given(depths, initial, multipliers)
def test_zero_slope_is_a_single_stage(d: int, w0: int, wm: float) -> None:
    assert regnet_widths(d, w0, 0.0, wm) == ([w0], [d])


def test_regnetx_200mf_widths_are_the_papers() -> None:
    # Paper, appendix table of RegNetX models: 200MF has d_i = 1, 1, 4, 7 and w_i = 24, 56, 152, 368.
    assert regnet_widths(13, 24, 36.44, 2.49) == ([24, 56, 152, 368], [1, 1, 4, 7])


@pytest.mark.parametrize("name", sorted(POINTS))
def test_widths_equal_timms_generate_regnet(name: str) -> None:
    regnet = pytest.importorskip("timm.models.regnet")
    p = POINTS[name]
    widths, stage_depths = regnet_widths(p["d"], p["w0"], p["wa"], p["wm"])
    per_block, _, _ = regnet.generate_regnet(p["wa"], p["w0"], p["wm"], p["d"], p["g"])
    assert [w for w, n in zip(widths, stage_depths) for _ in range(n)] == per_block


@given(st.lists(st.integers(min_value=1, max_value=512).map(lambda k: 8 * k), min_size=1, max_size=6),
       st.sampled_from([1.0, 2.0, 4.0]), st.integers(min_value=1, max_value=256))
def test_compatibility_adjustment_equals_timms_and_divides(widths: list[int], b: float, g: int) -> None:
    regnet = pytest.importorskip("timm.models.regnet")
    adjusted, groups = adjust_widths_groups(widths, b, g)
    assert (adjusted, groups) == regnet.adjust_widths_groups_comp(widths, [1 / b] * len(widths), [g] * len(widths))
    for w, gw in zip(adjusted, groups):
        assert w > 0 and 1 <= gw <= g and (w / b) % gw == 0


@given(st.integers(min_value=1, max_value=4096), st.sampled_from([1.0, 2.0, 4.0]),
       st.integers(min_value=0, max_value=256))
def test_block_widths_are_always_buildable(cout: int, b: float, g: int) -> None:
    mid, groups = bottleneck_widths(cout, b, g)
    assert mid >= 1 and groups >= 1 and mid % groups == 0
    if g == 0:
        assert groups == 1 and mid == max(1, round(cout / b))
    else:
        assert mid // groups <= g


def test_compatible_widths_are_left_alone() -> None:
    assert bottleneck_widths(1008, 1.0, 48) == (1008, 21)
    assert bottleneck_widths(100, 1.0, 48) == (96, 2)  # a width-scaled stage: mid rounded to the group width


# --- the X / Y block ---------------------------------------------------------------------


def test_x_block_has_no_se_and_y_block_squeezes_its_input_width() -> None:
    x, y = ss.resolve(zoo.get("regnetx_002")), ss.resolve(zoo.get("regnety_004"))
    assert all(isinstance(b, BottleneckSpec) and b.se == 0 for b in x.blocks())
    # SE width int(round(0.25 * w_in)) of the *input* width (pycls / timm), stem 32 -> 8.
    assert [b.se for b in y.stages[1]] == [12, 26, 26]
    assert y.stages[0][0].se == 8 and y.stages[1][0].cin == 48


def test_block_layout_stride_and_shortcuts() -> None:
    model = ss.build(zoo.get("regnety_004"))
    first, second = model.stages[1][0], model.stages[1][1]
    assert list(dict(first.named_children())) == ["conv1", "conv2", "se", "conv3", "shortcut", "post_act"]
    assert list(dict(second.named_children())) == ["conv1", "conv2", "se", "conv3", "post_act"]
    assert first.conv1.conv.stride == (1, 1) and first.conv2.conv.stride == (2, 2)  # stride on the 3x3
    assert first.conv2.conv.groups == 104 // 8 and first.shortcut.conv.stride == (2, 2)
    assert isinstance(first.conv3.act, torch.nn.Identity) and isinstance(first.post_act, torch.nn.ReLU)


@pytest.mark.parametrize("name", ["regnetx_002", "regnety_004"])
def test_outputs_equal_timms_with_the_same_weights(name: str) -> None:
    ours, ref = ss.build(zoo.get(name)).eval(), timm_model(name).eval()
    mine, theirs = ours.state_dict(), ref.state_dict()
    assert [t.shape for t in mine.values()] == [t.shape for t in theirs.values()]  # same layers, same order
    torch.manual_seed(0)
    for key, value in mine.items():  # perturb norms so that their placement matters
        if key.endswith(("running_var", "bn.weight")):
            value.uniform_(0.5, 1.5)
        elif key.endswith(("running_mean", "bn.bias")):
            value.normal_(0.0, 0.1)
    ref.load_state_dict(dict(zip(theirs, mine.values())))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)


def test_a_width_scaled_regnet_still_builds() -> None:
    genome = dataclasses.replace(zoo.get("regnetx_002"), width_mult=1.3, resolution=32)
    model = ss.build(genome).eval()
    assert ss.cost(genome).params == n_params(model)
    spec = ss.resolve(genome)  # widths 1.3 x (24, 56, 152, 368) = 31, 73, 198, 478: mid rounded to g = 8
    assert [s[0].cout for s in spec.stages] == [31, 73, 198, 478]
    assert [s[0].mid for s in spec.stages] == [32, 72, 200, 480]
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)


# --- named points ------------------------------------------------------------------------


def test_space_points_are_the_zoo_entries() -> None:
    space = spaces.get("regnet")
    assert set(space.points()) == set(TIMM_PARAMS)
    for name in space.points():
        assert space.point(name) == zoo.get(name)
        assert zoo.entry(name).reference == f"timm:{name}" and zoo.entry(name).space == "regnet"


@pytest.mark.parametrize(("name", "params"), sorted(TIMM_PARAMS.items()))
def test_params_equal_timm(name: str, params: int) -> None:
    assert ss.cost(zoo.get(name)).params == params == n_params(ss.build(zoo.get(name)))
    assert n_params(timm_model(name)) == params


@pytest.mark.parametrize("name", sorted(TIMM_PARAMS))
def test_macs_match_the_name(name: str) -> None:
    # The trailing digits are MACs in 1e8 (the paper's "flops": regnetx_032 is RegNetX-3.2GF).
    assert ss.cost(zoo.get(name)).macs == pytest.approx(int(name[-3:]) * 1e8, rel=0.02)


@pytest.mark.parametrize("name", sorted(TIMM_PARAMS))
def test_macs_equal_flop_counter_at_224(name: str) -> None:
    genome = zoo.get(name)
    assert ss.cost(genome, 224).macs == counted_macs(ss.build(genome), (1, 3, 224, 224))


# --- the space ---------------------------------------------------------------------------


def test_distributions_are_the_papers_ranges() -> None:
    dists = {d.name: d for d in spaces.get("regnet").distributions()}
    assert (dists["d"].low, dists["d"].high) == (4, 63)
    assert (dists["w0"].low, dists["w0"].high, dists["w0"].log) == (8, 248, True)
    assert (dists["wa"].low, dists["wa"].high, dists["wa"].log) == (8.0, 256.0, True)
    assert (dists["wm"].low, dists["wm"].high, dists["wm"].log) == (1.5, 3.0, True)
    assert dists["b"].choices == (1.0, 2.0, 4.0) and dists["variant"].choices == ("X", "Y")
    assert (dists["g"].low, dists["g"].high, dists["g"].log) == (1, 128, True)


def test_samples_have_four_stages_within_the_regime_and_compatible_groups() -> None:
    space = spaces.get("regnet")
    for seed in range(200):
        genome = space.sample(seed)
        assert len(genome.stages) == 4 and ss.cost(genome).macs <= 16e9
        for stage, blocks in zip(genome.stages, ss.resolve(genome).stages):
            for block in blocks:
                assert min(block.cin, block.cout, block.mid, block.groups) > 0
                assert block.mid % block.groups == 0 and block.group_width <= stage.group_width
                assert block.mid * stage.bottleneck == block.cout  # the decoded widths are already compatible
                assert (block.se > 0) == (stage.se > 0)


def test_decode_accepts_any_in_range_params_and_feasible_tells_the_stage_count() -> None:
    space = spaces.get("regnet")
    params = dict(d=4, w0=8, wa=8.0, wm=3.0, g=8, b=1.0, variant="X")  # widths 8, 16: two stages
    assert not space.feasible(params) and len(space.decode(params).stages) == 2
    assert space.feasible(POINTS["regnetx_002"])


@given(st.integers(min_value=1, max_value=63), initial, st.floats(min_value=8.0, max_value=256.0), multipliers,
       st.integers(min_value=1, max_value=6))
def test_stage_count_check_is_pycls_constraint(d: int, w0: int, wa: float, wm: float, n: int) -> None:
    widths, _ = regnet_widths(d, w0, wa, wm)
    assert has_stages(d, w0, wa, wm, n) == (len(widths) == max(regnet_exponents(d, w0, wa, wm)) + 1 == n)


def test_published_points_are_plain_data_read_by_space_and_zoo() -> None:
    source = Path(regnet_points.__file__).read_text()
    assert "import search_spaces" not in source and "from search_spaces" not in source
    assert spaces.get("regnet").points() == POINTS


def test_w0_is_rounded_to_a_multiple_of_8() -> None:
    assert [quantize_w0(w) for w in (8, 11, 12, 13, 248)] == [8, 8, 16, 16, 248]


def test_variant_setting_restricts_the_space() -> None:
    space = spaces.get("regnet", variants=("X",))
    assert all(g.stages[0].se == 0 for g in (space.sample(s) for s in range(20)))
    with pytest.raises(ValueError, match="variants"):
        RegNetSpace(variants=("Z",))


def _check_exact(genome: ss.Network, resolution: int) -> None:
    assert ss.from_yaml(ss.to_yaml(genome)) == genome
    model = ss.build(genome)
    assert ss.cost(genome).params == n_params(model)
    shape = (1, genome.in_channels, resolution, resolution)
    assert ss.cost(genome, resolution).macs == counted_macs(model, shape)
    assert model(torch.randn(*shape)).shape == (1, genome.num_classes)


@pytest.mark.parametrize("seed", range(10))
def test_small_samples_build_and_cost_exactly(seed: int) -> None:
    _check_exact(spaces.get("regnet", num_classes=10, max_macs=0.6e9).sample(seed), 32)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100))
def test_hundred_samples_build_and_cost_exactly(seed: int) -> None:
    _check_exact(spaces.get("regnet").sample(1000 + seed), 64)


# --- EDFs (paper sec. 3.1-3.2) -----------------------------------------------------------


def test_edf_is_the_fraction_strictly_below() -> None:
    values = [0.3, 0.1, 0.2, 0.2]
    assert edf_at(values, [0.1, 0.2, 0.25, 0.3, 1.0]) == [0.0, 0.25, 0.75, 0.75, 1.0]
    assert edf_curve(values) == ([0.1, 0.2, 0.3], [0.25, 0.75, 1.0])
    assert edf_at(values, [0.25], weights=[2, 1, 1, 0]) == [0.5]  # weights are normalised


def test_complexity_weights_make_each_bin_count_equally() -> None:
    weights = complexity_weights([1, 1, 1, 5], [0, 2.5, 5])
    assert weights == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2]) and sum(weights) == pytest.approx(1)
    # Errors 0.1 for the three small models, 0.5 for the big one: normalised, half the mass is each.
    assert edf_curve([0.1, 0.1, 0.1, 0.5], weights)[1] == pytest.approx([0.5, 1.0])
    with pytest.raises(ValueError, match="outside the bins"):
        complexity_weights([6], [0, 5])


def test_shared_edges_span_every_set() -> None:
    assert shared_edges([1, 2], [5], bins=4) == [1, 2, 3, 4, 5]
    assert shared_edges([1], [100], bins=2, log=True) == pytest.approx([1, 10, 100])


def test_ks_statistic() -> None:
    assert ks_statistic([1, 2, 3], [3, 1, 2]) == 0
    assert ks_statistic([1, 2], [3, 4]) == 1
    assert ks_statistic([1, 2], [2, 3]) == 0.5


@pytest.mark.parametrize(("values", "weights", "match"), [
    ([], None, "at least one"), ([1.0, math.nan], None, "finite"), ([1.0], [1.0, 2.0], "2 weights"),
    ([1.0, 2.0], [-1.0, 2.0], "non-negative"),
])
def test_bad_edf_inputs_are_named(values: list[float], weights: list[float] | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        edf_curve(values, weights)


def test_sampling_within_a_complexity_band_is_seeded() -> None:
    space, band = spaces.get("regnet"), MacsRange(360e6, 400e6)  # the paper's 400MF regime (sec. 3.1)
    models = sample_models(space, 4, seed=3, constraint=band)
    assert models == sample_models(space, 4, seed=3, constraint=band)
    assert all(360e6 <= ss.cost(g).macs <= 400e6 for g in models)


@pytest.mark.parametrize("normalize", [False, True])
def test_compare_spaces_writes_a_png(tmp_path: Path, normalize: bool) -> None:
    path = tmp_path / "sub" / "edf.png"
    x, y = spaces.get("regnet", variants=("X",)), spaces.get("regnet", variants=("Y",))
    result = compare_spaces({"RegNetX": x, "RegNetY": y}, 6, lambda g: ss.cost(g).params / 1e6, seed=1,
                            normalize=normalize, bins=3, path=path, xlabel="params (M)")
    assert list(result) == ["RegNetX", "RegNetY"]
    for edf in result.values():
        assert len(edf.values) == 6 and sum(edf.weights) == pytest.approx(1) and edf.ys[-1] == 1.0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["edf.png"]  # the atomic write left no temporary


def test_plot_refuses_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_edfs([], tmp_path / "x.png")
