"""Build and analytic cost agree, and the blocks encode what the reference code fixes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn import functional as F

import search_spaces as ss
from search_spaces import Network, Quirks, Stage, Stem, zoo
from search_spaces.blocks import BLOCKS
from search_spaces.genome import SE_BASES, Head
from search_spaces.layers import ACTIVATIONS, SE_ROUNDINGS, make_act, se_channels
from search_spaces.layers.conv import ConvSpec, conv_out_size
from search_spaces.registry import Registry
from search_spaces.spaces.cells import PNASNET_5, cell_network
from search_spaces.testing import STAGES, random_network
from tests.conftest import counted_macs, n_params


def tiny(*stages: Stage, **kw) -> Network:
    """A small network around the given stages."""
    return Network(name="tiny", stem=Stem(channels=16), stages=stages, resolution=32, num_classes=10, **kw)


def _assert_build_equals_cost(genome: Network) -> None:
    model = ss.build(genome)
    cost = ss.cost(genome)
    shape = (1, genome.in_channels, genome.resolution, genome.resolution)
    assert model.train()(torch.randn(2, *shape[1:])).shape == (2, genome.num_classes)
    assert cost.params == n_params(model)
    assert cost.macs == counted_macs(model, shape)


@pytest.mark.parametrize("seed", range(40))
def test_analytic_cost_equals_built_module_on_random_genomes(seed: int) -> None:
    _assert_build_equals_cost(random_network(seed))


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_block_type_costs_what_it_builds(block: str, seed: int) -> None:
    genome = random_network(seed, blocks=(block,))
    assert block in {stage.block for stage in genome.stages}
    _assert_build_equals_cost(genome)


def test_random_networks_can_draw_every_registered_block_type() -> None:
    assert set(STAGES) == set(BLOCKS.names())  # a new block type needs an entry, and is then drawn by the tests


def test_activations_count_conv_and_linear_outputs() -> None:
    genome = tiny(Stage("conv", depth=1, channels=8, stride=2), head=ss.Head(channels=0))
    outputs = []
    model = ss.build(genome).eval()
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.register_forward_hook(lambda m, i, o: outputs.append(o.numel()))
    model(torch.randn(1, 3, 32, 32))
    assert ss.cost(genome).activations == sum(outputs)


def test_build_does_not_mutate_the_genome() -> None:
    genome = zoo.get("efficientnet_b0")
    before = ss.to_yaml(genome)
    ss.build(genome)
    ss.cost(genome, 97)
    assert ss.to_yaml(genome) == before


def test_se_squeezes_a_quarter_of_the_block_input_not_the_expanded_width() -> None:
    spec = ss.resolve(zoo.get("efficientnet_b0"))
    first_mbconv = spec.stages[1][0]  # 16 -> 24, expand 6: mid 96
    assert (first_mbconv.cin, first_mbconv.mid, first_mbconv.se) == (16, 96, 4)
    se = ss.build(zoo.get("efficientnet_b0")).stages[1][0].se
    assert (se.reduce.in_channels, se.reduce.out_channels) == (96, 4)


def test_mobilenet_v3_squeezes_the_expanded_width_rounded_to_eight() -> None:
    spec = ss.resolve(zoo.get("mobilenet_v3_large"))
    block = spec.stages[3][0]  # expanded 72 -> SE make_divisible(18, 8) = 24
    assert (block.mid, block.se, block.se_gate, block.se_act) == (72, 24, "hard_sigmoid", "relu")


@pytest.mark.parametrize("se_base", SE_BASES)
@pytest.mark.parametrize("block", [name for name in BLOCKS.names() if BLOCKS.get(name).se_bases])
def test_se_base_is_used_as_named_or_refused_never_remapped(block: str, se_base: str) -> None:
    kind = BLOCKS.get(block)
    assert kind.se_rounding in SE_ROUNDINGS
    stage = Stage(block, depth=1, channels=32, se=0.25, **({"expand": 4} if "expand" in kind.stage_fields else {}))
    genome = tiny(stage, quirks=Quirks(se_base=se_base, channel_divisor=1))
    if se_base not in kind.se_bases:
        with pytest.raises(ss.GenomeError, match=rf"stages\[0\]\.quirks\.se_base '{se_base}' cannot be used by block "
                                                 rf"'{block}': its SE can only be based on 'in' or 'mid'"):
            ss.resolve(genome)
        assert ss.resolve(dataclasses.replace(genome, stages=(dataclasses.replace(stage, se=0.0),)))  # no SE, no clash
        return
    spec = ss.resolve(genome).stages[0][0]
    base = {"in": spec.cin, "mid": spec.mid, "out": spec.cout}[se_base]
    assert spec.se == se_channels(base, 0.25, 1, kind.se_rounding)


@pytest.mark.parametrize("base", [8, 18, 30, 72, 96, 150, 200, 672, 1000])
def test_se_roundings_are_the_reference_codes(base: int) -> None:
    from timm.layers import make_divisible as timm_make_divisible
    from torchvision.models._utils import _make_divisible as torchvision_make_divisible

    assert se_channels(base, 0.25, 1, "truncate") == max(1, int(base * 0.25))  # TF EfficientNet / MnasNet
    assert se_channels(base, 0.25, 8, "truncate") == torchvision_make_divisible(base // 4, 8)  # MobileNetV3
    assert se_channels(base, 0.25, 1, "round") == max(1, int(round(base * 0.25)))  # pycls RegNetY
    assert se_channels(base, 1 / 16, 8, "round") == timm_make_divisible(base / 16, 8, round_limit=0.0)  # SE-ResNet


def test_v1_rounds_with_the_ninety_percent_guard_and_v2_without() -> None:
    stages = (Stage("mbconv", depth=1, channels=44, expand=4),)
    v1 = ss.resolve(tiny(*stages, width_mult=0.25, quirks=Quirks(round_limit=0.9)))
    v2 = ss.resolve(tiny(*stages, width_mult=0.25, quirks=Quirks(round_limit=0.0)))
    # 44 * 0.25 = 11: nearest multiple of 8 is 8, below 90% of 11, so v1 takes 16.
    assert v1.stages[0][0].cout == 16 and v2.stages[0][0].cout == 8


def test_no_released_v2_config_puts_se_in_fused_stages() -> None:
    for name in ("efficientnetv2_s", "efficientnetv2_m", "efficientnetv2_l"):
        for stage in zoo.get(name).stages:
            if stage.block == "fused":
                assert stage.se == 0.0


def test_expansion_ratio_one_has_no_expansion_conv() -> None:
    block = ss.build(zoo.get("mobilenet_v2")).stages[0][0]
    assert list(dict(block.named_children())) == ["dw", "project"]
    block = ss.build(zoo.get("mobilenet_v2")).stages[1][0]
    assert list(dict(block.named_children())) == ["expand", "dw", "project"]


def test_fused_mbconv_with_expansion_one_is_a_single_conv() -> None:
    model = ss.build(zoo.get("efficientnetv2_s"))
    assert list(dict(model.stages[0][0].named_children())) == ["conv"]
    assert model.stages[0][0].conv.conv.kernel_size == (3, 3) and model.stages[0][0].residual
    assert list(dict(model.stages[1][0].named_children())) == ["expand", "project"]
    assert model.stages[1][0].expand.conv.kernel_size == (3, 3)


def _has_identity_shortcut(block: str) -> bool:
    """Whether a single-input block's spec decides an identity shortcut (pooling, dense, fire... have none)."""
    try:
        spec = ss.resolve(tiny(Stage(block, depth=1, channels=16, expand=4))).stages[0][0]
    except ss.GenomeError:
        return False
    return not BLOCKS.get(block).two_inputs and hasattr(spec, "residual")


