"""Latency: measurement, the per-block lookup table, the learned correction and both evaluators.

Tiny networks and few timed calls throughout; no assertion is made on how long anything takes.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import search_spaces as ss
from nas.evaluators import RunContext, evaluate, get
from nas.evaluators.latency import LatencyEvaluator, LatencyLUTEvaluator, LatencySettings, clear_table_cache
from nas.latency import cache as lat_cache
from nas.latency.cli import main as latency_main
from nas.latency.lut import LatencyTable, MissingEntryError, spec_key
from nas.latency.measure import LatencyStats, device_fingerprint, measure, measure_genome
from nas.latency.predictor import FEATURES, LatencyPredictor, accuracy, features, fit_correction
from nas.latency.space_table import TableRecipe
from search_spaces.errors import UserInputError
from search_spaces.spaces.cells import PNASNET_5, cell_network
from search_spaces.testing import random_network

ROOT = Path(__file__).resolve().parents[1]
lat_measure = importlib.import_module("nas.latency.measure")  # the module: the package re-exports `measure`
TINY = dataclasses.replace(ss.zoo.get("efficientnet_b0"), resolution=32, num_classes=10)
CELLS = cell_network("tiny_pnas", PNASNET_5, None, cells=1, filters=8, stem=8, resolution=33, num_classes=10)
# The steady allocator is process-wide; only a subprocess test turns it on, the suite's process keeps glibc's defaults.
FAST = {"warmup": 1, "repeats": 3, "steady": False}
LAT = {"latency_warmup": 1, "latency_repeats": 3, "latency_steady_allocator": False}


def quick_table(**kwargs: object) -> LatencyTable:
    return LatencyTable(**{"warmup": 0, "repeats": 2, "steady": False, **kwargs})  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh_tables() -> Iterator[None]:
    clear_table_cache()
    yield
    clear_table_cache()


@pytest.fixture(scope="module")
def filled() -> LatencyTable:
    """A table holding every part of TINY (measured once for the module)."""
    table = quick_table()
    table.measure_missing([TINY])
    return table


# ---------------------------------------------------------------------- measurement


def test_stats_hold_every_sample_and_the_median_lies_between_min_and_max() -> None:
    stats = measure(ss.build(TINY), (1, 3, 32, 32), warmup=1, repeats=5, steady=False)
    assert len(stats.samples_ms) == 5 and all(s > 0 for s in stats.samples_ms)
    assert stats.min_ms <= stats.median_ms <= stats.max_ms
    assert 0 <= stats.iqr_ms <= stats.max_ms - stats.min_ms


def test_stats_summary_of_known_samples() -> None:
    stats = LatencyStats.from_samples([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (stats.median_ms, stats.iqr_ms, stats.min_ms, stats.max_ms) == (3.0, 2.0, 1.0, 5.0)
    assert stats.samples_ms == (4.0, 1.0, 3.0, 2.0, 5.0)  # in the order they ran


def test_measuring_restores_the_thread_count_and_leaves_the_model_in_eval_mode() -> None:
    torch.set_num_threads(2)
    model = ss.build(TINY).train()
    measure(model, (1, 3, 32, 32), threads=1, **FAST)
    assert torch.get_num_threads() == 2 and not model.training


def test_thread_count_is_restored_even_when_the_model_fails() -> None:
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError):
        measure(ss.build(TINY), (1, 5, 32, 32), threads=1, **FAST)  # wrong input channels
    assert torch.get_num_threads() == 2


def test_measure_genome_times_the_chosen_batch_and_channels_last() -> None:
    stats = measure_genome(TINY, batch=2, resolution=24, channels_last=True, **FAST)
    assert len(stats.samples_ms) == 3 and stats.median_ms > 0


@pytest.mark.parametrize(("key", "value"), [("batch", 0), ("repeats", 0), ("warmup", -1), ("threads", 0)])
def test_bad_measurement_settings_name_the_setting(key: str, value: int) -> None:
    settings = {**FAST, key: value}
    with pytest.raises(UserInputError, match=key):
        measure_genome(TINY, **settings)  # type: ignore[arg-type]


def test_steady_allocator_stops_repeated_calls_from_page_faulting() -> None:
    # 40 MB tensors: above glibc's largest adaptive mmap threshold (32 MB), so by default each
    # one is mapped fresh and faulted in page by page; steady, the heap keeps and reuses them.
    code = ("import resource, torch; from nas.latency.measure import steady_allocator\n"
            "def faults():\n    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "def run():\n    start = faults()\n    for _ in range(3): torch.empty(10 << 20).fill_(1.0)\n"
            "    return faults() - start\n"
            "run(); before = run(); ok = steady_allocator(); run(); print(ok, before, run())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    ok, before, after = out.stdout.split()
    if ok != "True":
        pytest.skip("the C library is not glibc")
    assert int(before) > 5000 and int(after) < 100


def test_the_allocator_is_left_alone_unless_a_caller_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(lat_measure, "steady_allocator", lambda: calls.append("steady") or True)
    measure(ss.build(TINY), (1, 3, 32, 32), warmup=0, repeats=1)
    measure_genome(TINY, warmup=0, repeats=1)
    assert calls == []
    measure(ss.build(TINY), (1, 3, 32, 32), warmup=0, repeats=1, steady=True)
    assert calls == ["steady"]
    assert not LatencyTable().steady and not LatencySettings().latency_steady_allocator


def test_device_fingerprint_names_threads_and_torch_version() -> None:
    text = device_fingerprint("cpu", 3)
    assert "3 threads" in text and torch.__version__ in text
    assert device_fingerprint("cpu", 3) != device_fingerprint("cpu", 4)


# ---------------------------------------------------------------------- table keys


def test_keys_name_stem_blocks_and_head_in_forward_order() -> None:
    keys = quick_table().keys(TINY)
    assert len(keys) == len(list(ss.resolve(TINY).blocks())) + 2
    assert keys[0].startswith("stem ") and keys[-1].startswith("head ")
    assert all(k.startswith("block ") for k in keys[1:-1])
    assert "in=3x32x32" in keys[0]


def test_keys_are_stable_across_processes() -> None:
    code = ("import json, dataclasses, search_spaces as ss; from nas.latency.lut import LatencyTable; "
            "from search_spaces.spaces.cells import PNASNET_5, cell_network; "
            "g = dataclasses.replace(ss.zoo.get('efficientnet_b0'), resolution=32, num_classes=10); "
            "c = cell_network('tiny_pnas', PNASNET_5, None, cells=1, filters=8, stem=8, resolution=33, "
            "num_classes=10); "
            "t = LatencyTable(); print(json.dumps([t.keys(g), t.keys(c)]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    table = quick_table()
    assert json.loads(out.stdout) == [list(table.keys(TINY)), list(table.keys(CELLS))]


def test_keys_ignore_the_training_only_drop_path_rate_but_not_the_input_size() -> None:
    table = quick_table()
    assert table.keys(dataclasses.replace(TINY, drop_path=0.3)) == table.keys(TINY)
    assert table.keys(TINY, resolution=64) != table.keys(TINY)


def test_spec_keys_write_equal_numbers_alike_and_refuse_unstable_values() -> None:
    assert spec_key((1, 1.0, True)) == "(1,1,1)"
    assert spec_key((0.25, "a", None)) == '(0.25,"a",None)'
    with pytest.raises(TypeError):
        spec_key(object())


# ---------------------------------------------------------------------- table contents


def test_prediction_is_positive_and_the_sum_of_the_table_entries(filled: LatencyTable) -> None:
    parts = filled.breakdown(TINY)
    assert all(ms > 0 for _, ms in parts)
    assert filled.predict(TINY) == pytest.approx(sum(ms for _, ms in parts))
    assert filled.predict(TINY) == pytest.approx(sum(filled.entries[k] for k in filled.keys(TINY)))


def test_each_distinct_part_is_measured_once(filled: LatencyTable) -> None:
    assert len(filled) == len(set(filled.keys(TINY)))
    assert filled.measure_missing([TINY, dataclasses.replace(TINY, drop_path=0.1)]) == 0


def test_missing_parts_raise_by_default_saying_how_to_fill_them() -> None:
    with pytest.raises(MissingEntryError, match="measure_missing"):
        quick_table().predict(TINY)


def test_missing_parts_are_measured_on_demand_when_asked() -> None:
    table = quick_table(on_missing="measure")
    assert table.predict(TINY) > 0 and len(table) == len(set(table.keys(TINY)))
    other = quick_table()
    assert other.predict(TINY, missing="measure") > 0
    with pytest.raises(UserInputError, match="missing"):
        other.predict(TINY, missing="guess")


def test_two_input_cells_are_timed_with_their_previous_input() -> None:
    table = quick_table()
    table.measure_missing([CELLS])
    blocks = [k for k in table.keys(CELLS) if k.startswith("block ")]
    assert blocks[0].endswith("prev=none") and all(" prev=" in k for k in blocks)
    assert not blocks[1].endswith("prev=none")
    assert table.predict(CELLS) > 0
    pnas = dataclasses.replace(ss.spaces.get("pnas").sample(0), resolution=32)
    assert table.predict(pnas, missing="measure") == pytest.approx(sum(ms for _, ms in table.breakdown(pnas)))


def test_random_genomes_of_every_block_type_are_predicted() -> None:
    genomes = [random_network(seed) for seed in range(3)]
    table = quick_table(repeats=1)
    table.measure_missing(genomes)
    assert all(table.predict(g) > 0 for g in genomes)


# ---------------------------------------------------------------------- files


def test_save_load_round_trip(filled: LatencyTable, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "table.json"
    filled.extras["note"] = {"x": 1}
    try:
        filled.save(path)
    finally:
        del filled.extras["note"]
    loaded = LatencyTable.load(path)
    assert loaded.entries == filled.entries and loaded.settings() == filled.settings()
    assert loaded.fingerprint == filled.fingerprint and loaded.extras == {"note": {"x": 1}}
    assert loaded.predict(TINY) == pytest.approx(filled.predict(TINY))
    assert [p.name for p in path.parent.iterdir()] == ["table.json"]  # no temporary file left behind


def test_load_refuses_a_table_measured_on_another_device(filled: LatencyTable, tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    data = filled.to_dict()
    data["fingerprint"] = "Imaginary CPU; 64 cores; 1 threads; torch 0.0"
    path.write_text(json.dumps(data))
    with pytest.raises(UserInputError, match="Imaginary CPU") as err:
        LatencyTable.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    foreign = LatencyTable.load(path, allow_other_device=True, on_missing="measure")
    assert foreign.predict(TINY) == pytest.approx(filled.predict(TINY))
    with pytest.raises(UserInputError, match="cannot take new measurements"):
        foreign.predict(dataclasses.replace(TINY, resolution=40))


@pytest.mark.parametrize("content", ["{not json", '{"format": "something else"}', '{"format": "nas-latency-table/1"}'])
def test_load_names_the_file_when_it_is_not_a_usable_table(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserInputError, match="bad.json"):
        LatencyTable.load(path)
    with pytest.raises(UserInputError, match="no such"):
        LatencyTable.load(tmp_path / "absent.json")


# ---------------------------------------------------------------------- learned correction


def test_correction_recovers_a_known_linear_relation() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 10, size=(30, len(FEATURES)))
    y = 2.0 + x @ np.array([1.2, 0.5, 0.1, 0.3, 0.05])
    fit = fit_correction(x, y, ridge=0.0)
    assert fit.intercept == pytest.approx(2.0, abs=1e-6)
    assert fit.weights == pytest.approx((1.2, 0.5, 0.1, 0.3, 0.05), abs=1e-6)
    assert fit.train.within_5 == 1.0 and fit.cross_validated is not None and fit.cross_validated.n == 30


def test_correction_needs_enough_models() -> None:
    with pytest.raises(UserInputError, match="at least"):
        fit_correction([[1.0] * len(FEATURES)] * 3, [1.0, 2.0, 3.0])


def test_accuracy_counts_shares_within_bounds() -> None:
    acc = accuracy([1.0, 1.08, 0.8, 1.2], [1.0, 1.0, 1.0, 1.0])
    assert (acc.n, acc.within_5, acc.within_10) == (4, 0.25, 0.5)
    assert acc.max_abs_pct == pytest.approx(20.0) and acc.mean_pct == pytest.approx(2.0)


def test_predictor_saves_its_correction_with_the_table(tmp_path: Path) -> None:
    genomes = [dataclasses.replace(TINY, resolution=r) for r in (32, 40, 48, 56, 64, 72, 80, 88)]
    table = quick_table(repeats=1)
    predictor = LatencyPredictor(table)
    measured = [2.0 * features(table, g, missing="measure")[0] + 1.0 for g in genomes]  # a synthetic truth
    predictor.fit(genomes, measured, ridge=0.0)
    path = tmp_path / "predictor.json"
    predictor.save(path)
    loaded = LatencyPredictor.load(path)
    assert loaded.correction == predictor.correction
    assert loaded.predict(TINY) == pytest.approx(predictor.predict(TINY)) == pytest.approx(measured[0], rel=1e-6)
    assert LatencyPredictor(loaded.table).predict(TINY) == pytest.approx(loaded.table_sum(TINY))


# ---------------------------------------------------------------------- evaluators


def test_evaluators_are_registered_under_their_names() -> None:
    assert isinstance(get("latency"), LatencyEvaluator) and isinstance(get("latency-lut"), LatencyLUTEvaluator)


def test_measured_evaluator_reports_median_spread_and_a_chosen_batch() -> None:
    torch.set_num_threads(2)
    budget = {**LAT, "latency_batch": 2, "latency_threads": 1}
    metrics = evaluate(TINY, [get("latency")], RunContext(budget=budget))
    assert not metrics.failed, metrics.reason
    assert metrics.latency_ms > 0 and metrics.extra["latency_iqr_ms"] >= 0
    assert metrics.extra["latency_batch"] == 2.0 and metrics.extra["latency_batch_ms"] > 0
    assert torch.get_num_threads() == 2


def test_measured_evaluator_names_a_bad_budget_key() -> None:
    metrics = evaluate(TINY, [get("latency")], RunContext(budget={**LAT, "latency_repeats": 0}))
    assert metrics.failed and "latency_repeats" in metrics.reason


def test_lut_evaluator_predicts_from_a_saved_table(filled: LatencyTable, tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    filled.save(path)
    metrics = evaluate(TINY, [get("latency-lut")], RunContext(budget={"latency_table": str(path)}))
    assert not metrics.failed, metrics.reason
    assert metrics.latency_ms == pytest.approx(filled.predict(TINY))
    assert metrics.extra["latency_table_sum_ms"] == pytest.approx(filled.predict(TINY))


def test_lut_evaluator_fails_cleanly_without_a_table_saying_how_to_make_one(tmp_path: Path) -> None:
    absent = evaluate(TINY, [get("latency-lut")], RunContext(budget={"latency_table": str(tmp_path / "no.json")}))
    assert absent.failed and absent.latency_ms is None
    assert "latency_table" in absent.reason and "no.json" in absent.reason and "nas.latency table" in absent.reason
    unset = evaluate(TINY, [get("latency-lut")], RunContext())  # a zoo model: no space to build a table for
    assert unset.failed and "latency_space" in unset.reason and "latency_table" in unset.reason


def test_lut_evaluator_fails_a_genome_the_table_does_not_cover(filled: LatencyTable, tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    filled.save(path)
    metrics = evaluate(dataclasses.replace(TINY, resolution=48), [get("latency-lut")],
                       RunContext(budget={"latency_table": str(path)}))
    assert metrics.failed and "latency_missing=measure" in metrics.reason and str(path) in metrics.reason
    measured = evaluate(dataclasses.replace(TINY, resolution=48), [get("latency-lut")],
                        RunContext(budget={"latency_table": str(path), "latency_missing": "measure"}))
    assert not measured.failed and measured.latency_ms > 0


# ---------------------------------------------------------------------- tables for a space, on first use

#: A table command small enough for the default suite: 32 px, few samples, one timed call per part.
TINY_TABLE = ["--space", "mbconv", "--resolution", "32", "--num-classes", "10", "--samples", "8", "--warmup", "0",
              "--repeats", "1", "--model-warmup", "0", "--model-repeats", "1", "--quiet"]


def test_table_command_writes_a_table_and_correction_covering_its_samples(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "tables" / "mbconv.json"
    # This process is the test suite's: it keeps glibc's allocator (the command's default is steady).
    assert latency_main(["table", *TINY_TABLE, "--fit", "7", "--no-steady-allocator", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    predictor = LatencyPredictor.load(out)
    assert predictor.correction is not None and predictor.correction.train.n == 7
    assert predictor.table.settings()["steady"] is False and predictor.table.batch == 1
    space = ss.spaces.get("mbconv", resolution=32, num_classes=10)
    assert all(predictor.predict(space.sample(seed)) > 0 for seed in range(8))  # every sample's parts are in it
    assert [p.name for p in out.parent.iterdir()] == ["mbconv.json"]  # written atomically: no temporary left


@pytest.mark.parametrize(("extra", "needle"), [
    (["--space", "mbconvv"], "unknown search space 'mbconvv'; did you mean 'mbconv'?"),
    (["--fit", "3"], "at least 7"),
    (["--fit", "9"], "cannot exceed samples"),
    (["--resolution", "4"], "resolution must be an integer from 8"),
    (["--threads", "0"], "threads must be an integer from 1"),
])
def test_table_command_refuses_bad_input_in_one_sentence(extra: list[str], needle: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "table.json"
    assert latency_main(["table", *TINY_TABLE, *extra, "--no-steady-allocator", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and not out.exists()


def test_cache_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_TOOLKIT_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lat_cache.cache_dir() == tmp_path / "mine" / "latency"
    monkeypatch.delenv("NAS_TOOLKIT_CACHE")
    assert lat_cache.cache_dir() == tmp_path / "xdg" / "nas-toolkit" / "latency"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert lat_cache.cache_dir() == tmp_path / "home" / ".cache" / "nas-toolkit" / "latency"
    assert latency_main(["where"]) == 0


def test_cached_tables_are_keyed_by_space_resolution_batch_threads_and_settings() -> None:
    base = TableRecipe(space="mbconv", resolution=224)
    path = lat_cache.cache_path(base)
    assert path == lat_cache.cache_path(TableRecipe(space="mbconv", resolution=224))  # stable
    assert path.name.startswith("mbconv_224px_b1_t1_cpu_")
    others = [dataclasses.replace(base, **change) for change in ({"space": "fused"}, {"resolution": 192},
                                                                  {"batch": 8}, {"threads": 2}, {"samples": 100},
                                                                  {"steady": True})]
    assert len({lat_cache.cache_path(r) for r in [base, *others]}) == len(others) + 1


def test_the_space_is_read_from_a_sampled_genomes_name() -> None:
    for name in ss.spaces.names():
        assert lat_cache.space_of(ss.spaces.get(name).sample(0)) == name
    assert lat_cache.space_of(TINY) is None  # a zoo model


def test_lut_evaluator_reads_this_devices_cached_table_for_the_genomes_space(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_TOOLKIT_CACHE", str(tmp_path))
    genome = ss.spaces.get("mbconv", resolution=32, num_classes=10).sample(3)
    recipe = TableRecipe(space="mbconv", resolution=32, num_classes=10, steady=True)  # what latency-lut asks for
    table = quick_table()
    table.measure_missing([genome])
    table.save(lat_cache.cache_path(recipe))
    metrics = evaluate(genome, [get("latency-lut")], RunContext(device="cpu"))
    assert not metrics.failed, metrics.reason
    assert metrics.latency_ms == pytest.approx(table.predict(genome))


def test_two_processes_needing_the_same_missing_table_build_it_once(tmp_path: Path) -> None:
    code = ("from nas.latency.cache import cached_table; from nas.latency.space_table import TableRecipe; "
            "print(cached_table(TableRecipe(space='mbconv', resolution=32, num_classes=10, samples=4, fit=0, "
            "warmup=0, repeats=1, steady=True)))")
    env = {**os.environ, "NAS_TOOLKIT_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    errors = "".join(err for _, err in outs)
    assert errors.count("building one for space 'mbconv'") == 1 and errors.count("estimated time:") == 1
    table = LatencyTable.load(paths.pop())
    assert table.steady and len(table) > 0  # measured steady, in the builder's own process
