"""ResNet v1 / v2, ResNeXt, SE-ResNet(X) and MobileNet v1: blocks behave as their papers draw them.

Parameter and MAC exactness against the references is in ``test_zoo_exact.py`` and weights
interop in ``test_interop.py`` (both parametrised over the zoo); here: what the blocks do.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import search_spaces as ss
from search_spaces import zoo
from search_spaces.blocks import BLOCKS, BlockContext
from search_spaces.errors import GenomeError
from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem
from search_spaces.interop import convert_state_dict, source_for
from search_spaces.reference import counted_macs, n_params, reference_model
from search_spaces.zoo.resnet import RESNETS

#: Every entry this family adds, with its reference.
ENTRIES = {
    "resnet18": "torchvision:resnet18", "resnet34": "torchvision:resnet34", "resnet50": "torchvision:resnet50",
    "resnet101": "torchvision:resnet101", "resnet152": "torchvision:resnet152",
    "resnext50_32x4d": "torchvision:resnext50_32x4d", "resnext101_32x8d": "torchvision:resnext101_32x8d",
    "resnetv2_50": "timm:resnetv2_50", "resnetv2_101": "timm:resnetv2_101", "seresnet50": "timm:seresnet50",
    "seresnext50_32x4d": "timm:seresnext50_32x4d", "mobilenet_v1": "timm:mobilenetv1_100",
}
TINY = 32  # input side for forward passes in the default run


def _blocks(name: str) -> list:
    return [b for b in ss.resolve(zoo.get(name)).blocks() if b.kind not in ("pool", "norm_act")]


def _randomise_norms(model: nn.Module) -> None:
    """Non-trivial BN statistics, so a skipped or swapped norm changes the output."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


def _block_ctx(cin: int, cout: int, stride: int, quirks: Quirks = Quirks()) -> BlockContext:
    return BlockContext(cin=cin, cout=cout, stride=stride, act="relu", drop_path=0.0, norm=Norm(), quirks=quirks,
                        width_mult=1.0)


# --- the entries --------------------------------------------------------------------------


def test_every_entry_is_registered_with_its_reference() -> None:
    assert {name: zoo.entry(name).reference for name in ENTRIES} == ENTRIES


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_names_its_space_and_paper(name: str) -> None:
    e = zoo.entry(name)
    assert e.space == ("mbconv" if name == "mobilenet_v1" else "regnet")
    assert e.paper and e.published is None
    assert e.genome.resolution == 224 and e.genome.num_classes == 1000


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_tiny_forward_and_cost_agree(name: str) -> None:
    genome = zoo.get(name)
    model = ss.build(genome).eval()
    assert ss.cost(genome).params == n_params(model)
    assert ss.cost(genome, TINY).macs == counted_macs(model, (1, 3, TINY, TINY))
    with torch.no_grad():
        assert model(torch.randn(2, 3, TINY, TINY)).shape == (2, 1000)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_yaml_round_trip_is_exact(name: str) -> None:
    assert ss.from_yaml(ss.to_yaml(zoo.get(name))) == zoo.get(name)


def test_resnets_use_the_regnet_bottleneck_block() -> None:
    regnet_block = zoo.get("regnetx_002").stages[0].block
    for name in ("resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d", "seresnet50"):
        body = zoo.get(name).stages[1:]
        assert {s.block for s in body} == {regnet_block}
        assert [s.stride for s in body] == [1, 2, 2, 2]
        assert [s.channels for s in body] == [256, 512, 1024, 2048]
    assert zoo.get("resnet50").stages[0] == Stage("pool", depth=1, channels=64, stride=2, kernel=3)


@pytest.mark.parametrize(("name", "mids", "groups"), [
    ("resnet50", (64, 128, 256, 512), 1),
    ("resnext50_32x4d", (128, 256, 512, 1024), 32),  # C x d = 32 x 4 in the first stage
    ("resnext101_32x8d", (256, 512, 1024, 2048), 32),
    ("seresnext50_32x4d", (128, 256, 512, 1024), 32),
])
def test_grouped_conv_has_the_cardinality_as_groups(name: str, mids: tuple[int, ...], groups: int) -> None:
    model = ss.build(zoo.get(name))
    for i, mid in enumerate(mids, start=1):
        for block in model.stages[i]:
            conv = block.conv2.conv
            assert conv.groups == groups and conv.in_channels == conv.out_channels == mid
            assert conv.stride == ((2, 2) if i > 1 and block is model.stages[i][0] else (1, 1))  # v1.5: on the 3x3


def test_resnet_depths_are_the_papers() -> None:
    # He et al. 2016, table 1.
    assert {name: RESNETS[name].depths for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")} == {
        "resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3),
        "resnet152": (3, 8, 36, 3)}
    assert [len(s) for s in ss.resolve(zoo.get("resnet152")).stages] == [1, 3, 8, 36, 3]


