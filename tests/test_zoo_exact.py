"""Every zoo model equals its reference implementation to the parameter, and its MACs are exact."""

from __future__ import annotations

import pytest

import search_spaces as ss
from search_spaces import zoo
from search_spaces.reference import counted_macs, n_params, reference_model

#: Published default resolutions (EfficientNet table; V2 official configs' eval sizes).
DEFAULT_RESOLUTION = {
    "efficientnet_b0": 224, "efficientnet_b1": 240, "efficientnet_b2": 260, "efficientnet_b3": 300,
    "efficientnet_b4": 380, "efficientnet_b5": 456, "efficientnet_b6": 528, "efficientnet_b7": 600,
    "efficientnetv2_s": 384, "efficientnetv2_m": 480, "efficientnetv2_l": 480,
    "mnasnet_a1": 224, "mobilenet_v2": 224, "mobilenet_v3_large": 224, "mobilenet_v3_small": 224,
    "nasnetalarge": 331, "pnasnet5large": 331, "nasnet_a_mobile": 224, "pnasnet5_mobile": 224,
    "amoebanet_a_mobile": 224, "amoebanet_a_n6_f190": 331,
    "convnext_tiny": 224, "convnext_small": 224, "convnext_base": 224,
    "van_b0": 224, "van_b1": 224, "van_b2": 224, "van_b3": 224, "googlenet": 224, "inception_v3": 299,
    "densenet121": 224, "densenet169": 224, "densenet201": 224, "shufflenet_v1_g3": 224,
    "shufflenet_v2_x1_0": 224, "shufflenet_v2_x2_0": 224, "squeezenet1_0": 224, "squeezenet1_1": 224,
    "resnet18": 224, "resnet34": 224, "resnet50": 224, "resnet101": 224, "resnet152": 224, "resnext50_32x4d": 224,
    "resnext101_32x8d": 224, "resnetv2_50": 224, "resnetv2_101": 224, "seresnet50": 224, "seresnext50_32x4d": 224,
    "mobilenet_v1": 224,
}

#: Parameter counts of the reference models (1000 classes), as timm 1.0 / torchvision 0.2x report them;
#: tested against the live reference too, so a drift in either shows up.
PUBLISHED_PARAMS = {
    "efficientnet_b0": 5_288_548, "efficientnet_b4": 19_341_616, "efficientnet_b7": 66_347_960,
    "efficientnetv2_s": 21_458_488, "efficientnetv2_l": 118_515_272,
    "mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856,
    "nasnetalarge": 88_753_150, "pnasnet5large": 86_057_668,
}
#: MAC tolerances wider than 2% for papers printing one decimal of GFLOPs: VAN (Guo et al. 2022,
#: arXiv:2202.09741, ImageNet-1K comparison table; the official README's "VAN Models" table) prints
#: VAN-B0 as 0.9G, which rounds 0.85-0.95G; ours is 0.864G (the issue allows 5% for VAN).
PUBLISHED_MACS_TOLERANCE = {"van_b0": 0.05, "van_b1": 0.05, "van_b2": 0.05, "van_b3": 0.05}
#: Models that cannot run at 64 px, tested at their smallest valid size instead: Inception v3's
#: unpadded strided convs and pools need at least 75 px (64 px leaves a 2x2 map before Mixed_7a's 3x3).
SMALLEST_RESOLUTION = {"inception_v3": 75}
#: Zoo models with a reference implementation to compare against.
REFERENCED = [name for name in zoo.names() if zoo.entry(name).reference]


def test_zoo_has_the_mbconv_family() -> None:
    assert set(DEFAULT_RESOLUTION) <= set(zoo.names())


@pytest.mark.parametrize("name", sorted(DEFAULT_RESOLUTION))
def test_default_resolution_is_the_published_one(name: str) -> None:
    assert zoo.get(name).resolution == DEFAULT_RESOLUTION[name]


def test_every_zoo_model_has_a_reference_or_published_figures() -> None:
    assert all(zoo.entry(name).reference or zoo.entry(name).published for name in zoo.names())


@pytest.mark.parametrize("name", [name for name in zoo.names()
                                  if zoo.entry(name).published and not zoo.entry(name).reference])
def test_models_without_a_reference_match_the_papers_figures_within_two_percent(name: str) -> None:
    params, macs = zoo.entry(name).published  # type: ignore[misc]
    c = ss.cost(zoo.get(name))
    assert abs(c.params - params) <= 0.02 * params
    assert abs(c.macs - macs) <= PUBLISHED_MACS_TOLERANCE.get(name, 0.02) * macs


@pytest.mark.parametrize("name", REFERENCED)
def test_params_equal_the_reference_implementation(name: str) -> None:
    reference = n_params(reference_model(name))
    assert ss.cost(zoo.get(name)).params == reference
    assert n_params(ss.build(zoo.get(name))) == reference


@pytest.mark.parametrize(("name", "params"), sorted(PUBLISHED_PARAMS.items()))
def test_params_equal_the_published_figures(name: str, params: int) -> None:
    assert ss.cost(zoo.get(name)).params == params


@pytest.mark.parametrize("name", zoo.names())
def test_macs_equal_flop_counter_at_small_resolution(name: str) -> None:
    genome = zoo.get(name)
    for resolution in (max(64, SMALLEST_RESOLUTION.get(name, 0)), 97):  # 97: odd sizes exercise TF "same" padding
        assert ss.cost(genome, resolution).macs == counted_macs(ss.build(genome), (1, 3, resolution, resolution))


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.names())
def test_macs_equal_flop_counter_at_default_resolution(name: str) -> None:
    genome = zoo.get(name)
    analytic = ss.cost(genome).macs
    counted = counted_macs(ss.build(genome), (1, 3, genome.resolution, genome.resolution))
    assert abs(analytic - counted) <= 0.01 * counted  # the tolerance
    assert analytic == counted  # and in fact exact


@pytest.mark.slow
@pytest.mark.parametrize("name", REFERENCED)
def test_macs_equal_the_reference_models_count(name: str) -> None:
    genome = zoo.get(name)
    shape = (1, 3, genome.resolution, genome.resolution)
    assert ss.cost(genome).macs == counted_macs(reference_model(name), shape)


@pytest.mark.parametrize(("name", "paper_macs"), [
    ("efficientnet_b0", 0.39e9), ("efficientnet_b1", 0.70e9), ("efficientnet_b2", 1.0e9), ("efficientnet_b3", 1.8e9),
    ("efficientnet_b4", 4.2e9), ("efficientnet_b5", 9.9e9), ("efficientnet_b6", 19e9), ("efficientnet_b7", 37e9),
    ("mnasnet_a1", 312e6), ("mobilenet_v2", 300e6), ("mobilenet_v3_large", 217e6), ("mobilenet_v3_small", 56e6),
])
def test_macs_agree_with_the_papers_tables(name: str, paper_macs: float) -> None:
    # EfficientNet table 2 / MnasNet table 1 / MobileNetV2 table 4 / MobileNetV3 tables 3-4 "FLOPs" = MACs.
    assert ss.cost(zoo.get(name)).macs == pytest.approx(paper_macs, rel=0.05)
