"""DenseNet, ShuffleNet (v1, V2) and SqueezeNet blocks behave as their papers and torchvision describe."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import search_spaces as ss
from search_spaces import zoo
from search_spaces.blocks.shuffle import channel_shuffle
from search_spaces.genome import Head, Network, Quirks, Stage, Stem
from search_spaces.layers import PoolSpec
from search_spaces.reference import n_params, reference_model

torchvision = pytest.importorskip("torchvision")

#: ShuffleNet 1x, g = 3 (Zhang et al. 2018, "ShuffleNet: An Extremely Efficient Convolutional Neural Network
#: for Mobile Devices", CVPR 2018 pp. 6848-6856 / arXiv 1707.01083v2): table 8 (sec. 4.5, "ShuffleNet 1x (g = 3)
#: | 32.6 | 140M") gives 140 MFLOPs, and table 1 (sec. 3.3, the architecture; its "Complexity" row) 137M for
#: g = 3; FLOPs there are multiply-adds, our MACs. The paper prints no parameter count; the authors' release
#: (megvii-model/ShuffleNet-Series, ShuffleNetV1/README.md: "ShuffleNetV1 1.0x (group=3) | 138M | 1.9M") does.
V1_G3_TABLE1_MACS = 137e6
V1_G3_PAPER_MACS = 140e6
V1_G3_RELEASE_PARAMS = 1.9e6


def _net(*stages: Stage, stem: int = 16, head: Head | None = None, **kwargs: object) -> Network:
    return Network(name="tiny", stem=Stem(channels=stem), stages=stages, head=head or Head(channels=0),
                   quirks=Quirks(channel_divisor=1), num_classes=10, resolution=32, **kwargs)  # type: ignore[arg-type]


def _randomise(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)


def _load_in_order(ours: nn.Module, reference: nn.Module) -> None:
    """Copy the reference's state into ours tensor by tensor, in registration order (shapes must agree)."""
    theirs = list(reference.state_dict().values())
    keys = list(ours.state_dict())
    assert len(keys) == len(theirs)
    state = {}
    for key, value in zip(keys, theirs):
        assert ours.state_dict()[key].shape == value.shape, key
        state[key] = value
    ours.load_state_dict(state, strict=True)


def _same_logits(name: str, sizes: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    reference = reference_model(name)
    _randomise(reference)
    ours = ss.build(zoo.get(name))
    _load_in_order(ours, reference)
    reference.eval()
    ours.eval()
    for size in sizes:
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            expected, got = reference(x), ours(x)
        assert got.shape == expected.shape == (2, 1000)
        assert expected.std() > 1e-4
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5), f"{name} at {size}px"


# ---- DenseNet ---------------------------------------------------------------------------------------------------


def test_dense_layers_concatenate_growth_channels_onto_their_input() -> None:
    genome = _net(Stage("dense", depth=3, channels=1, growth=5, expand=4))
    spec = ss.resolve(genome)
    layers = spec.stages[0]
    assert [(b.cin, b.mid, b.cout) for b in layers] == [(16, 20, 21), (21, 20, 26), (26, 20, 31)]
    net = ss.build(genome).eval()
    x = torch.randn(1, 3, 32, 32)
    stem = net.stem(x)
    features = net.forward_features(x)
    assert features.shape == (1, 31, 16, 16)
    assert torch.equal(features[:, :16], stem)  # the block's input passes through in front, untouched
    assert ss.cost(genome).params == n_params(net)


def test_transition_compresses_and_halves_the_resolution() -> None:
    genome = _net(Stage("dense", depth=2, channels=1, growth=8, expand=4),
                  Stage("transition", depth=1, channels=16, stride=2))
    net = ss.build(genome).eval()
    assert net.forward_features(torch.randn(1, 3, 33, 33)).shape == (1, 16, 8, 8)  # 17 -> 8: floor, as AvgPool2d(2)
    assert ss.cost(genome, 33).macs == ss.reference.counted_macs(net, (1, 3, 33, 33))


def test_dense_stage_needs_a_growth_rate() -> None:
    with pytest.raises(ss.GenomeError, match=r"stages\[0\]\.growth must be a positive growth rate"):
        ss.resolve(_net(Stage("dense", depth=2, channels=8)))


