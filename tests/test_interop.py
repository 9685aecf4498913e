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


#: Models whose unpadded convs and pools need inputs larger than the default 64px: Inception v3's
#: smallest input is 75px (torchvision's documented minimum).
MIN_SIZE = {"inception_v3": 75}


def assert_same_logits(name: str) -> None:
    """Converted weights give our module the reference's logits, at an even and an odd size for TF padding."""
    torch.manual_seed(0)
    reference = reference_model(name)
    randomise_norms(reference)
    reference.eval()
    ours = load_reference(ss.build(zoo.get(name)), reference.state_dict(), source_for(zoo.entry(name).reference))
    ours.eval()
    sizes = (64, 97) if zoo.get(name).quirks.padding == "same" else (MIN_SIZE.get(name, 64),)
    for size in sizes:
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            expected, got = reference(x), ours(x)
        assert got.shape == expected.shape == (2, 1000)
        assert expected.std() > 1e-3  # the comparison is not between two constants
        scale = expected.abs().max().item()
        # random-init logits are small: be relative; deep pre-activation stacks (resnetv2_101) reach ~1e3,
        # where float32 rounding alone (the reference's own error against float64) exceeds 1e-4
        tolerance = max(1e-4 * min(1.0, scale), 2e-6 * scale)
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


def test_every_zoo_model_with_a_reference_implementation_has_a_source() -> None:
    # zoo entries matching only their paper's table have an empty reference
    implemented = [name for name in zoo.names() if zoo.entry(name).reference]
    assert implemented and all(zoo.entry(n).reference.partition(":")[0] in ("timm", "torchvision") for n in implemented)
    assert sorted(set(implemented) - set(CONVERTIBLE)) == []  # names any model still lacking a source
    assert set(CONVERTIBLE) == set(implemented)


def test_resnetv2_conv_classifier_is_viewed_as_our_linear_weight() -> None:
    state = reference_model("resnetv2_50", device="meta").state_dict()
    assert state["head.fc.weight"].shape == (1000, 2048, 1, 1)  # timm's classifier is a 1x1 conv
    converted = convert_state_dict(state, zoo.get("resnetv2_50"), "timm_resnetv2")
    weight = converted["head.classifier.weight"]
    assert weight.shape == (1000, 2048) and weight._base is state["head.fc.weight"]  # a view, not a copy
    assert converted["head.classifier.bias"] is state["head.fc.bias"]
    assert converted["stages.5.0.norm.weight"] is state["norm.weight"]
    assert converted["stages.1.0.shortcut.conv.weight"] is state["stages.0.blocks.0.downsample.conv.weight"]
    # the view drops only unit spatial dims of the declared layer: a class-count mismatch is still refused
    genome = dataclasses.replace(zoo.get("resnetv2_50"), num_classes=10)
    with pytest.raises(ss.UserInputError, match=r"head\.fc\.weight has shape \(1000, 2048, 1, 1\) .* \(10, 2048\)"):
        convert_state_dict(state, genome, "timm_resnetv2")


def test_resnetv2_conv_classifier_values_reach_our_linear_layer() -> None:
    state = dict(reference_model("resnetv2_50", device="meta").state_dict())
    state["head.fc.weight"] = torch.arange(1000 * 2048, dtype=torch.float32).view(1000, 2048, 1, 1)
    converted = convert_state_dict(state, zoo.get("resnetv2_50"), "timm_resnetv2")
    assert torch.equal(converted["head.classifier.weight"], state["head.fc.weight"][:, :, 0, 0])


def test_only_declared_layers_take_a_conv_weight_as_linear() -> None:
    state = dict(reference_model("shufflenet_v2_x1_0", device="meta").state_dict())
    state["fc.weight"] = state["fc.weight"][..., None, None]  # a 1x1-conv-shaped classifier
    with pytest.raises(ss.UserInputError, match=r"fc\.weight has shape \(1000, 1024, 1, 1\) .* needs \(1000, 1024\)"):
        convert_state_dict(state, zoo.get("shufflenet_v2_x1_0"), "torchvision_shufflenet")


def test_regnet_names() -> None:
    state = reference_model("regnety_004", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("regnety_004"), "timm_regnet")
    assert converted["stages.1.2.conv2.bn.running_mean"] is state["s2.b3.conv2.bn.running_mean"]
    assert converted["stages.3.0.se.reduce.weight"] is state["s4.b1.se.fc1.weight"]
    assert converted["stages.0.0.shortcut.conv.weight"] is state["s1.b1.downsample.conv.weight"]
    assert converted["head.classifier.weight"] is state["head.fc.weight"]