# --- v1 blocks ----------------------------------------------------------------------------


def test_basic_block_is_two_3x3_convs_with_relu_after_the_addition() -> None:
    spec = BLOCKS.get("basic").resolve(Stage("basic", 1, 16), _block_ctx(8, 16, 2))
    block = BLOCKS.get("basic").build(spec).eval()
    assert [n for n, _ in block.named_children()] == ["conv1", "conv2", "shortcut", "post_act"]
    assert block.conv1.conv.kernel_size == block.conv2.conv.kernel_size == (3, 3)
    assert block.conv1.conv.stride == (2, 2) and block.shortcut.conv.stride == (2, 2)
    _randomise_norms(block)
    with torch.no_grad():
        assert block(torch.randn(2, 8, 8, 8)).min() >= 0


def test_basic_block_refuses_a_group_width() -> None:
    with pytest.raises(GenomeError, match="group_width is not read by block 'basic'"):
        BLOCKS.get("basic").resolve(Stage("basic", 1, 16, group_width=4), _block_ctx(16, 16, 1))


# --- v2 (pre-activation) blocks -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["preact_bottleneck", "preact_basic"])
def test_v2_has_no_relu_after_the_addition(kind: str) -> None:
    spec = BLOCKS.get(kind).resolve(Stage(kind, 1, 16), _block_ctx(16, 16, 1))
    block = BLOCKS.get(kind).build(spec).eval()
    assert not hasattr(block, "post_act") and spec.residual
    _randomise_norms(block)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        out = block(x)
        branch = out - x  # identity shortcut: the output is x + F(x), unclipped
    assert out.min() < 0
    assert not torch.allclose(branch, torch.zeros_like(branch))


def test_v2_projection_reads_the_preactivated_input() -> None:
    # timm PreActBottleneck: shortcut = downsample(act(norm1(x))), a bare 1x1 conv without norm.
    kind = "preact_bottleneck"
    spec = BLOCKS.get(kind).resolve(Stage(kind, 1, 32, bottleneck=4), _block_ctx(16, 32, 2))
    block = BLOCKS.get(kind).build(spec).eval()
    _randomise_norms(block)
    assert isinstance(block.shortcut.bn, nn.Identity) and isinstance(block.shortcut.act, nn.Identity)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        pre = torch.relu(block.norm1(x))
        branch = block.conv3(block.act3(block.norm3(block.conv2(block.act2(block.norm2(block.conv1(pre)))))))
        expected = branch + block.shortcut(pre)
        assert torch.allclose(block(x), expected, atol=1e-6)


def test_v2_network_has_a_bare_stem_and_a_final_norm_relu() -> None:
    genome = zoo.get("resnetv2_50")
    model = ss.build(genome)
    assert isinstance(model.stem.bn, nn.Identity) and isinstance(model.stem.act, nn.Identity)
    assert genome.stages[-1].block == "norm_act"
    assert [n for n, _ in model.stages[-1][0].named_children()] == ["norm", "act"]
    assert {s.block for s in genome.stages[1:-1]} == {"preact_bottleneck"}


