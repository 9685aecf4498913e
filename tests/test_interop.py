"""Reference weights load strictly into our modules and give the reference's logits."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import search_spaces as ss
from search_spaces import zoo
from search_spaces.interop import SOURCES, convert_state_dict, load_reference, source_for
from search_spaces.reference import reference_model

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

#: Zoo models whose reference some source converts.
CONVERTIBLE = [name for name in zoo.names() if any(SOURCES.get(s).handles(zoo.entry(name).reference) for s in SOURCES)]

#: Models small enough (under 30M parameters) to compare logits in the default run; the rest are slow.
FAST_OUTPUT = [name for name in CONVERTIBLE if ss.cost(zoo.get(name)).params < 30_000_000]


def randomise_norms(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters.

    Freshly initialised BN is nearly the identity in eval mode, which would let a swapped
    or skipped norm go unnoticed.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)


def assert_same_logits(name: str) -> None:
    """Converted weights give our module the reference's logits, at an even and an odd size for TF padding."""
    torch.manual_seed(0)
    reference = reference_model(name)
    randomise_norms(reference)
    reference.eval()
    ours = load_reference(ss.build(zoo.get(name)), reference.state_dict(), source_for(zoo.entry(name).reference))
    ours.eval()
    sizes = (64, 97) if zoo.get(name).quirks.padding == "same" else (64,)
    for size in sizes:
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            expected, got = reference(x), ours(x)
        assert got.shape == expected.shape == (2, 1000)
        assert expected.std() > 1e-3  # the comparison is not between two constants
        tolerance = 1e-4 * min(1.0, expected.abs().max().item())  # random-init logits are small: be relative
        assert (got - expected).abs().max().item() < tolerance, f"{name} at {size}px"


@pytest.mark.parametrize("name", FAST_OUTPUT)
def test_converted_weights_give_the_reference_logits(name: str) -> None:
    assert_same_logits(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CONVERTIBLE if n not in FAST_OUTPUT])
def test_converted_weights_give_the_reference_logits_for_big_models(name: str) -> None:
    assert_same_logits(name)


def test_every_mbconv_family_zoo_model_has_a_source() -> None:
    family = [name for name in zoo.names() if zoo.entry(name).space in ("mbconv", "fused")]
    assert family and set(family) <= set(CONVERTIBLE)


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_every_reference_key_maps_to_ours_with_its_shape(name: str) -> None:
    state = reference_model(name, device="meta").state_dict()  # shapes only: no memory, no init cost
    converted = convert_state_dict(state, zoo.get(name), source_for(zoo.entry(name).reference))
    with torch.device("meta"):
        ours = ss.build(zoo.get(name)).state_dict()
    assert list(converted) == list(ours)
    assert all(converted[key].shape == value.shape for key, value in ours.items())
    assert {id(t) for t in converted.values()} == {id(t) for t in state.values()}  # every tensor used, once


def test_the_mapping_is_by_name_not_by_order() -> None:
    state = reference_model("efficientnet_b0", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("efficientnet_b0"), "timm_efficientnet")
    assert converted["stem.conv.weight"] is state["conv_stem.weight"]
    assert converted["stages.0.0.se.reduce.weight"] is state["blocks.0.0.se.conv_reduce.weight"]
    assert converted["stages.1.0.expand.bn.running_var"] is state["blocks.1.0.bn1.running_var"]
    assert converted["stages.1.0.dw.conv.weight"] is state["blocks.1.0.conv_dw.weight"]
    assert converted["stages.1.0.project.bn.weight"] is state["blocks.1.0.bn3.weight"]
    assert converted["head.conv.bn.bias"] is state["bn2.bias"]


def test_torchvision_v3_head_and_se_names() -> None:
    state = reference_model("mobilenet_v3_large", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("mobilenet_v3_large"), "torchvision_mobilenet")
    assert converted["stages.3.0.se.expand.bias"] is state["features.4.block.2.fc2.bias"]
    assert converted["stages.3.0.project.conv.weight"] is state["features.4.block.3.0.weight"]
    assert converted["head.hidden.weight"] is state["classifier.0.weight"]
    assert converted["head.classifier.weight"] is state["classifier.3.weight"]


def test_wrong_genome_names_missing_and_unexpected_keys() -> None:
    state = reference_model("efficientnet_b0", device="meta").state_dict()
    with pytest.raises(ss.UserInputError, match=r"does not fit mobilenet_v2: missing .* unexpected keys \(.*se"):
        convert_state_dict(state, zoo.get("mobilenet_v2"), "timm_efficientnet")


def test_wrong_genome_of_the_same_family_is_refused() -> None:
    state = reference_model("mobilenet_v3_large", device="meta").state_dict()
    with pytest.raises(ss.UserInputError, match="does not fit mobilenet_v3_small"):
        convert_state_dict(state, zoo.get("mobilenet_v3_small"), "torchvision_mobilenet")


def test_shape_mismatch_names_the_key_and_both_shapes() -> None:
    state = reference_model("efficientnet_b0", device="meta").state_dict()
    genome = dataclasses.replace(zoo.get("efficientnet_b0"), num_classes=10)
    with pytest.raises(ss.UserInputError, match=r"classifier\.weight has shape \(1000, 1280\) .* needs \(10, 1280\)"):
        convert_state_dict(state, genome, "timm_efficientnet")


def test_wrong_source_is_refused() -> None:
    state = reference_model("efficientnet_b0", device="meta").state_dict()
    with pytest.raises(ss.UserInputError, match="not a torchvision MobileNet"):
        convert_state_dict(state, zoo.get("efficientnet_b0"), "torchvision_mobilenet")
    state = reference_model("mobilenet_v2", device="meta").state_dict()
    with pytest.raises(ss.UserInputError, match=r"missing 314 keys \(conv_stem\.weight.*314 unexpected keys \(feat"):
        convert_state_dict(state, zoo.get("mobilenet_v2"), "timm_efficientnet")


def test_our_layers_without_a_reference_counterpart_are_named() -> None:
    state = reference_model("efficientnet_b0", device="meta").state_dict()
    with pytest.raises(ss.UserInputError, match=r"keys of ours with no timm_efficientnet counterpart \(head\.hidden"):
        convert_state_dict(state, zoo.get("mobilenet_v3_large"), "timm_efficientnet")


def test_unknown_source_and_reference_are_user_errors() -> None:
    with pytest.raises(ss.UnknownNameError, match="timm_efficientnet"):
        convert_state_dict({}, zoo.get("efficientnet_b0"), "timm_efficientnett")
    with pytest.raises(ss.UserInputError, match="no weights source handles"):
        source_for("timm:resnet50")


@pytest.mark.parametrize(("reference", "source"), [
    ("timm:tf_efficientnet_b3", "timm_efficientnet"), ("timm:tf_efficientnetv2_m.in21k", "timm_efficientnet"),
    ("timm:mnasnet_a1", "timm_efficientnet"), ("torchvision:mobilenet_v2", "torchvision_mobilenet"),
    ("torchvision:mobilenet_v3_small", "torchvision_mobilenet"),
])
def test_source_for_reference(reference: str, source: str) -> None:
    assert source_for(reference) == source
