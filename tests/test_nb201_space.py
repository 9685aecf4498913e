"""The nb201 space: NAS-Bench-201's networks, exact to an independent implementation of the reference."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
import torch

import search_spaces as ss
from search_spaces import GenomeError, Stage, spaces
from search_spaces.blocks.nb201 import OP_NAMES, node_count
from search_spaces.errors import UserInputError
from search_spaces.spaces.nb201 import RESNET, NB201Space, arch_of, nb201_network, ops_of
from search_spaces.spaces.nb201_arch import EDGES, format_arch, parse_arch
from tests import nb201_reference as reference
from tests.conftest import counted_macs, n_params

RESNET_ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
#: Cells with every kind of node: zero nodes read by convs, a skip-only output, unused nodes, pools.
CELLS = [
    RESNET,
    ("none",) * 6,
    ("nor_conv_3x3", "none", "none", "skip_connect", "nor_conv_1x1", "none"),  # node 2 is zero
    ("none", "nor_conv_1x1", "nor_conv_3x3", "none", "nor_conv_3x3", "avg_pool_3x3"),  # convs of a zero node 1
    ("avg_pool_3x3", "nor_conv_1x1", "skip_connect", "skip_connect", "none", "none"),  # output = input
    ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1"),
]


def test_arch_strings_round_trip_for_every_cell() -> None:
    for ops in itertools.product(OP_NAMES, repeat=6):
        assert parse_arch(format_arch(ops)) == ops


def test_edges_are_in_arch_string_order_and_placed_by_their_source_node() -> None:
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert format_arch(RESNET) == RESNET_ARCH
    swapped = "|nor_conv_3x3~0|+|nor_conv_3x3~1|none~0|+|none~2|skip_connect~0|none~1|"  # same edges, shuffled
    assert parse_arch(swapped) == parse_arch("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|")


@pytest.mark.parametrize(("text", "why"), [
    ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|", "has 2 node groups"),
    ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|sep_conv~2|", "unknown op 'sep_conv'"),
    ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~2|+|skip_connect~0|none~1|none~2|", "reads only nodes 0..1"),
    ("|nor_conv_3x3~0|+|none~0|none~0|+|skip_connect~0|none~1|none~2|", "gives edge 2<-0 twice"),
    ("|nor_conv_3x3~0|+|none~0|+|skip_connect~0|none~1|none~2|", "has no op for edge 2<-1"),
    ("nor_conv_3x3~0+none~0|none~1+x", "not written |op~j|...|"),
])
def test_a_bad_arch_string_is_one_sentence_naming_it(text: str, why: str) -> None:
    with pytest.raises(UserInputError, match=f"^arch string {text!r}".replace("|", r"\|").replace("+", r"\+")) as err:
        parse_arch(text)
    assert why in str(err.value) and "\n" not in str(err.value)


def test_the_dataset_sets_classes_and_input_size() -> None:
    for name, classes, side in (("cifar10", 10, 32), ("cifar100", 100, 32), ("ImageNet16-120", 120, 16),
                                ("imagenet16-120", 120, 16)):
        genome = NB201Space(name).sample(0)
        assert (genome.num_classes, genome.resolution) == (classes, side)
    assert spaces.get("nb201").for_data("cifar100:/data").sample(0).num_classes == 100
    assert spaces.get("nb201").for_data("fashion-mnist").sample(0).num_classes == 10  # not a table: the default
    with pytest.raises(UserInputError, match="unknown NAS-Bench-201 dataset 'svhn'"):
        NB201Space("svhn")


def test_decode_names_the_cell_and_the_genome_tells_its_arch_string() -> None:
    space = NB201Space()
    params = space.encode(RESNET)
    assert set(params) == {f"edge_{i}_{j}" for i, j in EDGES}
    genome = space.decode(params)
    assert arch_of(genome) == RESNET_ARCH and ops_of(genome) == RESNET
    assert space.point("nb201_resnet") == ss.zoo.get("nb201_resnet")
    assert arch_of(dataclasses.replace(genome, num_classes=100, resolution=16)) == RESNET_ARCH


@pytest.mark.parametrize("change", [
    {"width_mult": 2.0}, {"in_channels": 1},
    {"stages": nb201_network(RESNET).stages[:-1]},
    {"stages": tuple(dataclasses.replace(s, depth=4) if s.block == "nb201_cell" else s
                     for s in nb201_network(RESNET).stages)},
])
def test_a_genome_off_the_benchmarks_skeleton_has_no_arch_string(change: dict) -> None:
    with pytest.raises(UserInputError, match="is not a NAS-Bench-201 network"):
        ops_of(dataclasses.replace(nb201_network(RESNET), **change))
    with pytest.raises(UserInputError, match="is not a NAS-Bench-201 network"):
        ops_of(ss.zoo.get("resnet18"))


def test_the_resnet_cell_costs_what_the_benchmark_records() -> None:
    cost = ss.cost(ss.zoo.get("nb201_resnet"))
    assert cost.params == 559_386  # the table's 0.559386 MB, every seed
    assert cost.macs == 78_561_920  # NATS-Bench's 78.56193 MFLOPs, without the classifier's 10 bias additions


@pytest.mark.parametrize("ops", CELLS, ids=format_arch)
def test_our_network_computes_what_the_reference_computes(ops: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    ours, theirs = ss.build(nb201_network(ops)), reference.Network(ops, 10)
    mine, other = list(ours.parameters()), list(theirs.parameters())
    assert [p.shape for p in mine] == [p.shape for p in other]
    with torch.no_grad():
        for a, b in zip(mine, other):
            a.copy_(torch.randn_like(a))  # random norm shifts too: convs of zero nodes then output them
            b.copy_(a)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(ours.train()(x), theirs.train()(x))  # batch statistics, updating running ones
    torch.testing.assert_close(ours.eval()(x), theirs.eval()(x))


@pytest.mark.parametrize("data", ["cifar10", "cifar100", "ImageNet16-120"])
def test_sampled_cells_cost_build_and_count_alike(data: str) -> None:
    space = NB201Space(data)
    for seed in range(6):
        genome = space.sample(seed)
        expected = reference.params(ops_of(genome), genome.num_classes)
        assert ss.cost(genome).params == n_params(ss.build(genome)) == expected
    side = genome.resolution
    assert ss.cost(genome).macs == counted_macs(ss.build(genome), (1, 3, side, side))


def test_cells_of_any_node_count_build_as_they_cost() -> None:
    rng = random.Random(0)
    for nodes in (2, 3, 5):
        edges = tuple(rng.choice(OP_NAMES) for _ in range(nodes * (nodes - 1) // 2))
        assert node_count(len(edges)) == nodes
        genome = dataclasses.replace(nb201_network(RESNET), stages=(Stage("nb201_cell", 2, 24, edges=edges),))
        assert ss.cost(genome).params == n_params(ss.build(genome))
        assert ss.build(genome)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(("stage", "message"), [
    (Stage("nb201_cell", 1, 16, edges=("nor_conv_3x3",) * 5), "one op per edge"),
    (Stage("nb201_cell", 1, 16, edges=("nor_conv_5x5",) * 6), "unknown NAS-Bench-201 op 'nor_conv_5x5'"),
    (Stage("nb201_cell", 1, 16, stride=2, edges=RESNET), "stride must be 1 for a nb201_cell stage"),
    (Stage("nb201_reduce", 1, 16, stride=3), "stride must be 1 or 2 for a nb201_reduce stage"),
])
def test_a_bad_nb201_stage_is_refused_naming_the_field(stage: Stage, message: str) -> None:
    genome = dataclasses.replace(nb201_network(RESNET), stages=(stage,))
    with pytest.raises(GenomeError, match=message):
        ss.cost(genome)


def test_edges_are_refused_on_other_blocks_and_round_trip_through_yaml() -> None:
    with pytest.raises(GenomeError, match="edges is not read by block 'conv'"):
        Stage("conv", 1, 16, edges=RESNET)
    genome = nb201_network(RESNET)
    assert ss.from_yaml(ss.to_yaml(genome)) == genome
    assert "edges: [nor_conv_3x3, none, nor_conv_3x3, skip_connect, none, skip_connect]" in ss.to_yaml(genome)