def _timm_v2_to_ours(state: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ResNetV2 keys -> ours, by name (test-only: no source converts timm's 1x1-conv classifier)."""
    last = max(int(k.split(".")[1]) for k in ours if k.startswith("stages."))  # the norm_act stage

    def theirs(key: str) -> str:
        parts, leaf = key.split("."), key.split(".")[-1]
        if parts[0] in ("stem", "head"):
            return f"{'stem.conv' if parts[0] == 'stem' else 'head.fc'}.{leaf}"
        if int(parts[1]) == last:  # the final norm_act stage
            return f"norm.{leaf}"
        layer = "downsample.conv" if parts[3] == "shortcut" else parts[3]  # timm DownsampleConv
        return f"stages.{int(parts[1]) - 1}.blocks.{parts[2]}.{layer}.{leaf}"

    out = {key: state[theirs(key)].reshape(value.shape) for key, value in ours.items()}
    assert len(out) == len(state)
    return out


def test_resnetv2_50_gives_timms_logits() -> None:
    torch.manual_seed(0)
    reference = reference_model("resnetv2_50")
    _randomise_norms(reference)
    reference.eval()
    ours = ss.build(zoo.get("resnetv2_50")).eval()
    ours.load_state_dict(_timm_v2_to_ours(reference.state_dict(), ours.state_dict()), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert expected.std() > 1e-3
    assert (got - expected).abs().max().item() < 1e-4 * max(1.0, expected.abs().max().item())


# --- squeeze-excitation -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["seresnet50", "seresnext50_32x4d"])
def test_se_sits_after_the_last_conv_over_the_output(name: str) -> None:
    for block in _blocks(name):
        layers = [n for n, _ in BLOCKS.get(block.kind).plan(block).layers]
        assert layers == ["conv1", "conv2", "conv3", "se"]
        assert block.se_out and block.se == block.cout // 16  # r = 16 (Hu et al. 2018, sec. 6.1)
    model = ss.build(zoo.get(name))
    se = model.stages[1][0].se
    assert se.reduce.in_channels == 256 and se.reduce.out_channels == 16 and isinstance(se.gate, nn.Sigmoid)


def test_regnety_se_still_sits_after_the_group_conv() -> None:
    block = _blocks("regnety_004")[0]
    assert [n for n, _ in BLOCKS.get("bottleneck").plan(block).layers] == ["conv1", "conv2", "se", "conv3"]
    assert not block.se_out and block.se == round(block.cin * 0.25)


@pytest.mark.parametrize("cout", [64, 200, 328, 1000, 2048])
def test_se_width_is_timms_make_divisible(cout: int) -> None:
    from timm.layers import make_divisible

    ctx = _block_ctx(cout, cout, 1, Quirks(se_base="out", se_divisor=8))
    block = BLOCKS.get("bottleneck").resolve(Stage("bottleneck", 1, cout, se=1 / 16), ctx)
    assert block.se_out and block.se == make_divisible(cout / 16, 8, round_limit=0.0)


def test_timm_se_resnet_keys_map_by_name() -> None:
    assert source_for("timm:seresnet50") == "timm_resnet"
    state = reference_model("seresnet50", device="meta").state_dict()
    converted = convert_state_dict(state, zoo.get("seresnet50"), "timm_resnet")
    assert converted["stages.1.0.se.reduce.weight"] is state["layer1.0.se.fc1.weight"]
    assert converted["stages.1.0.shortcut.bn.running_var"] is state["layer1.0.downsample.1.running_var"]


# --- blocks off the reference path: build and cost still agree -----------------------------


@pytest.mark.parametrize("stage", [
    Stage("basic", 2, 24, stride=2, se=0.25),
    Stage("preact_basic", 2, 24, stride=2, se=0.25),
    Stage("preact_bottleneck", 2, 32, stride=2, bottleneck=2, group_width=8, se=0.25),
    Stage("bottleneck", 2, 32, stride=2, bottleneck=2, group_width=8, se=0.25),
], ids=lambda s: s.block)
@pytest.mark.parametrize("se_base", ["in", "mid", "out"])
def test_block_variants_build_and_cost_agree(stage: Stage, se_base: str) -> None:
    genome = Network(name="tiny", stem=Stem(channels=16), stages=(stage,), head=Head(channels=0), num_classes=10,
                     resolution=TINY, quirks=Quirks(channel_divisor=1, se_base=se_base))
    model = ss.build(genome)
    assert ss.cost(genome).params == n_params(model)
    for size in (TINY, 33):
        assert ss.cost(genome, size).macs == counted_macs(model, (1, 3, size, size))


def test_width_scaled_resnext_still_builds() -> None:
    genome = dataclasses.replace(zoo.get("resnext50_32x4d"), width_mult=0.75, depth_mult=0.5)
    model = ss.build(genome).eval()
    assert ss.cost(genome).params == n_params(model)
    with torch.no_grad():
        assert model(torch.randn(1, 3, TINY, TINY)).shape == (1, 1000)


# --- MobileNet v1 -------------------------------------------------------------------------


def test_mobilenet_v1_is_the_papers_table_1() -> None:
    blocks = _blocks("mobilenet_v1")
    assert [b.cout for b in blocks] == [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    assert [b.stride for b in blocks] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]  # the last dw: s1 (table 1 typo)
    assert all(b.kind == "ds" and b.pw_act and not b.residual and b.act == "relu6" for b in blocks)
    assert zoo.entry("mobilenet_v1").reference == "timm:mobilenetv1_100"


# --- full resolution ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_full_resolution_macs_equal_the_reference(name: str) -> None:
    genome = zoo.get(name)
    shape = (1, 3, genome.resolution, genome.resolution)
    assert ss.cost(genome).macs == counted_macs(ss.build(genome), shape) == counted_macs(reference_model(name), shape)


@pytest.mark.slow
def test_resnetv2_101_gives_timms_logits_at_full_resolution() -> None:
    torch.manual_seed(0)
    reference = reference_model("resnetv2_101")
    _randomise_norms(reference)
    reference.eval()
    ours = ss.build(zoo.get("resnetv2_101")).eval()
    ours.load_state_dict(_timm_v2_to_ours(reference.state_dict(), ours.state_dict()), strict=True)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert (got - expected).abs().max().item() < 1e-4 * max(1.0, expected.abs().max().item())
