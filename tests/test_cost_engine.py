"""The cost engine: a genome costed stage by stage equals its resolved spec costed block by block."""

from __future__ import annotations

import dataclasses
import random
import sys

import pytest
import torch

import search_spaces as ss
from search_spaces import Network, Stage, Stem, zoo
from search_spaces.blocks import BLOCKS, BlockType, ChainBlock, Plan, plan_cost
from search_spaces.cost import clear_caches
from search_spaces.errors import GenomeError
from search_spaces.genome import Head, Norm
from search_spaces.layers import ConvSpec
from search_spaces.testing import random_genotype, random_network
from tests.conftest import counted_macs, n_params

cost_module = sys.modules["search_spaces.cost"]  # the package's ``cost`` attribute is the function


def resolved_cost(genome: Network, resolution: int | None = None) -> ss.Cost:
    """The reference path: every block resolved, then costed one by one."""
    return ss.cost(ss.resolve(genome, resolution), resolution)


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_genome_costs_what_its_resolved_spec_costs(name: str) -> None:
    genome = zoo.get(name)
    assert ss.cost(genome) == resolved_cost(genome)
    assert ss.cost(genome, 97) == resolved_cost(genome, 97)


@pytest.mark.parametrize("seed", range(200))
def test_random_genome_costs_what_its_resolved_spec_costs(seed: int) -> None:
    genome = random_network(seed)
    assert ss.cost(genome) == resolved_cost(genome)
    assert ss.cost(genome, 71) == resolved_cost(genome, 71)


def test_warm_and_cold_memos_give_the_same_cost() -> None:
    genomes = [zoo.get(name) for name in zoo.names()] + [random_network(seed) for seed in range(50)]
    clear_caches()
    cold = []
    for genome in genomes:
        clear_caches()
        cold.append(ss.cost(genome))
    clear_caches(genomes=True, blocks=False)  # stage and block memos now hold every network's parts
    assert [ss.cost(genome) for genome in genomes] == cold


def test_a_memoised_stage_is_costed_where_it_stands() -> None:
    shared = Stage("mbconv", depth=3, channels=24, stride=2, expand=4)
    narrow = tiny(Stage("conv", depth=1, channels=8), shared)
    wide = tiny(Stage("conv", depth=1, channels=16, stride=2), shared)
    clear_caches()
    ss.cost(narrow)
    assert ss.cost(wide) == resolved_cost(wide)  # same stage, other input width and size


def test_the_genomes_own_resolution_and_none_are_one_memo_entry() -> None:
    genome = zoo.get("efficientnet_b0")
    clear_caches()
    ss.cost(genome, 224)
    ss.cost(genome)
    assert cost_module._genome_cost.cache_info().currsize == 1


def test_deep_stages_count_repeated_blocks_exactly() -> None:
    genome = tiny(Stage("mbconv", depth=40, channels=16, expand=3, se=0.25), drop_path=0.3)
    model = ss.build(genome)
    assert ss.cost(genome).params == n_params(model)
    assert ss.cost(genome).macs == counted_macs(model, (1, 3, 32, 32))


@dataclasses.dataclass(frozen=True)
class ShrinkSpec:
    kind: str
    cin: int
    cout: int
    stride: int
    drop_path: float = dataclasses.field(compare=False)


class Shrink(BlockType):
    """A test block whose unpadded 3x3 conv shrinks its input by 2 even at stride 1."""

    def resolve(self, stage: Stage, ctx) -> ShrinkSpec:
        return ShrinkSpec("shrink", ctx.cin, ctx.cout, ctx.stride, ctx.drop_path)

    def plan(self, spec: ShrinkSpec) -> Plan:
        return Plan((("conv", ConvSpec(spec.cin, spec.cout, 3, spec.stride, padding="valid")),))

    def build(self, spec: ShrinkSpec) -> torch.nn.Module:
        return ChainBlock(self.plan(spec))

    def cost(self, spec: ShrinkSpec, size, prev_size=None):
        return plan_cost(self.plan(spec), size)


def test_repeated_blocks_that_change_the_size_are_costed_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BLOCKS._entries, "shrink", Shrink())  # registered for this test only
    genome = tiny(Stage("shrink", depth=5, channels=8))
    clear_caches()
    model = ss.build(genome)
    assert ss.cost(genome) == resolved_cost(genome)
    assert ss.cost(genome).macs == counted_macs(model, (1, 3, 32, 32))
    clear_caches()


def test_cells_after_plain_stages_see_the_right_previous_input() -> None:
    cell = random_genotype(random.Random(3))
    genome = tiny(Stage("conv", depth=2, channels=8, stride=2), Stage("cell", depth=4, channels=6, cell=cell),
                  Stage("cell", depth=2, channels=12, stride=2, cell=cell))
    model = ss.build(genome)
    assert ss.cost(genome) == resolved_cost(genome)
    assert ss.cost(genome).macs == counted_macs(model, (1, 3, 32, 32))
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(("genome", "match"), [
    (lambda: tiny(Stage("mbconv", depth=1, channels=8, act="relu7")), "stages\\[0\\].act: unknown activation"),
    (lambda: tiny(Stage("mbcnov", depth=1, channels=8)), "stages\\[0\\].block: unknown block type"),
    (lambda: tiny(Stage("cell", depth=1, channels=8)), "stages\\[0\\].cell must be a genotype"),
    (lambda: dataclasses.replace(tiny(Stage("conv", depth=1, channels=8)), norm=Norm(name="layrnorm")),
     "norm.name: unknown norm"),
])
def test_cost_refuses_what_resolve_refuses_with_the_same_sentence(genome, match: str) -> None:
    g = genome()
    with pytest.raises(GenomeError, match=match) as from_cost:
        ss.cost(g)
    with pytest.raises(GenomeError) as from_resolve:
        ss.resolve(g)
    assert (str(from_cost.value), from_cost.value.field) == (str(from_resolve.value), from_resolve.value.field)


@pytest.mark.parametrize("resolution", [0, 10_001, True, 3.5])
def test_cost_refuses_resolutions_resolve_refuses(resolution) -> None:
    genome = zoo.get("resnet18")
    with pytest.raises(GenomeError, match="resolution must be an integer") as from_cost:
        ss.cost(genome, resolution)
    with pytest.raises(GenomeError) as from_resolve:
        ss.resolve(genome, resolution)
    assert str(from_cost.value) == str(from_resolve.value)


def tiny(*stages: Stage, **kw) -> Network:
    """A small network around the given stages."""
    return Network(name="tiny", stem=Stem(channels=16), stages=stages, head=Head(channels=32), resolution=32,
                   num_classes=10, **kw)
