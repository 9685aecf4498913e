"""Scaling strategies as data, their growth exponents, the accuracy law and the recommendation."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest

import search_spaces as ss
from nas.evaluators import EVALUATORS, Evaluator, Metrics, RunContext
from scaling.compound import compound
from scaling.laws import cli
from scaling.laws.fit import Point, _resolution_line, fit_members, replica_sd, replicas_to_resolve, resolved_pairs
from scaling.laws.growth import fit_exponent, growth, members
from scaling.laws.powerlaw import PowerLaw, bootstrap, fit_laws, fit_power_law
from scaling.laws.timing import r_squared
from scaling.strategies import DEFAULT_STRATEGIES, STRATEGIES, Exponents, Rule, Stagewise, at_macs, parse, parse_list
from search_spaces.errors import UserInputError
from search_spaces.genome import Head, Network, Stage, Stem

B0 = ss.zoo.get("efficientnet_b0")
RULES = [s for s in DEFAULT_STRATEGIES if s != "stagewise"]

#: A base whose cost lies in one deep stage of identical blocks: the analytic exponents' ideal network.
IDEAL = Network("ideal", Stem(8, stride=1), (Stage("basic", 64, 256, 1),), Head(channels=0), resolution=64,
                num_classes=10)

TINY = Network("tiny", Stem(8), (Stage("mbconv", 1, 8, 1, expand=1), Stage("mbconv", 2, 16, 2, expand=3),
                                 Stage("mbconv", 1, 24, 2, expand=3)), Head(channels=64), resolution=32)


# ---------------------------------------------------------------- strategies


@pytest.mark.parametrize("spec", [*(k for k in STRATEGIES if k != "dollar"), "compound:1.2,1.1,1.15", "dollar:0.5", "dollar:1/3", "compound@480",
                                  "stagewise@600", "width@64"])
def test_every_spec_parses_and_labels_itself(spec: str) -> None:
    strategy = parse(spec)
    assert parse(strategy.label) == strategy


@pytest.mark.parametrize(("spec", "words"), [
    ("bogus", "unknown"), ("dollar", "takes 1"), ("dollar:1.5", "between 0 and 1"), ("compound:1,1,1", "exceed 1"),
    ("compound:1.2,1.1", "takes 0 or 3"), ("width:2", "takes 0"), ("width@0", "cap"), ("dollar:x", "numbers"),
    ("compound:nan,1,1", "numbers")])
def test_a_bad_spec_is_one_sentence_naming_it(spec: str, words: str) -> None:
    with pytest.raises(UserInputError, match=words) as err:
        parse(spec)
    assert repr(spec) in str(err.value)


def test_a_strategy_named_twice_is_refused() -> None:
    with pytest.raises(UserInputError, match="more than once"):
        parse_list("width dwr width")


def test_the_rules_exponents_follow_dollar_et_al() -> None:
    assert parse("uniform").exponents().growth()["activations"] == pytest.approx(5 / 6)
    assert parse("dwr").exponents().growth()["activations"] == pytest.approx(0.6)
    assert parse("width").exponents().growth()["activations"] == pytest.approx(0.5)
    split = parse("compound").exponents()  # the paper's 1.2, 1.1, 1.15 as shares of log 2-ish
    a, b, g = split.multipliers(1.2 * 1.1 ** 2 * 1.15 ** 2)
    assert (a, b, g) == pytest.approx((1.2, 1.1, 1.15))
    with pytest.raises(UserInputError, match="must be 1"):
        Exponents(0.5, 0.5, 0.5)


@pytest.mark.parametrize("spec", RULES)
def test_a_rule_at_s_equals_compound_scaling_with_its_multipliers(spec: str) -> None:
    strategy = parse(spec)
    d, w, r = strategy.exponents().multipliers(4.0)
    assert ss.codec.genome_key(strategy.scale(B0, 4.0)) == ss.codec.genome_key(compound(B0, 1, d, w, r))
    assert ss.codec.genome_key(strategy.scale(B0, 1.0)) == ss.codec.genome_key(B0)


@pytest.mark.parametrize("spec", DEFAULT_STRATEGIES)
@pytest.mark.parametrize("s", [2.0, 4.0, 8.0])
def test_at_macs_lands_near_the_target_compute(spec: str, s: float) -> None:
    member = at_macs(parse(spec), B0, s)
    assert ss.cost(member).macs / ss.cost(B0).macs == pytest.approx(s, rel=0.06)


def test_a_cap_stops_the_resolution_and_the_other_dimensions_make_up_the_compute() -> None:
    assert parse("resolution@300").scale(B0, 4.0).resolution == 300
    with pytest.raises(UserInputError, match="out of resolution@300's reach"):  # nothing else grows
        at_macs(parse("resolution@300"), B0, 4.0)
    compound_capped = at_macs(parse("compound@260"), B0, 8.0)
    assert compound_capped.resolution == 260 and compound_capped.width_mult > at_macs(parse("compound"), B0, 8.0).width_mult


def test_compound_takes_a_resolution_cap_too() -> None:
    assert compound(B0, 7, 1.0, 1.0, 1.41).resolution == 2480
    assert compound(B0, 7, 1.0, 1.0, 1.41, max_resolution=480).resolution == 480
    assert compound(B0, 1, 1.0, 1.0, 1.41, max_resolution=100).resolution == 224  # a cap never shrinks the base


def test_stagewise_finds_phi_by_real_macs_and_keeps_its_cap() -> None:
    strategy = parse("stagewise")
    assert isinstance(strategy, Stagewise) and strategy.max_resolution == 480
    member = strategy.scale(B0, 16.0)
    assert ss.cost(member).macs / ss.cost(B0).macs == pytest.approx(16, rel=0.05)
    assert member.resolution <= 480


def test_a_member_beyond_the_vocabulary_is_one_sentence() -> None:
    with pytest.raises(UserInputError, match="s = "):
        parse("depth").scale(B0, 1000.0)


# ---------------------------------------------------------------- growth


def test_fit_exponent_recovers_a_power() -> None:
    xs = [2, 4, 8, 16]
    slope, r2 = fit_exponent(xs, [3 * x ** 0.7 for x in xs])
    assert slope == pytest.approx(0.7) and r2 == pytest.approx(1.0)


@pytest.mark.parametrize("spec", [*RULES, "dollar:0.5"])
def test_on_an_ideal_base_the_real_exponents_are_the_analytic_ones(spec: str) -> None:
    (g,) = growth(IDEAL, [parse(spec)], (2, 4, 8, 16, 32))
    for metric in ("params", "macs", "activations"):
        assert abs(g.real[metric] - g.analytic[metric]) <= 0.03, (metric, g.real, g.analytic)


def test_efficientnet_b0_deviates_as_rounding_and_fixed_parts_make_it() -> None:
    grown = {g.strategy: g for g in growth(B0, [parse(s) for s in ("uniform", "dwr", "width")], (2, 4, 8, 16))}
    assert grown["uniform"].real["activations"] == pytest.approx(0.70, abs=0.01)
    assert grown["dwr"].real["activations"] == pytest.approx(0.47, abs=0.01)
    assert grown["width"].real["activations"] == pytest.approx(0.50, abs=0.01)
    # dWr's depth factor (s^0.1) is barely above 1, so ceil-rounding doubles B0's one-layer stages: the main cause
    assert grown["dwr"].causes("activations")[0][0] == "depth rounding"
    for g in grown.values():  # the causes account for the whole gap
        moved = sum(m for _, m in g.causes("activations"))
        assert moved == pytest.approx(g.analytic["activations"] - g.real["activations"], abs=1e-9)


def test_members_record_why_a_level_cannot_be_built() -> None:
    rows = members(B0, [parse("depth")], (2.0, 1000.0))
    assert rows[0].genome is not None and rows[1].genome is None and "beyond" in rows[1].problem


def test_r_squared_of_a_line_is_one_and_of_noise_is_low() -> None:
    x = np.arange(10.0)
    assert r_squared(x, 2 * x + 1) == pytest.approx(1.0)
    assert r_squared(x, np.random.default_rng(0).normal(size=10)) < 0.5


# ---------------------------------------------------------------- the law


def test_a_noise_free_power_law_is_recovered_exactly() -> None:
    x = np.array([1, 2, 4, 8, 16.0])
    law, sse = fit_power_law(x, PowerLaw(0.05, 0.1, 0.5)(x))
    assert (law.floor, law.scale, law.exponent) == pytest.approx((0.05, 0.1, 0.5), abs=1e-6) and sse < 1e-12


def test_a_shared_floor_is_recovered_with_each_strategys_own_slope() -> None:
    x = np.array([1, 2, 4, 8.0])
    truth = {"a": PowerLaw(0.08, 0.1, 0.5), "b": PowerLaw(0.08, 0.2, 0.3), "c": PowerLaw(0.08, 0.05, 1.0)}
    laws = fit_laws({k: (x, law(x)) for k, law in truth.items()})
    for k, law in truth.items():
        assert (laws[k].floor, laws[k].scale, laws[k].exponent) == pytest.approx(
            (law.floor, law.scale, law.exponent), abs=1e-4)


def test_bootstrap_intervals_cover_the_truth_on_noisy_data() -> None:
    x = np.array([1, 2, 4, 8, 16.0])
    rng = np.random.default_rng(1)
    truth = {"a": PowerLaw(0.05, 0.1, 0.5), "b": PowerLaw(0.05, 0.15, 0.3)}
    fit = bootstrap({k: (x, law(x) + rng.normal(0, 0.002, len(x))) for k, law in truth.items()}, draws=100)
    for k, law in truth.items():
        low, high = fit.interval(k, 32.0)
        assert low - 0.004 <= law(32.0) <= high + 0.004
    assert fit.residual_sd == pytest.approx(0.002, rel=0.8)


def _points(truth: dict[str, PowerLaw], levels: tuple[float, ...], noise: float = 0.0, seed: int = 0) -> list[Point]:
    rng = np.random.default_rng(seed)
    return [Point(k, s, s, float(1 - law(s) + rng.normal(0, noise)), 224, i) for k, law in truth.items()
            for i, s in enumerate(levels)]


def test_the_held_out_check_predicts_the_largest_level_and_the_order() -> None:
    truth = {"width": PowerLaw(0.06, 0.1, 0.4), "depth": PowerLaw(0.06, 0.12, 0.25), "res": PowerLaw(0.06, 0.08, 0.6)}
    report = fit_members(_points(truth, (1, 2, 4, 8, 16), noise=0.001), draws=50)
    assert report.holdout_level == 16 and report.mean_abs_error < 0.01
    assert report.order_predicted == report.order_measured == ["res", "width", "depth"] and report.kendall == 1.0
    for k, (_, measured, _, (low, high)) in report.holdout.items():
        assert low - 0.01 <= measured <= high + 0.01


def test_only_differences_beyond_two_standard_errors_of_the_replicas_count_as_resolved() -> None:
    sd = 0.005  # one training's noise; a difference of two 2-replica means has standard error 0.005
    members = {name: Point(name, 8.0, 8.0, acc, 224, i, replicas=2, spread=sd, key=name)
               for i, (name, acc) in enumerate({"res": 0.870, "compound": 0.857, "width": 0.835, "depth": 0.834,
                                                "dwr": 0.829}.items())}
    assert replica_sd(list(members.values())) == pytest.approx(sd)
    pairs = resolved_pairs(members, sd)
    assert ("res", "compound") in pairs and ("compound", "width") in pairs and ("width", "dwr") not in pairs
    assert not {("width", "depth"), ("depth", "dwr")} & set(pairs)
    assert resolved_pairs(members, None) == []  # one training per member: nothing is resolved


def test_a_member_shared_by_strategies_counts_once_in_the_replica_spread() -> None:
    base = [Point(k, 1.0, 1.0, 0.8, 224, i, replicas=2, spread=0.0, key="base") for i, k in enumerate("abcde")]
    other = Point("a", 2.0, 2.0, 0.8, 224, 9, replicas=2, spread=0.01, key="a2")
    assert replica_sd([*base, other]) == pytest.approx(math.sqrt(0.01 ** 2 / 2))
    assert replica_sd([dataclasses.replace(p, replicas=1, spread=0.0) for p in (*base, other)]) is None


def test_the_check_scores_the_order_only_on_the_resolved_pairs() -> None:
    truth = {"width": PowerLaw(0.06, 0.1, 0.4), "depth": PowerLaw(0.06, 0.12, 0.25), "res": PowerLaw(0.06, 0.08, 0.6)}
    points = [dataclasses.replace(p, replicas=3, spread=0.001, key=f"{p.strategy}{p.s}")
              for p in _points(truth, (1, 2, 4, 8, 16), noise=0.001)]
    report = fit_members(points, draws=20)
    assert report.replica_sd == pytest.approx(0.001)
    assert report.resolved == [("res", "width"), ("res", "depth"), ("width", "depth")]
    assert report.resolved_right == report.resolved


@pytest.mark.parametrize("gap,sd", [(0.006, 0.0061), (0.003, 0.0061), (0.02, 0.001), (0.0011, 0.01)])
def test_the_replicas_needed_are_the_fewest_whose_means_resolve_the_gap(gap: float, sd: float) -> None:
    n = replicas_to_resolve(gap, sd)
    assert n is not None

    def resolves(replicas: int) -> bool:
        members = {k: Point(k, 8.0, 8.0, acc, 224, i, replicas=replicas, spread=sd, key=k)
                   for i, (k, acc) in enumerate({"a": 0.85 + gap, "b": 0.85}.items())}
        return resolved_pairs(members, sd) == [("a", "b")]

    assert resolves(n) and (n == 1 or not resolves(n - 1))
    assert replicas_to_resolve(0.0, sd) is None  # equal means: no count is enough


def test_the_report_says_what_ordering_the_unresolved_pairs_would_cost() -> None:
    truth = {"width": PowerLaw(0.06, 0.1, 0.4), "depth": PowerLaw(0.06, 0.1, 0.401), "res": PowerLaw(0.06, 0.08, 0.6)}
    points = [dataclasses.replace(p, replicas=2, spread=0.004, key=f"{p.strategy}{p.s}")
              for p in _points(truth, (1, 2, 4, 8, 16), noise=0.0)]
    report = fit_members(points, draws=20)
    assert ("res", "width") in report.resolved and ("depth", "width") not in report.resolved
    gap = report.holdout["depth"][1] - report.holdout["width"][1]
    line = _resolution_line(report)
    assert f"needs {replicas_to_resolve(gap, report.replica_sd)} replicas per member" in line
    assert "the closest, depth and width" in line and "to order the other 1 " in line
    tie = dataclasses.replace(report, holdout={**report.holdout, "depth": report.holdout["width"]})
    assert "measured the same" in _resolution_line(tie)


def test_a_fit_with_too_few_levels_is_refused() -> None:
    with pytest.raises(UserInputError, match="4 or more levels"):
        fit_members(_points({"w": PowerLaw(0.1, 0.1, 0.5)}, (1, 2, 4)))


# ---------------------------------------------------------------- end to end


class LawAccuracy(Evaluator):
    """Accuracy from a known law of the genome's width, depth and resolution multipliers (test only)."""

    name = "law"
    provides = ("accuracy",)

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        w, d = genome.width_mult, genome.depth_mult
        r = genome.resolution / TINY.resolution
        return Metrics(accuracy=1 - (0.05 + 0.2 * w ** -0.8 * d ** -0.15 * r ** -0.5))