@pytest.mark.parametrize(("cin", "cout", "stride", "skip", "residual"), [
    (16, 16, 1, True, True), (16, 24, 1, True, False), (16, 16, 2, True, False), (16, 16, 1, False, False),
])
@pytest.mark.parametrize("block", [name for name in BLOCKS.names() if _has_identity_shortcut(name)])
def test_identity_shortcut_only_when_shapes_allow(block: str, cin: int, cout: int, stride: int, skip: bool,
                                                  residual: bool) -> None:
    genome = tiny(Stage(block, depth=1, channels=cout, stride=stride, expand=4, skip=skip))
    genome = dataclasses.replace(genome, stem=Stem(channels=cin))
    try:
        spec = ss.resolve(genome).stages[0][0]
    except ss.GenomeError:  # a block that refuses other shapes (convnext: downsampling is its own stage) has no say
        assert not residual
        return
    assert spec.residual is residual


def test_stochastic_depth_grows_linearly_over_blocks() -> None:
    spec = ss.resolve(zoo.get("efficientnet_b0"))
    rates = [b.drop_path for b in spec.blocks()]
    assert len(rates) == 16
    assert rates == pytest.approx([0.2 * i / 16 for i in range(16)])


@pytest.mark.parametrize("genome", [
    tiny(Stage("mbconv", depth=4, channels=16, expand=2), drop_path=0.9),  # the residual branch is dropped
    dataclasses.replace(cell_network("d", PNASNET_5, None, cells=1, filters=8, stem=8, resolution=33, num_classes=10),
                        drop_path=0.5),  # each op's output is dropped
], ids=["residual", "cell"])
def test_drop_path_is_random_in_training_and_off_in_eval(genome: Network) -> None:
    model = ss.build(genome)
    x = torch.randn(8, 3, genome.resolution, genome.resolution)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model.forward_features(x)
    torch.manual_seed(1)
    b = model.forward_features(x)
    assert not torch.allclose(a, b)


