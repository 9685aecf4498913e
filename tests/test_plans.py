"""One plan per block: the plan vocabulary runs and costs as its forward reads, and every block type uses it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import search_spaces as ss
from search_spaces.blocks import BLOCKS, BlockType, next_prev
from search_spaces.layers import (
    ADD,
    CONCAT,
    MULTIPLY,
    ChannelShuffle,
    ChannelSplit,
    ConvSpec,
    DropPath,
    GraphBuilder,
    Plan,
    PlanModule,
    PoolSpec,
    channel_shuffle,
    plan_cost,
)
from search_spaces.testing import random_network
from tests.conftest import counted_macs, n_params


def _fire_like() -> tuple[PlanModule, ConvSpec, ConvSpec, ConvSpec]:
    squeeze, left, right = ConvSpec(8, 4, 1, act="relu"), ConvSpec(4, 6, 1), ConvSpec(4, 10, 3)
    g = GraphBuilder()
    s = g("squeeze", squeeze, g.input())
    g("cat", CONCAT, g("left", left, s), g("right", right, s))
    return g.graph().build(), squeeze, left, right


def test_a_graph_runs_as_its_forward_reads() -> None:
    module, *_ = _fire_like()
    x = torch.randn(2, 8, 7, 7)
    s = module.squeeze(x)
    assert torch.equal(module(x), torch.cat([module.left(s), module.right(s)], 1))
    assert [name for name, _ in module.named_children()] == ["squeeze", "left", "right"]  # combinators build nothing


def test_a_graph_costs_what_it_builds() -> None:
    module, *_ = _fire_like()
    g = GraphBuilder()
    s = g("squeeze", ConvSpec(8, 4, 1, act="relu"), g.input())
    g("cat", CONCAT, g("left", ConvSpec(4, 6, 1), s), g("right", ConvSpec(4, 10, 3), s))
    cost, size = plan_cost(g.graph(), (7, 7))
    assert size == (7, 7) and cost.params == n_params(module)
    assert cost.macs == counted_macs(module, (1, 8, 7, 7))


def test_branches_of_different_sizes_cannot_be_joined() -> None:
    g = GraphBuilder()
    x = g.input()
    g("cat", CONCAT, g("a", ConvSpec(4, 4, 3, 2), x), g("b", PoolSpec("max", 3, 1), x))
    with pytest.raises(ValueError, match="Concat of feature maps of different sizes"):
        plan_cost(g.graph(), (8, 8))


def test_a_layer_reads_only_values_already_written() -> None:
    g = GraphBuilder()
    with pytest.raises(ValueError, match=r"layer 'a' must read earlier values \(0\.\.0\), got \[1\]"):
        g("a", ConvSpec(4, 4), 1)
    with pytest.raises(ValueError, match="input 1 of a block with 1 inputs"):
        g.input(1)


def test_a_two_input_graph_needs_the_input_it_reads() -> None:
    g = GraphBuilder(inputs=2)
    g("add", ADD, g("a", ConvSpec(4, 4), g.input(0)), g("b", ConvSpec(4, 4), g.input(1)))
    with pytest.raises(ValueError, match="layer 'b' reads a block input that was not given"):
        plan_cost(g.graph(), (8, 8), None)
    module = g.graph().build()
    x, prev = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    assert torch.equal(module(x, prev), module.a(x) + module.b(prev))


def test_dotted_names_group_children_in_containers() -> None:
    g = GraphBuilder()
    x = g.input()
    g("cat", CONCAT, g("ops.0", ConvSpec(4, 4), x), g("ops.3", ConvSpec(4, 4), x))
    module = g.graph().build()
    assert [key for key in module.state_dict()] == ["ops.0.conv.weight", "ops.3.conv.weight"]


def test_nested_plans_are_child_modules_with_their_own_names() -> None:
    inner = Plan((("conv", ConvSpec(4, 4, 3)),), residual=True)
    module = Plan((("block", inner), ("pool", PoolSpec("max", 3, 2)))).build()
    assert list(module.state_dict()) == ["block.conv.conv.weight"] and module.block.residual
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(module(x), module.pool(module.block.conv(x) + x))


def test_channel_split_and_shuffle_are_shufflenets() -> None:
    x = torch.arange(12.0).view(1, 12, 1, 1)
    assert torch.equal(ChannelSplit(2, 1).apply([x], False), x[:, 6:])
    assert torch.equal(ChannelShuffle(3).apply([x], False), channel_shuffle(x, 3))
    assert [int(v) for v in channel_shuffle(x, 3).flatten()] == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


def test_multiply_gates_and_drop_path_drops_only_in_training() -> None:
    x, gate = torch.randn(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    assert torch.equal(MULTIPLY.apply([x, gate], False), x * gate)
    assert torch.equal(DropPath(0.5).apply([x], False), x)
    torch.manual_seed(0)
    dropped = DropPath(0.5).apply([x], True)
    kept = [bool(torch.equal(d, 2 * v)) for d, v in zip(dropped, x)]
    assert any(kept) and not all(kept) and all(k or not d.any() for k, d in zip(kept, dropped))


@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_block_type_is_built_and_costed_from_its_plan(block: str) -> None:
    kind = type(BLOCKS.get(block))
    assert kind.build is BlockType.build  # no module of its own
    # No cost sum of its own, but for cells: theirs walks the wiring their plan is made from (test_cells.py
    # checks it equals plan_cost of the plan and the built module, for random cells)
    assert kind.cost is BlockType.cost or block == "cell"
    genome = random_network(0, blocks=(block,))
    model = ss.build(genome)
    assert all(type(module) is PlanModule for stage in model.stages for module in stage)
    assert not any(type(m).__module__.startswith("search_spaces.blocks") for m in model.modules())


def test_plan_modules_keep_no_second_name_for_a_child() -> None:
    module = Plan((("conv", ConvSpec(4, 4)),), residual=True, shortcut=ConvSpec(4, 4), post_act="relu").build()
    assert [name for name, _ in module.named_children()] == ["conv", "shortcut", "post_act"]
    assert isinstance(module.post_act, nn.ReLU)


@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_block_types_cost_equals_the_cost_of_its_plan(block: str) -> None:
    """Whatever path a block type costs by (the cell walks its wiring), the result is plan_cost of its plan."""
    for seed in range(3):
        net = ss.resolve(random_network(seed, blocks=(block,)))
        _, size = net.stem.cost((net.resolution, net.resolution))
        prev = None
        for spec in net.blocks():
            kind = BLOCKS.get(spec.kind)
            prev_size = prev if kind.two_inputs else None
            inputs = (size, prev_size) if kind.two_inputs else (size,)
            assert kind.cost(spec, size, prev_size) == plan_cost(kind.plan(spec), *inputs)
            prev, size = next_prev(spec, size, prev), kind.cost(spec, size, prev_size)[1]