class NoisyLawAccuracy(LawAccuracy):
    """The law plus a member's own error whose sign flips with the seed: two replicas (seeds 0, 1) average it out."""

    name = "noisy-law"

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        exact = super().run(genome, ctx).accuracy
        error = 0.004 * (1 + int(ss.codec.genome_key(genome)[:4], 16) % 3)
        return Metrics(accuracy=exact + (error if ctx.seed % 2 else -error))


for _evaluator in (LawAccuracy, NoisyLawAccuracy):
    if _evaluator.name not in EVALUATORS:
        EVALUATORS.register(_evaluator.name, _evaluator)


def _fit(tmp_path: Path, *extra: str) -> int:
    TINY_FILE = tmp_path / "tiny.yaml"
    if not TINY_FILE.exists():
        ss.codec.dump(TINY, TINY_FILE)
    return cli.main(["fit", "--base", str(TINY_FILE), "--out", str(tmp_path / "laws"), "--levels", "1,2,3,4,6",
                     "--strategies", "width depth resolution", "--evaluator", "law", "--draws", "30", "--quiet",
                     *extra])


def test_fit_then_recommend_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fit(tmp_path) == 0
    data = json.loads((tmp_path / "laws" / "laws.json").read_text())
    assert data["strategies"] == ["width", "depth", "resolution"] and data["levels"] == [1, 2, 3, 4, 6]
    assert data["check"]["mean_abs_error"] < 0.01 and data["check"]["kendall"] == 1.0
    assert data["check"]["order_measured"] == ["width", "resolution", "depth"]
    for name in ("laws.md", "points.csv", "laws.png"):
        assert (tmp_path / "laws" / name).stat().st_size > 0
    study = optuna.load_study(study_name="tiny-laws", storage=f"sqlite:///{tmp_path / 'laws' / 'study' / 'study.db'}")
    assert len(study.trials) == 15 and {t.params["s"] for t in study.trials} == {1, 2, 3, 4, 6}
    assert _fit(tmp_path, "--resume") == 0  # nothing left to train: the same laws again
    assert json.loads((tmp_path / "laws" / "laws.json").read_text())["fit"] == data["fit"]
    capsys.readouterr()
    code = cli.main(["recommend", "--base", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "laws"), "--target",
                     "3x", "--repeats", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "Recommended: **" in out
    genome, meta = ss.codec.load_with_meta(tmp_path / "laws" / "recommended-3x.yaml")
    chosen = meta["scaling"]
    assert ss.cost(genome).macs / ss.cost(TINY).macs == pytest.approx(3, rel=0.15)
    assert chosen["ranking"][0] == chosen["strategy"] and sorted(chosen["ranking"]) == ["depth", "resolution", "width"]
    law = data["fit"][chosen["strategy"]]  # the prediction is the fitted law at the member's real compute
    compute = ss.cost(genome).macs / ss.cost(TINY).macs
    assert chosen["predicted_accuracy"] == pytest.approx(1 - (law["floor"] + law["scale"] * compute ** -law["exponent"]),
                                                         abs=1e-4)
    low, high = chosen["interval"]
    assert low <= chosen["predicted_accuracy"] + 1e-4 and chosen["predicted_accuracy"] <= high + 1e-4


def test_replicas_average_the_seeds_and_a_resume_adds_only_the_new_ones(tmp_path: Path) -> None:
    assert _fit(tmp_path, "--evaluator", "noisy-law") == 0  # one replica: noisy
    one = json.loads((tmp_path / "laws" / "laws.json").read_text())
    assert all(p["replicas"] == 1 and p["spread"] == 0 for p in one["points"])
    assert one["check"]["replica_sd"] is None and "no replica spread" in (tmp_path / "laws" / "laws.md").read_text()
    assert _fit(tmp_path, "--evaluator", "noisy-law", "--replicas", "2", "--resume") == 0
    two = json.loads((tmp_path / "laws" / "laws.json").read_text())
    exact = LawAccuracy()
    for p in two["points"]:  # the seeds' errors cancel: every mean is the law itself
        genome = TINY if p["s"] == 1 else at_macs(parse(p["strategy"]), TINY, p["s"])
        assert p["replicas"] == 2 and p["spread"] > 0.005
        assert p["accuracy"] == pytest.approx(exact.run(genome, RunContext()).accuracy, abs=1e-12)
    assert two["check"]["mean_abs_error"] < one["check"]["mean_abs_error"]
    first = optuna.load_study(study_name="tiny-laws", storage=f"sqlite:///{tmp_path / 'laws' / 'study' / 'study.db'}")
    second = optuna.load_study(study_name="tiny-laws-replica2",
                               storage=f"sqlite:///{tmp_path / 'laws' / 'study-replica2' / 'study.db'}")
    assert len(first.trials) == len(second.trials) == 15  # the resume trained the second replica only
    assert "accuracy_sd" in (tmp_path / "laws" / "points.csv").read_text().splitlines()[0]
    assert two["check"]["replica_sd"] > 0.005
    assert "pairs the replicas resolve" in (tmp_path / "laws" / "laws.md").read_text()


def test_analyse_writes_the_exponent_table_and_times_members(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    ss.codec.dump(TINY, tmp_path / "tiny.yaml")
    assert cli.main(["analyse", "--base", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "a"), "--levels",
                     "2,4", "--time", "--time-max-macs", "2M", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| dwr |" in out and "R^2 against MACs" in out
    timed = (tmp_path / "a" / "timing.csv").read_text().splitlines()
    assert len(timed) > 3 and all(math.isfinite(float(x)) for x in timed[1].split(",")[4:6])
    assert (tmp_path / "a" / "growth.png").stat().st_size > 0


@pytest.mark.parametrize(("argv", "words"), [
    (["fit", "--levels", "1,2,4"], "at least 4 compute levels"),
    (["fit", "--levels", "1,2,x"], "comma-separated numbers"),
    (["fit", "--levels", "0.5,1,2,4"], "from 1 to 1024"),
    (["fit", "--replicas", "0"], "--replicas"),
    (["analyse", "--strategies", "bogus"], "unknown"),
    (["recommend", "--target", "0.5x"], "must grow the base"),
    (["recommend", "--target", "4x"], "no fit in"),
    (["analyse", "--time-max-macs", "-3"], "--time-max-macs"),
])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                              words: str) -> None:
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def test_recommend_refuses_the_fit_of_another_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fit(tmp_path) == 0
    capsys.readouterr()
    assert cli.main(["recommend", "--base", "efficientnet_b0", "--fit", str(tmp_path / "laws"), "--target", "2x",
                     "--out", str(tmp_path / "o")]) == 2
    assert "a different network" in capsys.readouterr().err
    (tmp_path / "laws" / "laws.json").write_text("{not json")
    assert cli.main(["recommend", "--base", str(tmp_path / "tiny.yaml"), "--fit", str(tmp_path / "laws"), "--target",
                     "2x", "--out", str(tmp_path / "o")]) == 2
    assert "not a readable laws.json" in capsys.readouterr().err


def test_rule_dataclass_is_plain_data() -> None:
    rule = parse("dwr")
    assert isinstance(rule, Rule) and rule.name == "dwr" and rule.max_resolution is None
    assert (rule.split.depth, rule.split.width, rule.split.resolution) == pytest.approx((0.1, 0.8, 0.1))
