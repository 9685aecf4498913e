"""NASNet-style cells: op tables, two-input wiring, genotype checks, and the published cells."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest
import torch

import search_spaces as ss
from search_spaces import spaces, zoo
from torch.utils.flop_counter import FlopCounterMode

from search_spaces.blocks import BLOCKS, CELL_OPS, NASNET_OPS, PNAS_OPS, BlockContext
from search_spaces.blocks.cell import cell_cost, cell_plan, cell_wiring, clear_op_caches
from search_spaces.genome import Norm, Quirks, Stage, _check_cell, _is_plain_cell
from search_spaces.layers import Cost, plan_cost
from search_spaces.spaces.cells import NASNET_A, PNASNET_5, cell_network
from search_spaces.testing import random_genotype
from tests.conftest import counted_macs, n_params

TINY = dict(cells=1, filters=8, stem=8, resolution=33, num_classes=10)


def test_op_tables_are_the_papers() -> None:
    assert len(NASNET_OPS) == 13 and len(set(NASNET_OPS)) == 13
    assert len(PNAS_OPS) == 8 and set(PNAS_OPS) <= set(NASNET_OPS)
    assert set(NASNET_OPS) <= set(CELL_OPS.names())


@pytest.mark.parametrize("op", NASNET_OPS)
@pytest.mark.parametrize(("cin", "stride"), [(8, 1), (8, 2), (12, 1), (12, 2)])
@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_every_op_costs_what_it_builds(op: str, cin: int, stride: int, padding: str) -> None:
    layers = CELL_OPS.get(op)(cin, 8, stride, ss.Norm(), padding)
    model = torch.nn.Sequential(*(layer.build() for _, layer in layers))
    total, size = Cost(), (13, 13)
    for _, layer in layers:
        part, size = layer.cost(size)
        total = total + part
    out = model(torch.randn(1, cin, 13, 13))
    assert tuple(out.shape) == (1, 8, *size)
    assert total.params == n_params(model)
    assert total.macs == counted_macs(model, (1, cin, 13, 13))


def random_cell(seed: int) -> tuple:
    """A random resolved cell (any stride, any way of making state 1, widths that do and do not coincide),
    its input sizes, and the sizes of its two input tensors."""
    rng = random.Random(seed)
    f = rng.choice((4, 6, 8))
    cin = rng.choice((f, 2 * f, 3 * f, 5))
    prev_cin = rng.choice((0, 0, f, 2 * f, 7))
    prev_stride = rng.choice((1, 2)) if prev_cin else 1
    stride = rng.choice((1, 2))
    ctx = BlockContext(cin=cin, cout=f, stride=stride, act="relu", drop_path=rng.choice((0.0, 0.2)),
                       norm=Norm(eps=1e-3), quirks=Quirks(padding=rng.choice(("symmetric", "same"))), width_mult=1.0,
                       prev_cin=prev_cin, prev_stride=prev_stride)
    stage = Stage("cell", 1, f, stride=stride, cell=random_genotype(rng, ops=rng.choice((NASNET_OPS, PNAS_OPS))))
    spec = BLOCKS.get("cell").resolve(stage, ctx)
    side = rng.choice((7, 8, 13))
    size, prev_size = (side, side), (None if prev_cin == 0 else (side * prev_stride,) * 2)
    shapes = [(1, cin, side, side)] + ([(1, prev_cin, *prev_size)] if prev_size else [])
    return spec, size, prev_size, shapes


def test_a_cell_reading_a_missing_previous_input_is_refused_like_its_plan() -> None:
    """A combinator reading h_{i-1} when no size is given for it: the plan's walk refuses, so must the cell's."""
    ctx = BlockContext(cin=8, cout=8, stride=1, act="relu", drop_path=0.0, norm=Norm(), quirks=Quirks(),
                       width_mult=1.0, prev_cin=8, prev_stride=1)
    stage = Stage("cell", 1, 8, cell=(("identity", 1, "identity", 1, "add"), ("concat", 2)))
    spec = BLOCKS.get("cell").resolve(stage, ctx)
    for walk in (lambda: plan_cost(cell_plan(spec), (8, 8), None), lambda: cell_cost(spec, (8, 8), None)):
        with pytest.raises(ValueError, match="reads a block input that was not given"):
            walk()


@pytest.mark.parametrize("seed", range(40))
def test_a_cell_costs_its_plan_and_what_it_builds(seed: int) -> None:
    spec, size, prev_size, shapes = random_cell(seed)
    clear_op_caches()
    cost, out = cell_cost(spec, size, prev_size)
    assert cell_cost(spec, size, prev_size) == (cost, out)  # memoised parts give the same again
    assert (cost, out) == plan_cost(cell_plan(spec), size, prev_size)  # the wiring walked as the plan is
    model = BLOCKS.get("cell").build(spec).eval()
    inputs = [torch.randn(*shape) for shape in shapes]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(*inputs, *([None] if len(inputs) == 1 else []))
    assert tuple(y.shape) == (1, spec.cout, *out)
    assert cost.params == n_params(model)
    assert cost.macs == counter.get_total_flops() // 2


@pytest.mark.parametrize("seed", range(10))
def test_a_wiring_reads_only_earlier_values(seed: int) -> None:
    spec, *_ = random_cell(seed)
    for drops in (False, True):
        wiring = cell_wiring(spec, drops)
        assert len(wiring.names) == len(wiring.steps)
        assert all(step[4] and all(0 <= r < 2 + i for r in step[4]) for i, step in enumerate(wiring.steps))


def test_a_wiring_leaves_widths_open() -> None:
    spec, *_ = random_cell(3)
    wider = dataclasses.replace(spec, cin=spec.cin * 3, prev_cin=spec.prev_cin * 3, filters=spec.filters * 3,
                                cout=spec.cout * 3)
    assert cell_wiring(spec) == cell_wiring(wider)  # same shape of cell: one wiring, whatever F
    assert [name for name, _ in cell_plan(spec).layers] == [name for name, _ in cell_plan(wider).layers]


def test_identity_op_is_free_only_when_shape_is_kept() -> None:
    assert CELL_OPS.get("identity")(8, 8, 1, ss.Norm(), "same") == ()
    assert CELL_OPS.get("identity")(8, 8, 2, ss.Norm(), "same") != ()
    assert CELL_OPS.get("identity")(12, 8, 1, ss.Norm(), "same") != ()


@pytest.mark.parametrize("seed", range(20))
def test_random_cell_networks_cost_exactly(seed: int) -> None:
    rng = random.Random(seed)
    genome = cell_network(f"cells_{seed}", random_genotype(rng), random_genotype(rng) if seed % 2 else None,
                          cells=rng.randint(1, 2), filters=rng.choice((8, 10, 16)), stem=8,
                          reduction_skip=rng.random() < 0.5, resolution=rng.choice((32, 33, 47)), num_classes=10)
    model = ss.build(genome)
    c = ss.cost(genome)
    assert c.params == n_params(model)
    assert c.macs == counted_macs(model, (1, 3, genome.resolution, genome.resolution))


def test_cell_output_width_is_concat_count_times_last_node_width() -> None:
    spec = ss.resolve(cell_network("a", NASNET_A["normal"], NASNET_A["reduce"], **TINY))
    stem0, stem1, normal, reduce = list(spec.blocks())[:4]
    assert (stem0.filters, stem1.filters, normal.filters, reduce.filters) == (2, 4, 8, 16)
    assert normal.cout == 6 * 8 and reduce.cout == 4 * 16  # NASNet-A: 6 and 4 states concatenated
    concat = (("sep_conv_3x3", 0, "identity", 1, "concat"), ("concat", 2))
    spec = ss.resolve(cell_network("b", concat, None, **TINY))
    assert list(spec.blocks())[2].cout == 2 * 8


def test_first_cell_has_no_previous_input_and_later_ones_reduce_it() -> None:
    spec = ss.resolve(cell_network("p", PNASNET_5, None, **TINY))
    stem0, stem1, first, reduction, after = list(spec.blocks())
    assert stem0.prev_cin == 0  # state 1 is the stem output itself (TF: prev_layer None)
    assert stem1.prev_reduce and stem1.prev_cin == 8  # the stem conv output, twice as large
    assert first.prev_reduce and not reduction.prev_reduce and after.prev_reduce
    model = ss.build(spec)
    assert not hasattr(model.stages[0][0], "pre_prev")
    assert type(model.stages[1][0].pre_prev.reduce).__name__ == "FactorizedReduce"


def test_reduction_skip_hands_the_reduction_cells_previous_input_on() -> None:
    plain = ss.resolve(cell_network("a", NASNET_A["normal"], NASNET_A["reduce"], **TINY))
    skip = ss.resolve(cell_network("a", NASNET_A["normal"], NASNET_A["reduce"], **TINY, reduction_skip=True))
    assert not any(b.keeps_prev for b in plain.blocks())
    # stem cells are reduction cells too, but TF's flag only concerns those after a normal cell
    assert [b.keeps_prev for b in skip.blocks()] == [False, False, False, True, False, True, False]
    # NASNet-A large: cell_6 reads (reduction_cell_0, cell_4), the two-stage-old output
    seen = []
    model = ss.build(skip)
    cells = [b for stage in model.stages for b in stage]
    for cell in cells:
        cell.register_forward_hook(lambda mod, args, out: seen.append((args[0], args[1], out)))
    model.eval()(torch.randn(1, 3, 33, 33))
    normal_0, reduce_0, normal_1 = seen[2], seen[3], seen[4]
    assert reduce_0[0] is normal_0[2] and reduce_0[1] is normal_0[0]  # gets (h_i, h_i-1) as usual...
    assert normal_1[1] is reduce_0[1]  # ...and passes its own h_i-1 on, not its input h_i


@pytest.mark.parametrize(("cell", "message"), [
    ([("sep_conv_3x3", 0, "identity", 1, "add")], "concat"),
    ([("sep_conv_3x3", 2, "identity", 1, "add"), ("concat", 2)], "cell[0] input 2"),
    ([("sep_conv_3x3", 0, "identity", 1, "mul"), ("concat", 2)], "combine"),
    ([("sep_conv_3x3", 0, "identity"), ("concat", 2)], "cell[0] must be"),
    ([("sep_conv_3x3", 0, "identity", 1, "add"), ("concat", 2, 2)], "distinct"),
    ([("sep_conv_3x3", 0, "identity", 1, "add"), ("concat", 3)], "0..2"),
])
def test_bad_genotypes_are_refused_naming_the_node(cell: list, message: str) -> None:
    for given in (cell, tuple(map(tuple, cell))):  # a YAML list, and the tuples a search decodes (the quick check)
        with pytest.raises(ss.GenomeError, match=re.escape(message)):
            Stage("cell", 1, 8, cell=given)


def test_a_bool_is_refused_as_an_input_even_after_an_equal_genotype_of_ints() -> None:
    ints = (("sep_conv_3x3", 1, "identity", 0, "add"), ("concat", 2))
    assert Stage("cell", 1, 8, cell=ints).cell == ints  # memoised now; True == 1, so equal to the next one
    with pytest.raises(ss.GenomeError, match=re.escape("cell[0] must be a list of op names and input indices")):
        Stage("cell", 1, 8, cell=(("sep_conv_3x3", True, "identity", 0, "add"), ("concat", 2)))


@pytest.mark.parametrize("seed", range(30))
def test_the_quick_genotype_check_accepts_only_what_the_full_check_returns_unchanged(seed: int) -> None:
    rng = random.Random(seed)
    cell = [list(node) for node in random_genotype(rng)]
    node = rng.randrange(len(cell))  # one random item made wrong, or of a look-alike type
    item = rng.randrange(len(cell[node]))
    cell[node][item] = rng.choice((True, 1.0, "2", 7, -1, None, cell[node][item]))
    genotype = tuple(map(tuple, cell))
    try:
        checked = _check_cell(genotype)
    except ss.GenomeError:
        checked = None
    assert _is_plain_cell(genotype) == (checked is not None and checked == genotype and all(
        type(x) in (str, int) for node in genotype for x in node))


def test_unknown_op_names_the_stage_and_node() -> None:
    genome = cell_network("x", (("sep_conv_3x3", 0, "sep_conv_4x4", 1, "add"), ("concat", 2)), None, **TINY)
    with pytest.raises(ss.GenomeError, match=r"stages\[0\]\.cell\[0\].*sep_conv_4x4.*did you mean"):
        ss.resolve(genome)


def test_cell_stage_without_genotype_is_refused() -> None:
    genome = dataclasses.replace(cell_network("x", PNASNET_5, None, **TINY),
                                 stages=(Stage("cell", 1, 8, stride=2),))
    with pytest.raises(ss.GenomeError, match=r"stages\[0\]\.cell must be a genotype"):
        ss.resolve(genome)


def test_genotypes_round_trip_through_yaml(tmp_path) -> None:
    for name in ("nasnetalarge", "pnasnet5_mobile"):
        genome = zoo.get(name)
        assert ss.load(ss.dump(genome, tmp_path / f"{name}.yaml")) == genome
        assert len(ss.to_yaml(genome).split("\n- ")) == len(genome.stages) + 1  # one line per stage


def test_cell_spaces_cover_both_papers() -> None:
    nasnet, pnas = spaces.get("nasnet"), spaces.get("pnas")
    names = {d.name: d for d in nasnet.distributions()}
    assert names["normal4_in_a"].choices == (0, 1, 2, 3, 4, 5) and names["reduce0_in_b"].choices == (0, 1)
    assert names["normal2_op_a"].choices == NASNET_OPS and names["reduce3_combine"].choices == ("add", "concat")
    names = {d.name: d for d in pnas.distributions()}
    assert names["cell1_op_b"].choices == PNAS_OPS and not any(n.endswith("combine") for n in names)
    assert set(nasnet.points()) == {"nasnet_a_mobile", "nasnetalarge", "amoebanet_a_mobile", "amoebanet_a_n6_f190"}
    assert set(pnas.points()) == {"pnasnet5_mobile", "pnasnet5large"}
    assert nasnet.point("nasnetalarge").resolution == 331 and nasnet.point("nasnet_a_mobile").resolution == 224


def test_nasnet_concatenates_unused_nodes_plus_the_chosen_states() -> None:
    space = spaces.get("nasnet")
    params = space.sample_params(3)
    params.update({f"normal{k}_in_a": 0 for k in range(5)})
    params.update({f"normal{k}_in_b": 1 for k in range(5)})
    params.update({f"normal_concat{s}": False for s in range(7)})
    genome = space.decode(params)
    assert genome.stages[2].cell[-1] == ("concat", 2, 3, 4, 5, 6)
    params["normal_concat1"] = True
    assert space.decode(params).stages[2].cell[-1] == ("concat", 1, 2, 3, 4, 5, 6)