@pytest.mark.parametrize("name", ["densenet121", "densenet169", "densenet201"])
def test_densenet_stage_channels_state_the_resolved_widths(name: str) -> None:
    genome = zoo.get(name)
    spec = ss.resolve(genome)
    assert [blocks[-1].cout for blocks in spec.stages] == [stage.channels for stage in genome.stages]


def test_densenet121_table_1_layout() -> None:
    stages = zoo.get("densenet121").stages
    assert [s.depth for s in stages if s.block == "dense"] == [6, 12, 24, 16]
    assert {(s.growth, s.expand) for s in stages if s.block == "dense"} == {(32, 4.0)}


def test_width_scaled_densenet_builds_and_costs_alike() -> None:
    genome = dataclasses.replace(zoo.get("densenet121"), width_mult=0.5)
    assert ss.cost(genome).params == n_params(ss.build(genome))


# ---- ShuffleNet -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "groups"), [(12, 2), (12, 3), (24, 4), (6, 6)])
def test_channel_shuffle_equals_torchvisions(channels: int, groups: int) -> None:
    from torchvision.models.shufflenetv2 import channel_shuffle as tv_shuffle

    x = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1).expand(2, channels, 3, 3).contiguous()
    assert torch.equal(channel_shuffle(x, groups), tv_shuffle(x, groups))
    n = channels // groups
    order = [int(v) for v in channel_shuffle(x, groups)[0, :, 0, 0]]
    assert order == [i * n + j for j in range(n) for i in range(groups)]  # (g, n) -> transpose -> flatten


def test_shuffle_v2_unit_keeps_half_its_input() -> None:
    genome = _net(Stage("shuffle_v2", depth=1, channels=32, stride=2), Stage("shuffle_v2", depth=1, channels=32))
    net = ss.build(genome).eval()
    x = net.stages[0](net.stem(torch.randn(1, 3, 32, 32)))
    out = net.stages[1](x)
    assert out.shape == x.shape == (1, 32, 8, 8)
    assert torch.equal(out[:, 0::2], x[:, :16])  # the kept half lands on the even channels after the shuffle


def test_shufflenet_v2_gives_torchvisions_logits() -> None:
    _same_logits("shufflenet_v2_x1_0", (64, 97))


def test_shuffle_v1_unit_widths_groups_and_shortcut() -> None:
    genome = zoo.get("shufflenet_v1_g3")
    spec = ss.resolve(genome)
    first, second = spec.stages[1][0], spec.stages[1][1]
    assert (first.cin, first.cout, first.mid, first.first_groups, first.groups) == (24, 240, 60, 1, 3)
    assert (second.cin, second.mid, second.first_groups) == (240, 60, 3)
    net = ss.build(genome).eval()
    unit = net.stages[1][0]
    assert unit.branch.conv1.conv.groups == 1 and unit.branch.conv2.conv.groups == 3
    assert unit.branch.conv2.conv.out_channels == 216  # 240 - 24: the shortcut supplies the rest
    x = torch.randn(1, 24, 14, 14)
    with torch.no_grad():
        out = unit(x)
    assert out.shape == (1, 240, 7, 7)
    assert torch.allclose(out[:, :24], nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x))  # shortcut first
    assert (out[:, 24:] >= 0).all()


def test_shufflenet_v1_g3_matches_the_papers_figures() -> None:
    c = ss.cost(zoo.get("shufflenet_v1_g3"))
    assert c.params == pytest.approx(V1_G3_RELEASE_PARAMS, rel=0.02)
    assert c.macs == pytest.approx(V1_G3_PAPER_MACS, rel=0.05)
    assert c.macs == pytest.approx(V1_G3_TABLE1_MACS, rel=0.01)  # the architecture table's own figure
    assert zoo.entry("shufflenet_v1_g3").published == (V1_G3_RELEASE_PARAMS, V1_G3_PAPER_MACS)


def test_shuffle_v1_refuses_indivisible_groups() -> None:
    with pytest.raises(ss.GenomeError, match=r"stages\[0\]\.groups: the bottleneck width 10 must be divisible by 3"):
        ss.resolve(_net(Stage("shuffle_v1", depth=1, channels=40, stride=2, groups=3),
                        Stage("shuffle_v1", depth=1, channels=40, groups=3)))