def test_inception_names_follow_the_grid_levels() -> None:
    state = reference_model("inception_v3", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("inception_v3"), "torchvision_inception")
    assert converted["stem.conv.weight"] is state["Conv2d_1a_3x3.conv.weight"]
    assert converted["stages.3.0.conv.conv.weight"] is state["Conv2d_3b_1x1.conv.weight"]
    assert converted["stages.4.0.conv.bn.weight"] is state["Conv2d_4a_3x3.bn.weight"]
    assert converted["stages.6.0.branch3.conv2.conv.weight"] is state["Mixed_5b.branch3x3dbl_3.conv.weight"]
    assert converted["stages.9.0.branch1.conv.conv.weight"] is state["Mixed_6a.branch3x3.conv.weight"]
    assert converted["stages.14.0.branch2.conv3.conv.weight"] is state["Mixed_7a.branch7x7x3_4.conv.weight"]
    assert converted["stages.16.0.branch3.branch2.conv.bn.bias"] is state["Mixed_7c.branch3x3dbl_3b.bn.bias"]
    assert converted["stages.16.0.branch4.conv.conv.weight"] is state["Mixed_7c.branch_pool.conv.weight"]
    state = reference_model("googlenet", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("googlenet"), "torchvision_inception")
    assert converted["stages.2.0.conv.conv.weight"] is state["conv3.conv.weight"]
    assert converted["stages.4.0.branch1.conv.conv.weight"] is state["inception3a.branch1.conv.weight"]
    assert converted["stages.11.0.branch4.conv.bn.weight"] is state["inception4e.branch4.1.bn.weight"]
    assert converted["stages.14.0.branch3.conv.conv.weight"] is state["inception5b.branch3.1.conv.weight"]


@pytest.mark.parametrize(("name", "aux"), [("googlenet", "aux1, aux2"), ("inception_v3", "AuxLogits")])
def test_auxiliary_classifiers_are_refused_not_dropped(name: str, aux: str) -> None:
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None, aux_logits=True, init_weights=False)
    with pytest.raises(ss.UserInputError, match=rf"auxiliary classifiers \({aux}\).*aux_logits=False"):
        convert_state_dict(model.state_dict(), zoo.get(name), "torchvision_inception")


def test_shufflenet_and_squeezenet_sequential_indices() -> None:
    state = reference_model("shufflenet_v2_x1_0", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("shufflenet_v2_x1_0"), "torchvision_shufflenet")
    assert converted["stages.1.0.left.conv.bn.weight"] is state["stage2.0.branch1.3.weight"]
    assert converted["stages.2.3.right.dw.conv.weight"] is state["stage3.3.branch2.3.weight"]
    assert converted["stages.3.1.right.conv2.bn.running_var"] is state["stage4.1.branch2.6.running_var"]
    assert converted["head.conv.conv.weight"] is state["conv5.0.weight"]
    state = reference_model("squeezenet1_1", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("squeezenet1_1"), "torchvision_squeezenet")
    assert converted["stages.1.1.expand3x3.conv.conv.weight"] is state["features.4.expand3x3.weight"]
    assert converted["stages.6.1.squeeze.conv.conv.bias"] is state["features.12.squeeze.bias"]
    assert converted["head.classifier.conv.weight"] is state["classifier.1.weight"]


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_every_reference_key_maps_to_ours_with_its_shape(name: str) -> None:
    state = reference_model(name, device="meta").state_dict()  # shapes only: no memory, no init cost
    converted = convert_state_dict(state, zoo.get(name), source_for(zoo.entry(name).reference))
    with torch.device("meta"):
        ours = ss.build(zoo.get(name)).state_dict()
    assert list(converted) == list(ours)
    assert all(converted[key].shape == value.shape for key, value in ours.items())
    # every tensor used, once (a reshaped one as a view of the reference's tensor)
    assert {id(t if t._base is None else t._base) for t in converted.values()} == {id(t) for t in state.values()}


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
    ("timm:regnetx_002", "timm_regnet"), ("timm:regnety_080", "timm_regnet"), ("timm:resnetv2_50", "timm_resnetv2"),
    ("timm:resnetv2_101.a1h_in1k", "timm_resnetv2"), ("torchvision:googlenet", "torchvision_inception"),
    ("torchvision:inception_v3", "torchvision_inception"), ("torchvision:shufflenet_v2_x2_0", "torchvision_shufflenet"),
    ("torchvision:squeezenet1_0", "torchvision_squeezenet"), ("torchvision:squeezenet1_1", "torchvision_squeezenet"),
])
def test_source_for_reference(reference: str, source: str) -> None:
    assert source_for(reference) == source