def test_dropout_sits_right_before_the_classifier() -> None:
    head = ss.build(zoo.get("efficientnet_b7")).head
    names = list(dict(head.named_children()))
    assert names[-2:] == ["dropout", "classifier"] and head.dropout.p == 0.5


def test_tf_same_padding_pads_bottom_right_on_strided_convs() -> None:
    spec = ConvSpec(4, 4, kernel=3, stride=2, padding="same")
    module = spec.build()
    x = torch.randn(1, 4, 9, 9)
    # TF SAME for 9 -> 5 with k3 s2: total pad 2, split 1/1; for 8 -> 4: total 1, all on bottom/right.
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1)), module.conv.weight, stride=2)
    assert torch.allclose(module.conv(x), expected)
    x = torch.randn(1, 4, 8, 8)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), module.conv.weight, stride=2)
    assert torch.allclose(module.conv(x), expected)
    assert spec.cost((9, 9))[1] == (5, 5) and conv_out_size(8, 3, 2, "same") == 4


@pytest.mark.parametrize("name", ["relu", "relu6", "swish", "silu", "hard_swish", "hard_sigmoid", "sigmoid"])
def test_the_papers_activations_are_registered(name: str) -> None:
    assert name in ACTIVATIONS


def test_hard_activations_follow_mobilenet_v3() -> None:
    x = torch.linspace(-5, 5, 101)
    assert torch.allclose(make_act("hard_sigmoid")(x), F.relu6(x + 3) / 6)
    assert torch.allclose(make_act("hard_swish")(x), x * F.relu6(x + 3) / 6)
    assert torch.allclose(make_act("swish")(x), x * torch.sigmoid(x))


def test_registries_refuse_duplicates_and_suggest_names() -> None:
    registry: Registry[int] = Registry("thing")
    registry.register("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("alpha", 2)
    with pytest.raises(KeyError, match="did you mean 'alpha'"):
        registry.get("alpah")


def test_channels_last_and_batch_shapes() -> None:
    model = ss.build(tiny(Stage("fused", depth=2, channels=24, stride=2, expand=4, se=0.25))).eval()
    x = torch.randn(3, 3, 32, 32)
    y = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    assert torch.allclose(y, model(x), atol=1e-5)


@pytest.mark.parametrize("block", ["pool", "avgpool"])
def test_pool_stage_keeps_the_width_halves_the_size_and_costs_nothing(block: str) -> None:
    g = Network(name="p", stem=Stem(channels=16, kernel=7, stride=2),
                stages=(Stage(block, depth=1, channels=999, stride=2, kernel=3),
                        Stage("conv", depth=1, channels=24, stride=1)), head=Head(channels=0), resolution=64)
    pooled = ss.cost(g)
    module = ss.build(g)
    assert module.stages[0][0](torch.zeros(1, 16, 32, 32)).shape == (1, 16, 16, 16)
    assert pooled.params == n_params(module) and pooled.macs == counted_macs(module, (1, 3, 64, 64))