# ---- SqueezeNet -------------------------------------------------------------------------------------------------


def test_fire_concatenates_expand1x1_before_expand3x3() -> None:
    genome = _net(Stage("fire", depth=1, channels=32, bottleneck=8), stem=8)
    net = ss.build(genome).eval()
    fire = net.stages[0][0]
    assert fire.squeeze.conv.conv.out_channels == 4
    assert fire.expand1x1.conv.conv.kernel_size == (1, 1) and fire.expand3x3.conv.conv.kernel_size == (3, 3)
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        squeezed = fire.squeeze(x)
        out = fire(x)
        assert torch.equal(out[:, :16], fire.expand1x1(squeezed))
        assert torch.equal(out[:, 16:], fire.expand3x3(squeezed))


@pytest.mark.parametrize("size", range(5, 40))
def test_ceil_mode_pool_size_equals_torch(size: int) -> None:
    spec = PoolSpec("max", 3, 2, "valid", ceil_mode=True)
    assert spec.cost((size, size))[1] == tuple(spec.build()(torch.zeros(1, 1, size, size)).shape[-2:])
    padded = PoolSpec("max", 3, 2, "symmetric", ceil_mode=True)
    assert padded.cost((size, size))[1] == tuple(padded.build()(torch.zeros(1, 1, size, size)).shape[-2:])


def test_squeezenet_has_no_norm_and_a_conv_classifier() -> None:
    net = ss.build(zoo.get("squeezenet1_0"))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert net.stem.conv.bias is not None
    assert isinstance(net.head.classifier.conv, nn.Conv2d) and not any(isinstance(m, nn.Linear) for m in net.modules())


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_squeezenet_gives_torchvisions_logits(name: str) -> None:
    _same_logits(name, (64, 97))


def test_conv_classifier_refuses_a_hidden_layer() -> None:
    with pytest.raises(ss.GenomeError, match="hidden must be 0 with a conv classifier"):
        Head(channels=0, hidden=16, conv_classifier=True)


# ---- Full resolution --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "shufflenet_v2_x2_0", "squeezenet1_0", "squeezenet1_1"])
def test_full_resolution_logits_equal_torchvisions(name: str) -> None:
    _same_logits(name, (224,))


@pytest.mark.slow
def test_densenet121_weights_give_torchvisions_logits_at_full_resolution() -> None:
    from search_spaces.interop import load_reference

    torch.manual_seed(0)
    reference = reference_model("densenet121")
    _randomise(reference)
    reference.eval()
    ours = load_reference(ss.build(zoo.get("densenet121")), reference.state_dict(), "torchvision_densenet").eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert (got - expected).abs().max().item() < 1e-4 * max(1.0, expected.abs().max().item())


# ---- Weights interop --------------------------------------------------------------------------------------------


def test_torchvision_densenet_keys_map_by_name() -> None:
    from search_spaces.interop import convert_state_dict, source_for

    assert source_for("torchvision:densenet121") == "torchvision_densenet"
    state = reference_model("densenet121", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("densenet121"), "torchvision_densenet")
    assert converted["stem.conv.weight"] is state["features.conv0.weight"]
    assert converted["stages.1.5.conv2.conv.weight"] is state["features.denseblock1.denselayer6.conv2.weight"]
    assert converted["stages.2.0.norm.running_var"] is state["features.transition1.norm.running_var"]
    assert converted["stages.7.15.norm1.bias"] is state["features.denseblock4.denselayer16.norm1.bias"]
    assert converted["stages.8.0.norm.weight"] is state["features.norm5.weight"]
    assert converted["head.classifier.bias"] is state["classifier.bias"]


def test_densenet_source_refuses_other_state_dicts() -> None:
    from search_spaces.interop import convert_state_dict

    state = reference_model("shufflenet_v2_x1_0", device="meta").state_dict()
    with pytest.raises(ss.UserInputError, match="not a torchvision DenseNet"):
        convert_state_dict(state, zoo.get("densenet121"), "torchvision_densenet")
    state = reference_model("densenet169", device="meta").state_dict()
    with pytest.raises(ss.UserInputError, match="does not fit densenet121"):
        convert_state_dict(state, zoo.get("densenet121"), "torchvision_densenet")
