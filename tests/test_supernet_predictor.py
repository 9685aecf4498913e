"""The accuracy predictor, its evaluator, and specialisation for latency targets (Once-for-All)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.evaluators import RunContext, evaluate, get
from nas.supernet.cli import main
from nas.supernet.encoding import Encoding, encode, encode_batch, encode_params, encoding_of
from nas.supernet.evolution import EvolutionSettings, evolve
from nas.supernet.predictor import AccuracyPredictor
from nas.supernet.report import PLOT, TABLE_CSV, write_report, yaml_name
from nas.supernet.samples import collect, draw
from nas.supernet.space import Coverage
from nas.supernet.specialise import find_subnet, specialise
from search_spaces import codec, cost
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

ALL = Coverage()
MBCONV_ONLY = Coverage(("mbconv3", "mbconv6"))


def random_params(encoding: Encoding, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` assignments drawn from the raw (not canonical) choices, as a sampler proposes them."""
    rng = random.Random(seed)
    cov = encoding.coverage
    return [{d.name: rng.choice(cov.choices(int(d.name.split("_")[0][1:]), d.name.split("_", 1)[1]))
             for d in cov.space.distributions()} for _ in range(n)]


def linear_accuracy(encoding: Encoding, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A made-up accuracy: a fixed random linear function of the encoding, around 0.6."""
    w = np.random.default_rng(seed).normal(size=encoding.width)
    return lambda x: 0.6 + 0.01 * (x @ w)


def tiny_predictor(encoding: Encoding, mean: float = 0.5) -> AccuracyPredictor:
    predictor = AccuracyPredictor(encoding, hidden=(8,), seed=1)
    predictor.mean, predictor.std = mean, 0.01
    return predictor


# -- encoding -------------------------------------------------------------------------------------------------


def test_every_parameter_is_one_hot_over_its_canonical_choices() -> None:
    encoding = encoding_of(ALL.ops)
    assert encoding.width == sum(len(choices) for _, choices in encoding.genes)
    assert [name for name, _ in encoding.genes] == [d.name for d in ALL.space.distributions()]
    x = encoding.encode_params(random_params(encoding, 50))
    assert x.dtype == np.float32 and x.shape == (50, encoding.width)
    start = 0
    for _, choices in encoding.genes:
        assert (x[:, start:start + len(choices)].sum(axis=1) == 1).all()
        start += len(choices)


def test_an_assignment_encodes_as_the_network_it_decodes_to() -> None:
    encoding = encoding_of(ALL.ops)
    params = random_params(encoding, 200, seed=3)
    genomes = [ALL.space.decode(p) for p in params]
    assert (encoding.encode_params(params) == encode_batch(ALL, genomes)).all()
    assert (encode(ALL, genomes[0]) == encode_params(ALL, params[:1])[0]).all()
    for p, g in zip(params, genomes):
        canonical = encoding.canonical(p)
        assert ALL.space.decode(canonical).stages == g.stages  # the same network
        assert encoding.params(ALL.space.decode(canonical)) == canonical  # and it reads back


def test_two_assignments_of_one_network_share_an_encoding() -> None:
    encoding = encoding_of(ALL.ops)
    base = encoding.params(ALL.largest())
    pairs = [(name, a, b) for d in ALL.space.distributions() for name in [d.name]
             for a, b in itertools.combinations(d.choices, 2)
             if ALL.space.decode({**base, name: a}).stages == ALL.space.decode({**base, name: b}).stages]
    assert pairs  # the space has such choices (a narrow stage rounds 0.75x and 1x alike)
    for name, a, b in pairs:
        x = encoding.encode_params([{**base, name: a}, {**base, name: b}])
        assert (x[0] == x[1]).all(), name


def test_a_value_or_op_the_supernet_does_not_cover_is_one_sentence() -> None:
    encoding = encoding_of(MBCONV_ONLY.ops)
    params = encoding.params(MBCONV_ONLY.largest())
    with pytest.raises(UserInputError, match="b3_op 'conv'"):
        encoding.encode_params([{**params, "b3_op": "conv"}])
    with pytest.raises(UserInputError, match="lacks parameter 'b0_se'"):
        encoding.encode_params([{k: v for k, v in params.items() if k != "b0_se"}])
    with pytest.raises(UserInputError, match="stage 0"):
        encoding.encode(ALL.space.decode({**params, "b0_op": "conv"}))


# -- the predictor --------------------------------------------------------------------------------------------


def test_the_predictor_learns_a_function_of_the_encoding_and_generalises() -> None:
    encoding = encoding_of(ALL.ops)
    x = encoding.encode_params(random_params(encoding, 400, seed=1))
    y = linear_accuracy(encoding)(x)
    predictor = AccuracyPredictor(encoding, hidden=(32,), seed=0)
    report = predictor.fit(x[:300], y[:300], epochs=200)
    rmse = float(np.sqrt(np.mean((predictor.predict(x[300:]) - y[300:]) ** 2)))
    assert rmse < 0.2 * float(y[300:].std())  # far below predicting the mean
    assert report.train + report.validation == 300 and 1 <= report.best_epoch <= report.epochs


def test_a_fit_is_a_function_of_its_seed() -> None:
    encoding = encoding_of(ALL.ops)
    x = encoding.encode_params(random_params(encoding, 40))
    y = linear_accuracy(encoding)(x)
    fits = []
    for seed in (0, 0, 1):
        predictor = AccuracyPredictor(encoding, hidden=(16,), seed=seed)
        predictor.fit(x, y, epochs=5)
        fits.append(predictor.predict(x))
    assert (fits[0] == fits[1]).all() and not (fits[0] == fits[2]).all()


def test_an_ensemble_averages_members_whose_first_is_the_single_mlp() -> None:
    encoding = encoding_of(ALL.ops)
    x = encoding.encode_params(random_params(encoding, 60, seed=2))
    y = linear_accuracy(encoding)(x)
    single = AccuracyPredictor(encoding, hidden=(16,), seed=3, members=1)
    single.fit(x[:50], y[:50], epochs=20)
    ensemble = AccuracyPredictor(encoding, hidden=(16,), seed=3, members=3)
    report = ensemble.fit(x[:50], y[:50], epochs=20)
    assert report.members == 3 and ensemble.members == 3
    one = [AccuracyPredictor(encoding, hidden=(16,), seed=3, members=1) for _ in range(3)]
    for i, member in enumerate(one):  # each member alone, from the ensemble's weights
        member.nets[0].load_state_dict(ensemble.nets[i].state_dict())
        member.mean, member.std = ensemble.mean, ensemble.std
    alone = [member.predict(x[50:]) for member in one]
    assert np.allclose(alone[0], single.predict(x[50:]), atol=1e-6)  # member 0 is the single MLP's fit
    assert not np.allclose(alone[0], alone[1])  # the others start and shuffle differently
    assert np.allclose(ensemble.predict(x[50:]), np.mean(alone, axis=0), atol=1e-6)


@pytest.mark.parametrize("members", [0, -1, 1.5, True])
def test_a_bad_member_count_is_one_sentence(members: Any) -> None:
    with pytest.raises(UserInputError, match="members must be a positive integer"):
        AccuracyPredictor(encoding_of(ALL.ops), members=members)


def test_a_single_mlp_file_of_the_first_format_still_loads(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    encoding = encoding_of(MBCONV_ONLY.ops)
    x = encoding.encode_params(random_params(encoding, 30))
    predictor = AccuracyPredictor(encoding, hidden=(8,), seed=4, members=1)
    predictor.fit(x, linear_accuracy(encoding)(x), epochs=3)
    predictor.save(tmp_path / "p.safetensors")
    header = predictor.header()
    del header["members"], header["fit"]["members"]  # format 1 knew no members
    header["format"] = "nas-accuracy-predictor/1"
    old = {k.split(".", 1)[1]: v for k, v in load_file(tmp_path / "p.safetensors").items()}  # unprefixed, as v1 wrote
    save_file(old, tmp_path / "v1.safetensors", metadata={"format": "nas-accuracy-predictor/1",
                                                          "header": json.dumps(header)})
    loaded = AccuracyPredictor.load(tmp_path / "v1.safetensors", encoding)
    assert loaded.members == 1 and (loaded.predict(x) == predictor.predict(x)).all()


def test_a_saved_predictor_predicts_the_same_and_keeps_its_header(tmp_path: Path) -> None:
    encoding = encoding_of(MBCONV_ONLY.ops)
    x = encoding.encode_params(random_params(encoding, 30))
    predictor = AccuracyPredictor(encoding, hidden=(16, 8), seed=2, meta={"supernet": "/some/dir"})
    predictor.fit(x, linear_accuracy(encoding)(x), epochs=3)
    predictor.save(tmp_path / "p.safetensors")
    loaded = AccuracyPredictor.load(tmp_path / "p.safetensors", encoding)
    assert (loaded.predict(x) == predictor.predict(x)).all()
    assert (loaded.hidden, loaded.meta, loaded.report) == (predictor.hidden, predictor.meta, predictor.report)
    assert loaded.encoding.coverage.ops == MBCONV_ONLY.ops


def test_a_file_of_another_encoding_format_or_kind_is_refused_in_one_sentence(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "p.safetensors"
    tiny_predictor(encoding_of(MBCONV_ONLY.ops)).save(path)
    with pytest.raises(UserInputError, match="made for a supernet of ops mbconv3, mbconv6"):
        AccuracyPredictor.load(path, encoding_of(ALL.ops))
    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserInputError, match="is not an accuracy predictor"):
        AccuracyPredictor.load(tmp_path / "other.safetensors")
    (tmp_path / "text.safetensors").write_text("hello")
    with pytest.raises(UserInputError, match="cannot read the accuracy predictor"):
        AccuracyPredictor.load(tmp_path / "text.safetensors")
    with pytest.raises(UserInputError, match="no accuracy predictor at"):
        AccuracyPredictor.load(tmp_path / "missing.safetensors")


def test_weights_that_do_not_fit_the_header_name_the_keys(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = tmp_path / "p.safetensors"
    tiny_predictor(encoding_of(ALL.ops)).save(path)
    with safe_open(str(path), framework="pt") as handle:
        metadata, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}
    last = sorted(tensors)[-1]
    del tensors[last]
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(UserInputError, match=rf"do not fit the MLP its header describes: 1 missing key \({last}\)$"):
        AccuracyPredictor.load(path)


def test_a_file_whose_columns_differ_from_this_version_is_refused(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = tmp_path / "p.safetensors"
    tiny_predictor(encoding_of(ALL.ops)).save(path)
    with safe_open(str(path), framework="pt") as handle:
        metadata, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}
    header = json.loads(metadata["header"])
    header["encoding"][4][1] = [0.5, 1.0]  # b0_filters with other choices
    save_file(tensors, str(path), metadata={**metadata, "header": json.dumps(header)})
    with pytest.raises(UserInputError, match="encodes configurations differently.*b0_filters"):
        AccuracyPredictor.load(path)


# -- the evaluator --------------------------------------------------------------------------------------------


def test_the_predictor_evaluator_answers_with_the_predicted_accuracy(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    predictor = tiny_predictor(encoding_of(ALL.ops))
    predictor.save(path)
    genome = ALL.space.decode(encoding_of(ALL.ops).params(ALL.smallest()))
    ctx = RunContext(budget={"predictor": str(path)}, space="mbconv")
    evaluator = get("predictor")
    evaluator.check(ctx)
    metrics = evaluate(genome, [evaluator], ctx)
    assert not metrics.failed
    assert metrics.accuracy == pytest.approx(float(predictor.predict_genomes([genome])[0]))
    assert evaluator.default_reward == "flops" and "accuracy" in evaluator.provides


def test_a_predicted_accuracy_outside_0_1_is_clipped_and_a_foreign_genome_fails(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    tiny_predictor(encoding_of(MBCONV_ONLY.ops), mean=7.0).save(path)
    ctx = RunContext(budget={"predictor": str(path)})
    assert evaluate(MBCONV_ONLY.largest(), [get("predictor")], ctx).accuracy == 1.0
    failed = evaluate(ALL.space.decode({**MBCONV_ONLY.encode(MBCONV_ONLY.largest()), "b2_op": "ds"}),
                      [get("predictor")], ctx)
    assert failed.failed and "stage 2" in failed.reason


@pytest.mark.parametrize(("budget", "space", "needle"), [
    ({}, "mbconv", "needs --set predictor=FILE"),
    ({"predictor": "/no/such/predictor.safetensors"}, "mbconv", "no accuracy predictor at"),
    ({"predictor": "x"}, "fused", "predicts the accuracy of mbconv networks"),
])
def test_the_predictor_evaluator_refuses_a_bad_setting_before_any_trial(budget: dict[str, str], space: str,
                                                                        needle: str) -> None:
    with pytest.raises(UserInputError, match=needle):
        get("predictor").check(RunContext(budget=budget, space=space))


# -- collecting scores ----------------------------------------------------------------------------------------


class CountingScorer:
    """A stand-in for the supernet: a made-up accuracy, and a count of the configurations it scored."""

    def __init__(self) -> None:
        self.scored: list[str] = []

    def accuracy(self, genome: Network) -> float:
        self.scored.append(genome.name)
        return sum(s.depth for s in genome.stages) / 100


def test_collecting_again_keeps_the_lines_and_scores_only_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    scorer = CountingScorer()
    first = collect(scorer, ALL, 3, 5, path, progress=False)
    before = path.read_bytes()
    more = collect(scorer, ALL, 5, 5, path, progress=False)
    assert len(scorer.scored) == 5 and path.read_bytes().startswith(before)
    assert more[:3] == first and [r["genome"] for r in more] == [draw(ALL, 5, i).name for i in range(5)]
    assert collect(scorer, ALL, 4, 5, path, progress=False) == more[:4] and len(scorer.scored) == 5
    record = more[0]
    genome = draw(ALL, 5, 0)
    assert record["params"] == ALL.encode(genome) and record["macs"] == cost(genome).macs


def test_a_line_torn_by_a_kill_is_scored_again(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    collect(CountingScorer(), ALL, 2, 0, path, progress=False)
    with open(path, "a") as handle:
        handle.write('{"index": 2, "seed": 0, "gen')
    scorer = CountingScorer()
    records = collect(scorer, ALL, 3, 0, path, progress=False)
    assert scorer.scored == [draw(ALL, 0, 2).name]
    assert [json.loads(line) for line in path.read_text().splitlines()] == records


def test_samples_of_another_seed_supernet_or_scoring_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    collect(CountingScorer(), ALL, 2, 0, path, progress=False)
    with pytest.raises(UserInputError, match="seed 0, not 1"):
        collect(CountingScorer(), ALL, 3, 1, path, progress=False)
    with pytest.raises(UserInputError, match="another supernet"):
        collect(CountingScorer(), MBCONV_ONLY, 3, 0, path, progress=False)
    with pytest.raises(UserInputError, match="scored with None, not {'val_images': 100}"):
        collect(CountingScorer(), ALL, 3, 0, path, scoring={"val_images": 100}, progress=False)


# -- the evolutionary search ----------------------------------------------------------------------------------

GENES = [(f"g{i}", (0, 1, 2, 3)) for i in range(12)]


def fake_latency(params: dict[str, int]) -> float:
    return float(sum(params.values()))


def fake_accuracy(batch: list[dict[str, int]]) -> list[float]:
    return [sum(v * (i % 3) for i, v in enumerate(p.values())) for p in batch]


class FakeTime:
    """A clock on which each latency prediction takes one second."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def latency(self, params: dict[str, int]) -> float:
        self.now += 1.0
        return fake_latency(params)


def test_the_search_keeps_only_candidates_under_the_limit_and_never_loses_its_best() -> None:
    settings = EvolutionSettings(population=20, generations=15, seconds=1e9)
    result = evolve(GENES, fake_accuracy, fake_latency, 10.0, settings)
    assert result.best is not None and all(c.latency_ms <= 10.0 for c in result.ranked)
    assert result.generations == 15 and result.over > 0
    assert all(a <= b for a, b in zip(result.history, result.history[1:]))  # parents survive a generation
    assert [c.accuracy for c in result.ranked] == sorted((c.accuracy for c in result.ranked), reverse=True)
    again = evolve(GENES, fake_accuracy, fake_latency, 10.0, settings)
    assert again.ranked == result.ranked  # seeded


def test_the_search_stops_when_its_time_is_up() -> None:
    settings = EvolutionSettings(population=20, generations=10_000, seconds=3000)
    clock = FakeTime()
    result = evolve(GENES, fake_accuracy, clock.latency, 10.0, settings, clock=clock)
    assert 0 < result.generations < 10_000 and result.best is not None
    assert result.seconds <= settings.seconds + 1  # past its budget by one candidate at most


def test_unpredictable_candidates_are_infeasible_and_seeds_rescue_a_tight_limit() -> None:
    unknown = evolve(GENES, fake_accuracy, lambda p: math.inf, 10.0, EvolutionSettings(population=5, tries=20))
    assert unknown.best is None and unknown.unknown > 0
    smallest = {name: 0 for name, _ in GENES}
    tight = evolve(GENES, fake_accuracy, fake_latency, 1.0, EvolutionSettings(population=10, generations=5),
                   seeds=[smallest])
    assert tight.best is not None and tight.best.latency_ms <= 1.0


# -- measuring the winner -------------------------------------------------------------------------------------


def search(measure: Callable[[dict[str, int]], float], tries: int = 4) -> Any:
    return find_subnet(12.0, GENES, fake_accuracy, fake_latency, measure,
                       EvolutionSettings(population=20, generations=10), tries=tries)


def test_a_winner_that_runs_slower_than_predicted_is_replaced_by_one_measured_under_the_target() -> None:
    outcome = search(lambda p: 1.25 * fake_latency(p))
    assert outcome.met and outcome.measured_ms <= 12.0 and outcome.measured > 1
    assert outcome.predicted_ms == fake_latency(outcome.params) and outcome.margin < 1.0


def test_a_target_no_measured_candidate_meets_is_reported_missed() -> None:
    outcome = search(lambda p: 13.2, tries=3)  # every candidate 10% over the target
    assert not outcome.met and outcome.measured == 3 and "3 candidates measured" in outcome.note
    assert outcome.params is not None and outcome.measured_ms == 13.2
    hopeless = search(lambda p: 100.0, tries=3)  # so slow that nothing searched is predicted fast enough
    assert not hopeless.met and hopeless.measured == 1 and "no searched configuration" in hopeless.note


def test_a_target_below_every_configuration_finds_nothing() -> None:
    outcome = find_subnet(0.5, GENES, fake_accuracy, fake_latency, lambda p: 0.0,
                          EvolutionSettings(population=5, tries=10))
    assert outcome.params is None and not outcome.met and "no configuration" in outcome.note


def test_a_table_that_reads_slow_is_rescaled_by_measuring_the_smallest_configuration() -> None:
    smallest = {name: 0 for name, _ in GENES}
    slow = lambda p: 3.0 * (1 + fake_latency(p))  # noqa: E731 - the table reads 3x what every network measures
    measured: list[dict[str, int]] = []

    def measure(params: dict[str, int]) -> float:
        measured.append(params)
        return 1 + fake_latency(params)

    settings = EvolutionSettings(population=10, generations=5)
    outcome = find_subnet(2.5, GENES, fake_accuracy, slow, measure, settings, seeds=[smallest])
    assert measured[0] == smallest and outcome.params != smallest  # the calibration, then a larger winner
    assert outcome.met and outcome.measured_ms == 2.0 and outcome.measured == len(measured) == 2
    assert outcome.search.generations == 5 and outcome.search.evaluated > 10  # both searches counted
    too_slow = find_subnet(2.5, GENES, fake_accuracy, slow, lambda p: 3 + fake_latency(p), settings, seeds=[smallest])
    assert too_slow.params is None and too_slow.measured == 1
    assert "the smallest configuration measured 3 ms" in too_slow.note


class MacsLatency:
    """A stand-in latency predictor: 1 ms per 100M MACs."""

    table = None  # what a real one measures with; the tests measure with a stand-in too

    def predict(self, genome: Network, missing: str | None = None) -> float:
        return cost(genome).macs / 1e8


def test_specialise_writes_a_genome_per_target_a_table_and_a_plot(tmp_path: Path) -> None:
    predictor = tiny_predictor(encoding_of(MBCONV_ONLY.ops))
    settings = EvolutionSettings(population=10, generations=3)
    lines: list[str] = []
    outcomes = specialise([3.0, 5.0], predictor, MacsLatency(), settings=settings,
                          measure=lambda p: MacsLatency().predict(MBCONV_ONLY.space.decode(p)),
                          score=lambda g: 0.25, log=lines.append)
    assert [o.met for o in outcomes] == [True, True] and len(lines) == 2
    table = write_report(outcomes, tmp_path, {"supernet": "dir"})
    for o in outcomes:
        genome, meta = codec.load_with_meta(tmp_path / yaml_name(o.target_ms))
        assert genome == o.genome and MBCONV_ONLY.encode(genome) == o.params
        assert meta["latency_ms"]["measured"] <= o.target_ms and meta["accuracy"]["supernet"] == 0.25
        assert meta["macs"] == cost(genome).macs and meta["supernet"] == "dir"
    assert len((tmp_path / TABLE_CSV).read_text().splitlines()) == 3 and (tmp_path / PLOT).stat().st_size > 0
    assert table.count("| yes |") == 2


# -- the command line -----------------------------------------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def fake_supernet(directory: Path) -> str:
    """A directory with a weights file (its digest is what a predictor is tied to)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "supernet.safetensors").write_bytes(b"weights")
    return hashlib.sha256(b"weights").hexdigest()


@pytest.mark.parametrize(("argv", "needle"), [
    (["specialise", "--supernet", "D", "--latency-ms", "8,-1", "--out", "O"], "positive milliseconds"),
    (["specialise", "--supernet", "D", "--latency-ms", "8,8", "--out", "O"], "twice"),
    (["specialise", "--supernet", "D", "--latency-ms", "8", "--out", "O", "--seconds", "0"], "positive number"),
    (["predictor", "--supernet", "D", "--samples", "2"], "--samples"),
    (["predictor", "--supernet", "D", "--hidden", "400,x"], "layer sizes"),
])
def test_bad_flags_are_one_line_and_exit_2(argv: Sequence[str], needle: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(list(argv)) == 2
    assert needle in one_line_error(capsys)


def test_the_commands_refuse_missing_or_mismatched_files_in_one_sentence(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predictor", "--supernet", str(tmp_path / "none")]) == 2
    assert "holds no trained supernet" in one_line_error(capsys)
    fake_supernet(tmp_path / "sn")
    base = ["specialise", "--supernet", str(tmp_path / "sn"), "--latency-ms", "8", "--out", str(tmp_path / "out")]
    assert main(base) == 2
    assert "no accuracy predictor at" in one_line_error(capsys)
    predictor = tiny_predictor(encoding_of(ALL.ops))
    predictor.meta = {"supernet_sha256": "0" * 64}
    predictor.save(tmp_path / "sn" / "predictor.safetensors")
    assert main(base) == 2
    assert "fitted on another supernet" in one_line_error(capsys)


def test_the_predictor_command_scores_fits_reports_and_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import nas.supernet.score
    import nas.supernet.train

    class Supernet:
        coverage = ALL

    class Scorer(CountingScorer):
        def __init__(self, *args: Any) -> None:
            super().__init__()

    monkeypatch.setattr(nas.supernet.train, "load_supernet", lambda directory: Supernet())
    monkeypatch.setattr(nas.supernet.score, "SubnetScorer", Scorer)
    digest = fake_supernet(tmp_path / "sn")
    argv = ["predictor", "--supernet", str(tmp_path / "sn"), "--samples", "30", "--test", "10", "--hidden", "16",
            "--epochs", "20", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "RMSE" in out and "Spearman" in out
    saved = AccuracyPredictor.load(tmp_path / "sn" / "predictor.safetensors")
    assert saved.meta["supernet_sha256"] == digest and saved.meta["test"]["configurations"] == 10
    lines = (tmp_path / "sn" / "predictor-train-s0.jsonl").read_text().splitlines()
    assert len(lines) == 30 and json.loads(lines[0])["scoring"] == {"calibration_images": 500, "val_images": 0}
    assert main([*argv, "--val-images", "100"]) == 2  # its lines were scored on all held-out images
    assert "scored with" in one_line_error(capsys)


@pytest.mark.parametrize(("slowdown", "code"), [(1.0, 0), (1000.0, 1)])
def test_the_specialise_command_writes_its_files_and_exits_1_when_a_target_is_missed(
        slowdown: float, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import nas.supernet.specialise as module

    digest = fake_supernet(tmp_path / "sn")
    predictor = tiny_predictor(encoding_of(ALL.ops))
    predictor.meta = {"supernet_sha256": digest}
    predictor.save(tmp_path / "sn" / "predictor.safetensors")
    monkeypatch.setattr(module, "latency_table", lambda space, path: ("fake.json", MacsLatency()))
    monkeypatch.setattr(module, "measured_latency",
                        lambda table, space: lambda p: slowdown * MacsLatency().predict(space.decode(p)))
    argv = ["specialise", "--supernet", str(tmp_path / "sn"), "--latency-ms", "4,6", "--out", str(tmp_path / "out"),
            "--seconds", "30", "--generations", "2", "--population", "8", "--no-score"]
    assert main(argv) == code
    captured = capsys.readouterr()
    assert ("| 4 | yes |" in captured.out) == (code == 0)
    assert ("2 of 2 targets not met" in captured.err) == (code == 1)
    assert (tmp_path / "out" / yaml_name(4.0)).is_file() and (tmp_path / "out" / yaml_name(6.0)).is_file()
