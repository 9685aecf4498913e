"""ConvNeXt, VAN and Inception blocks behave as their papers draw them; the zoo entries build and cost alike."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import search_spaces as ss
from search_spaces import GenomeError, Network, Stage, Stem, zoo
from search_spaces.layers.channel_norm import LayerNorm2d, LayerScale, PointwiseLinear, layer_norm
from search_spaces.reference import n_params, reference_model

torchvision = pytest.importorskip("torchvision")

NEW_MODELS = ["convnext_tiny", "convnext_small", "convnext_base", "van_b0", "van_b1", "van_b2", "van_b3",
              "googlenet", "inception_v3"]


def tiny(block: str, **fields: object) -> Network:
    """A one-stage network around ``block`` on 16 channels (stride-4 stem), for block tests."""
    norm = layer_norm() if block == "convnext" else ss.Norm()
    return Network(name=f"tiny_{block}", stem=Stem(channels=16, kernel=3, stride=4),
                   stages=(Stage(block, **{"depth": 1, "channels": 16, **fields}),), norm=norm, act="gelu",
                   num_classes=10, resolution=32)


def test_the_new_families_are_in_the_zoo() -> None:
    assert set(NEW_MODELS) <= set(zoo.names())
    assert zoo.entry("convnext_tiny").reference == "torchvision:convnext_tiny"
    assert zoo.entry("van_b0").reference == "" and zoo.entry("van_b0").published == (4.1e6, 0.9e9)


@pytest.mark.parametrize("name", NEW_MODELS)
def test_cost_equals_the_built_module_and_yaml_round_trips(name: str) -> None:
    genome = zoo.get(name)
    with torch.device("meta"):
        assert ss.cost(genome).params == n_params(ss.build(genome))
    assert ss.from_yaml(ss.to_yaml(genome)) == genome


def test_lka_is_5x5_depthwise_then_7x7_depthwise_dilation_3_then_1x1_times_the_input() -> None:
    net = ss.build(tiny("van", expand=4))
    block = net.stages[0][0]
    lka = block.attention.attn.lka
    local, spatial, channel = lka.conv0.conv, lka.conv_spatial.conv, lka.conv1.conv
    assert (local.kernel_size, local.groups, local.dilation, local.padding) == ((5, 5), 16, (1, 1), (2, 2))
    assert (spatial.kernel_size, spatial.groups, spatial.dilation, spatial.padding) == ((7, 7), 16, (3, 3), (9, 9))
    assert (channel.kernel_size, channel.groups) == ((1, 1), 1)
    x = torch.randn(1, 16, 8, 8)
    assert torch.allclose(lka(x), x * channel(spatial(local(x))))


def test_van_block_has_two_layer_scaled_residual_branches_and_a_depthwise_mlp() -> None:
    block = ss.build(tiny("van", expand=4)).stages[0][0]
    for scale in (block.attention.layer_scale_1, block.mlp.layer_scale_2):
        assert isinstance(scale, LayerScale) and torch.all(scale.layer_scale == 1e-2)
    assert block.attention.residual and block.mlp.residual
    assert block.attention.attn.residual  # the attention's own shortcut (SpatialAttention)
    assert block.mlp.fc1.conv.out_channels == 64 and block.mlp.dwconv.conv.groups == 64
    assert isinstance(block.attention.norm1, nn.BatchNorm2d)


def test_convnext_block_is_depthwise_7x7_layernorm_4x_mlp_and_layer_scale() -> None:
    block = ss.build(tiny("convnext", kernel=7, expand=4)).stages[0][0]
    assert block.dw.conv.kernel_size == (7, 7) and block.dw.conv.groups == 16 and block.dw.conv.bias is not None
    assert isinstance(block.norm, LayerNorm2d)
    assert isinstance(block.pw1, PointwiseLinear) and block.pw1.weight.shape == (64, 16)
    assert isinstance(block.act, nn.GELU) and block.pw2.weight.shape == (16, 64)
    assert isinstance(block.scale, LayerScale) and torch.all(block.scale.layer_scale == 1e-6)
    assert block.residual


def test_convnext_and_van_blocks_refuse_to_change_width_or_resolution() -> None:
    for block in ("convnext", "van"):
        genome = tiny(block)
        bad = dataclasses.replace(genome, stages=(dataclasses.replace(genome.stages[0], channels=32),))
        with pytest.raises(GenomeError, match=r"stages\[0\]\.stride must be 1 and channels equal the input width \(16\)"):
            ss.cost(bad)


def test_layernorm2d_normalises_the_channels_of_every_position() -> None:
    norm = LayerNorm2d(8, eps=1e-6)
    x = torch.randn(2, 8, 3, 3)
    expected = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (8,), eps=1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(norm(x), expected, atol=1e-6)
    assert torch.allclose(norm(x[:, :, 0, 0]), expected[:, :, 0, 0], atol=1e-6)  # pooled (N, C) features too


def test_googlenet_inception_concatenates_its_four_branch_widths() -> None:
    genome = tiny("inception_v1", channels=64 + 128 + 32 + 32, branches=(64, 96, 128, 16, 32, 32))
    net = ss.build(genome)
    module = net.stages[0][0]
    widths = [module.branch1.conv.conv.out_channels, module.branch2.conv.conv.out_channels,
              module.branch3.conv.conv.out_channels, module.branch4.conv.conv.out_channels]
    assert widths == [64, 128, 32, 32]
    assert module.branch3.conv.conv.kernel_size == (3, 3)  # torchvision's "5x5" branch (pytorch/vision#906)
    out = net.forward_features(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 256, 8, 8)
    assert ss.cost(genome).params == n_params(net)


def test_inception_e_forks_inside_its_branches() -> None:
    genome = tiny("inception_e", channels=8 + 2 * 8 + 2 * 4 + 8, branches=(8, 4, 8, 4, 4, 4, 8))
    module = ss.build(genome).stages[0][0]
    assert module.branch2.branch1.conv.conv.kernel_size == (1, 3)
    assert module.branch2.branch2.conv.conv.kernel_size == (3, 1)
    assert module(torch.randn(1, 16, 5, 5)).shape == (1, 40, 5, 5)


@pytest.mark.parametrize(("fields", "message"), [
    ({"channels": 100, "branches": (64, 96, 128, 16, 32, 32)}, r"channels must equal the module's concatenated output 256"),
    ({"channels": 256, "branches": (64, 96, 128)}, r"branches must list 6 widths"),
])
def test_inception_stages_name_bad_widths(fields: dict[str, object], message: str) -> None:
    with pytest.raises(GenomeError, match=message):
        ss.cost(tiny("inception_v1", **fields))


def test_even_kernels_only_as_non_overlapping_patches() -> None:
    assert Stage("pool_ceil", depth=1, channels=1, stride=2, kernel=2).kernel == 2
    with pytest.raises(GenomeError, match="kernel must be an odd kernel size, got 2"):
        Stage("convnext_down", depth=1, channels=8, stride=1, kernel=2)
    assert Stem(channels=96, kernel=4, stride=4, padding="valid").kernel == 4
    with pytest.raises(GenomeError, match="kernel must be an odd kernel size, got 4"):
        Stem(channels=96, kernel=4, stride=4)  # padded: not a patchify stem


def test_branches_come_back_from_yaml_as_a_tuple() -> None:
    genome = zoo.get("inception_v3")
    again = ss.from_yaml(ss.to_yaml(genome))
    assert again.stages[6].branches == (64, 48, 64, 64, 96, 96, 32) and isinstance(again.stages[6].branches, tuple)
    with pytest.raises(GenomeError, match="branches must be a list of positive integers"):
        Stage("inception_a", depth=1, channels=8, branches=(1, 0))


def test_inception_v3_is_too_small_below_75_pixels() -> None:
    genome = zoo.get("inception_v3")
    assert ss.cost(genome, 75).macs > 0
    with pytest.raises(RuntimeError):
        ss.build(genome)(torch.randn(1, 3, 64, 64))


def _same_logits_by_position(name: str, size: int) -> float:
    """Load the reference's tensors into ours in order (the layouts match position by position)."""
    reference = reference_model(name).eval()
    ours = ss.build(zoo.get(name)).eval()
    state = ours.state_dict()
    assert [v.shape for v in state.values()] == [v.shape for v in reference.state_dict().values()]
    ours.load_state_dict(dict(zip(state, reference.state_dict().values())))
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return (ours(x) - reference(x)).abs().max().item()


@pytest.mark.parametrize(("name", "size"), [("googlenet", 97), ("inception_v3", 97)])
def test_inception_networks_compute_the_reference_function(name: str, size: int) -> None:
    assert _same_logits_by_position(name, size) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size"), [("googlenet", 224), ("inception_v3", 299)])
def test_inception_networks_compute_the_reference_function_at_full_size(name: str, size: int) -> None:
    assert _same_logits_by_position(name, size) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["van_b0", "van_b1", "van_b2", "van_b3"])
def test_van_params_and_macs_at_224_match_the_built_module(name: str) -> None:
    from search_spaces.reference import counted_macs

    genome = zoo.get(name)
    net = ss.build(genome)
    assert ss.cost(genome).params == n_params(net)
    assert ss.cost(genome).macs == counted_macs(net, (1, 3, 224, 224))
