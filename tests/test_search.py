"""The search: CLI, driver, study records, outputs, resume, failures and bad input.

Most searches here use ``toy``, a test-only evaluator whose accuracy is a pure function of
the genome's cost (microseconds), so every strategy runs a real search in a fraction of a
second. One test per path that needs it trains on real Fashion-MNIST for a few steps.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml

import search_spaces as ss
from nas import rewards, strategies
from nas.evaluators import EVALUATORS, RunContext
from nas.rewards import Targets
from nas.search import budget as budget_mod
from nas.search.cli import main, parse_duration
from nas.search.driver import SearchDriver
from nas.search.optuna_compat import tpe_grouped
from search_spaces.codec import genome_key
from nas.search.view import counts
from nas.strategies.base import Strategy
from tests.toy import CALLS, FAIL_NAMES, INTERRUPT_AT, ToyAccuracy

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    CALLS.clear()
    FAIL_NAMES.clear()
    INTERRUPT_AT.clear()
    yield


def search(tmp_path: Path, *extra: str, space: str = "mbconv", trials: int = 4) -> int:
    return main(["--space", space, "--budget", "400M", "--reward", "flops", "--evaluator", "toy",
                 "--trials", str(trials), "--out", str(tmp_path), "--quiet", "--no-plots", *extra])


def load_study(out: Path, name: str = "mbconv-flops-tpe") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")


# ---------------------------------------------------------------------- rewards


def test_mnas_soft_reward_is_accuracy_times_latency_ratio_to_the_minus_007() -> None:
    r = rewards.get("mnas")
    t = Targets(latency_ms=80.0)
    assert r.score({"accuracy": 0.75, "latency_ms": 80.0}, t) == (0.75,)
    assert r.score({"accuracy": 0.75, "latency_ms": 160.0}, t)[0] == pytest.approx(0.75 * 2 ** -0.07)
    assert r.score({"accuracy": 0.75, "latency_ms": 40.0}, t)[0] == pytest.approx(0.75 * 0.5 ** -0.07)


def test_mnas_hard_reward_ignores_latency_within_the_target_and_divides_above() -> None:
    r, t = rewards.get("mnas-hard"), Targets(latency_ms=80.0)
    assert r.score({"accuracy": 0.7, "latency_ms": 40.0}, t) == (0.7,)
    assert r.score({"accuracy": 0.7, "latency_ms": 100.0}, t)[0] == pytest.approx(0.7 * 0.8)


def test_flops_reward_uses_the_budget_as_target() -> None:
    r, t = rewards.get("flops"), Targets(macs=400e6)
    assert r.score({"accuracy": 0.8, "macs": 800e6}, t)[0] == pytest.approx(0.8 * 2 ** -0.07)


def test_v2_reward_is_training_aware_and_keeps_the_macs_budget_hard() -> None:
    r = rewards.get("v2")
    m = {"accuracy": 0.8, "train_step_ratio": 2.0, "params": 4e6, "macs": 300e6}
    base = 0.8 * 2.0 ** -0.07 * 4.0 ** -0.05
    assert r.score(m, Targets())[0] == pytest.approx(base)
    assert r.score(m, Targets(macs=400e6))[0] == pytest.approx(base)
    assert r.score({**m, "macs": 500e6}, Targets(macs=400e6))[0] == pytest.approx(base * 0.8)
    assert r.required(Targets(macs=1.0)) == ("accuracy", "train_step_ratio", "params", "macs")


def test_flops_hard_reward_is_accuracy_within_the_budget_and_divides_above() -> None:
    r = rewards.get("flops-hard")
    assert r.score({"accuracy": 0.8, "macs": 1e8}, Targets(macs=4e8))[0] == pytest.approx(0.8)
    assert r.score({"accuracy": 0.8, "macs": 8e8}, Targets(macs=4e8))[0] == pytest.approx(0.4)


def test_zero_cost_reward_is_the_flops_form_on_the_naswot_score() -> None:
    r = rewards.get("zero-cost")
    assert r.required(Targets(macs=4e8)) == ("zc_naswot", "macs")
    assert r.score({"zc_naswot": 300.0, "macs": 8e8}, Targets(macs=4e8))[0] == pytest.approx(300.0 * 2 ** -0.07)


def test_pareto_front_keeps_exactly_the_non_dominated_points() -> None:
    pts = [(0.9, 500.0), (0.8, 300.0), (0.85, 600.0), (0.7, 300.0), (0.95, 900.0)]
    assert rewards.pareto_front(pts, ("maximize", "minimize")) == [0, 1, 4]


def test_every_reward_and_strategy_is_registered_with_a_summary() -> None:
    assert set(rewards.names()) == {"mnas", "mnas-hard", "accuracy", "flops", "flops-hard", "v2", "pareto",
                                    "pareto-latency", "zero-cost"}
    assert {"tpe", "nsga2", "random", "gp", "cmaes", "evolution", "rl", "nni-tpe", "nni-random", "grid"} <= set(
        strategies.names())
    assert all(strategies.summary(n) for n in strategies.names())
    assert all(rewards.REWARDS.get(n).summary for n in rewards.names())


# ---------------------------------------------------------------------- budgets


@pytest.mark.parametrize(("text", "value"), [("400M", 4e8), ("1.2G", 1.2e9), ("600000000", 6e8), ("250k", 2.5e5),
                                             ("4e8", 4e8)])
def test_budgets_parse_with_suffixes(text: str, value: float) -> None:
    assert budget_mod.parse_macs(text) == pytest.approx(value)


def test_space_range_holds_its_published_points() -> None:
    space = ss.spaces.get("mbconv")
    low, high = budget_mod.macs_range(space)
    b0 = ss.cost(ss.zoo.get("efficientnet_b0")).macs
    assert low < 400e6 < high and low <= b0 <= high


def test_default_run_directory_is_named_after_space_and_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--trials", "1",
                 "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "runs" / "mbconv-400M" / "found.yaml").exists()


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1.5s", 1.5)])
def test_timeouts_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


# ---------------------------------------------------------------------- searches


@pytest.mark.parametrize("strategy", strategies.names())
def test_every_strategy_runs_a_real_search_recorded_in_the_study(strategy: str, tmp_path: Path) -> None:
    space = "regnet" if strategy == "cmaes" else "mbconv"
    trials = 4
    assert search(tmp_path, "--strategy", strategy, space=space, trials=trials) == 0
    study = load_study(tmp_path, f"{space}-flops-{strategy}")
    done = [t for t in study.trials if t.state.is_finished()]
    assert len(done) == trials
    sp = ss.spaces.get(space)
    for t in done:
        sp.check(t.params)
        assert t.user_attrs["strategy"] == strategy and "genome" in t.user_attrs and "metrics" in t.user_attrs
        assert ss.codec.from_yaml(t.user_attrs["genome"]) == sp.decode(t.params)
        assert t.datetime_start <= t.datetime_complete  # the evaluation's real span
    found, meta = ss.codec.load_with_meta(tmp_path / "found.yaml")
    best = max((t for t in done if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert meta["search"]["trial"] == best.number and meta["search"]["strategy"] == strategy
    assert meta["reward"]["reward"] == pytest.approx(best.value)
    assert found == sp.decode(best.params)


def test_found_yaml_holds_what_scaling_and_load_need(tmp_path: Path) -> None:
    assert search(tmp_path, "--seed", "3") == 0
    genome = ss.load(tmp_path / "found.yaml")
    meta = yaml.safe_load((tmp_path / "found.yaml").read_text())["meta"]
    assert meta["search"]["storage"] == f"sqlite:///{(tmp_path / 'study.db').resolve()}"
    for key in ("space", "strategy", "reward", "seed", "targets", "study", "trial", "evaluators", "budget"):
        assert key in meta["search"]
    assert meta["search"]["targets"] == {"macs": 4e8} and meta["search"]["seed"] == 3
    assert meta["metrics"]["macs"] == ss.cost(genome).macs
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"COMPLETE"}
    assert all(float(r["macs"]) > 0 and r["accuracy"] for r in rows)


def test_same_seed_same_search(tmp_path: Path) -> None:
    search(tmp_path / "a", "--seed", "5")
    search(tmp_path / "b", "--seed", "5")
    params = [[t.params for t in load_study(tmp_path / d).trials] for d in "ab"]
    assert params[0] == params[1]


def test_plots_are_written(tmp_path: Path) -> None:
    assert main(["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--trials", "3",
                 "--out", str(tmp_path), "--quiet"]) == 0
    for name in ("reward.png", "tradeoff.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_pareto_search_writes_the_front(tmp_path: Path) -> None:
    assert main(["--space", "mbconv", "--budget", "400M", "--reward", "pareto", "--strategy", "nsga2",
                 "--evaluator", "toy", "--trials", "6", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    data = yaml.safe_load((tmp_path / "pareto.yaml").read_text())
    assert data["objectives"] == ["accuracy", "macs"] and data["front"]
    pts = [(e["values"]["accuracy"], e["values"]["macs"]) for e in data["front"]]
    assert rewards.pareto_front(pts, ("maximize", "minimize")) == list(range(len(pts)))
    ss.load(tmp_path / "found.yaml")


def test_failed_candidates_are_recorded_with_their_reason_and_the_search_goes_on(tmp_path: Path) -> None:
    space = ss.spaces.get("mbconv")
    study = optuna.create_study(sampler=strategies.get("tpe").sampler(space, 0, ("maximize",)), direction="maximize")
    first = space.suggest(study.ask())  # what TPE's first (random) trial will be, with seed 0
    FAIL_NAMES.add(first.name)
    assert search(tmp_path) == 0
    trials = load_study(tmp_path).trials
    assert trials[0].state.name == "FAIL" and "accuracy" in trials[0].user_attrs["reason"].lower()
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3


class Repeat(Strategy):
    """Proposes the same params three times, then a new one."""

    name = "repeat"

    def run(self, driver: object) -> None:
        params = driver.space.sample_params(0)
        for _ in range(3):
            driver.evaluate(params)
        driver.evaluate(driver.space.sample_params(1))


def test_genome_keys_survive_new_defaulted_fields_in_the_vocabulary() -> None:
    # Pinned: a study's duplicate cache and resume check key on these; adding a genome field with a
    # default (each new block family does) must not change them.
    assert genome_key(ss.zoo.get("efficientnet_b0")) == "993f158502fd1780"
    assert genome_key(ss.zoo.get("resnet50")) == "e55ea299b688a231"
    renamed = dataclasses.replace(ss.zoo.get("efficientnet_b0"), name="other")
    assert genome_key(renamed) == "993f158502fd1780"


def test_depth_multipliers_that_round_to_the_same_layers_are_one_network() -> None:
    b0 = ss.zoo.get("efficientnet_b0")
    a, b = dataclasses.replace(b0, depth_mult=1.1), dataclasses.replace(b0, depth_mult=1.15)
    assert ss.cost(a) == ss.cost(b) and genome_key(a) == genome_key(b)
    assert genome_key(dataclasses.replace(b0, depth_mult=1.4)) != genome_key(a)


def test_a_genome_seen_before_is_not_evaluated_again() -> None:
    space = ss.spaces.get("mbconv")
    study = optuna.create_study(direction="maximize")
    driver = SearchDriver(study, space, Repeat(), rewards.get("flops"), Targets(macs=4e8),
                          [EVALUATORS.get("cost")(), ToyAccuracy()], RunContext(), trials=10)
    driver.run()
    assert len(CALLS) == 2
    trials = study.trials
    assert [t.user_attrs.get("cached_from") for t in trials] == [None, 0, 0, None]
    assert trials[1].value == trials[0].value and trials[1].user_attrs["metrics"] == trials[0].user_attrs["metrics"]
    assert genome_key(space.decode(space.sample_params(0))) == trials[0].user_attrs["genome_key"]


# ---------------------------------------------------------------------- resume and interruption


def test_resume_continues_to_the_requested_total(tmp_path: Path) -> None:
    assert search(tmp_path, trials=3) == 0
    assert search(tmp_path, "--resume", trials=5) == 0
    assert len(load_study(tmp_path).trials) == 5
    assert len(list(csv.DictReader((tmp_path / "trials.csv").open()))) == 5


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_a_resumed_sampler_proposes_new_genomes_not_its_first_ones_again(strategy: str, tmp_path: Path) -> None:
    assert search(tmp_path, "--strategy", strategy, trials=3) == 0
    assert search(tmp_path, "--strategy", strategy, "--resume", trials=6) == 0
    trials = load_study(tmp_path, f"mbconv-flops-{strategy}").trials
    assert len(trials) == 6 and not [t.number for t in trials if "cached_from" in t.user_attrs]


def test_interrupted_search_saves_everything_and_resume_reruns_the_interrupted_trial(tmp_path: Path,
                                                                                     capsys: pytest.CaptureFixture) -> None:
    INTERRUPT_AT.append(3)
    assert search(tmp_path, trials=5) == 130
    assert "--resume" in capsys.readouterr().err
    study = load_study(tmp_path)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert (tmp_path / "found.yaml").exists()
    interrupted = study.trials[2].params
    INTERRUPT_AT.clear()
    assert search(tmp_path, "--resume", trials=5) == 0
    trials = load_study(tmp_path).trials
    assert len(trials) == 6 and sum(t.state.name == "COMPLETE" for t in trials) == 5
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == 2)
    assert retry.params == interrupted and retry.state.name == "COMPLETE"


def test_ctrl_c_stops_a_real_search_process_cleanly(tmp_path: Path) -> None:
    tiny = ["--set", "steps=1", "--set", "subset=64", "--set", "val_size=32", "--set", "batch_size=16"]
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator", "train",
           "--reward", "flops", "--strategy", "random", "--trials", "100000", "--out", str(tmp_path), "--quiet",
           "--no-plots", *tiny]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    db = tmp_path / "study.db"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and (not db.exists() or _count(db) < 2):
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert (tmp_path / "trials.csv").exists() and (tmp_path / "found.yaml").exists()


def _count(db: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(db) as con:
            return con.execute("select count(*) from trials").fetchone()[0]
    except sqlite3.Error:
        return 0


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "needle"), [
    (["--space", "mbconvv", "--budget", "400M"], "mbconv"),
    (["--space", "mbconv", "--budget", "400M", "--strategy", "annealing"], "strategy"),
    (["--space", "mbconv", "--budget", "400M", "--reward", "top1"], "reward"),
    (["--space", "mbconv", "--budget", "400M", "--evaluator", "trian"], "train"),
    (["--space", "mbconv", "--budget", "lots"], "--budget"),
    (["--space", "mbconv", "--budget", "0"], "positive"),
    (["--space", "mbconv", "--budget=-5M"], "--budget"),
    (["--space", "mbconv", "--budget", "40G"], "outside what space 'mbconv' reaches"),
    (["--space", "mbconv", "--budget", "400M", "--reward", "mnas"], "--latency-ms"),
    (["--space", "mbconv", "--budget", "400M", "--reward", "pareto", "--strategy", "evolution"], "objectives"),
    (["--space", "mbconv", "--budget", "400M", "--strategy", "cmaes"], "numeric"),
    (["--space", "mbconv", "--budget", "400M", "--evaluator", "cost"], "accuracy"),
    (["--space", "mbconv", "--budget", "400M", "--trials", "0"], "--trials"),
    (["--space", "mbconv", "--budget", "400M", "--timeout", "soon"], "--timeout"),
    (["--space", "mbconv", "--budget", "400M", "--storage", "nosuchdb://x/y"], "study storage nosuchdb://x/y"),
    (["--space", "mbconv", "--budget", "400M", "--resume", "--evaluator", "toy", "--reward", "flops"], "no study"),
    (["--space", "mbconv", "--budget", "400M", "--set", "eval_split=test"], "test split"),
])
def test_bad_input_is_one_sentence_and_exit_code_2(args: list[str], needle: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_starting_over_an_existing_study_is_refused_and_resume_checks_the_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert search(tmp_path, trials=2) == 0
    capsys.readouterr()
    assert search(tmp_path, trials=3) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["--space", "mbconv", "--budget", "300M", "--reward", "flops", "--evaluator", "toy", "--trials", "3",
                 "--out", str(tmp_path), "--quiet", "--resume"]) == 2
    assert "budget_macs" in capsys.readouterr().err
    assert len(load_study(tmp_path).trials) == 2  # nothing saved was touched


# ---------------------------------------------------------------------- real data


@pytest.mark.slow
def test_default_reward_search_trains_on_fashion_mnist(tmp_path: Path) -> None:
    knobs = ["--set", "steps=2", "--set", "subset=256", "--set", "val_size=128", "--set", "batch_size=32",
             "--set", "step_resolution=32", "--set", "step_batch=4", "--set", "step_repeats=1"]
    assert main(["--space", "mbconv", "--budget", "400M", "--trials", "2", "--out", str(tmp_path), "--quiet",
                 "--no-plots", *knobs]) == 0
    meta = yaml.safe_load((tmp_path / "found.yaml").read_text())["meta"]
    assert meta["search"]["reward"] == "v2" and meta["search"]["evaluators"] == ["cost", "train", "train-step"]
    assert 0.0 <= meta["metrics"]["accuracy"] <= 1.0 and meta["metrics"]["train_step_ratio"] > 0


@pytest.mark.slow
def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    tiny = ["--set", "steps=1", "--set", "subset=64", "--set", "val_size=32", "--set", "batch_size=16"]
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator", "train",
           "--reward", "flops", "--strategy", "tpe", "--trials", "6", "--workers", "2", "--out", str(tmp_path),
           "--quiet", "--no-plots", *tiny]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    trials = load_study(tmp_path).trials
    assert sum(counts(t) for t in trials) == 6  # exactly; a claim made when the budget was full is a surplus FAIL
    assert len(list(csv.DictReader((tmp_path / "trials.csv").open()))) == len(trials)
    # Which worker ran which trial is timing: tiny trials may all be done before the second process has
    # imported torch. That both take part is checked below with trials that outlast a start-up.


@pytest.mark.slow
def test_both_worker_processes_take_trials_when_trials_outlast_start_up(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator", "synthetic",
           "--reward", "flops", "--set", "synthetic_seconds=4", "--trials", "6", "--workers", "2",
           "--out", str(tmp_path), "--quiet", "--no-plots"]  # worker 0 alone would need 24 s; the second starts in a few
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    trials = load_study(tmp_path).trials
    assert sum(counts(t) for t in trials) == 6
    assert {t.user_attrs["worker"] for t in trials if counts(t)} == {0, 1}


@pytest.mark.parametrize(("device", "cores", "free_gib", "expected"), [
    ("cpu", 16, 0, 1),        # a CPU trial already uses every core
    ("cuda", 16, 139, 8),     # an H200 host: capped at MAX_GPU_WORKERS
    ("cuda", 6, 139, 3),      # two cores a worker
    ("cuda", 16, 10, 2),      # 4 GiB a worker
    ("cuda", 1, 1, 1),        # never none
])
def test_auto_workers_fill_a_gpu_within_its_memory_and_the_hosts_cores(device: str, cores: int, free_gib: int,
                                                                        expected: int) -> None:
    from nas.search.workers import workers_for

    assert workers_for(device, cores, free_gib * 2**30) == expected


def test_auto_workers_on_a_cpu_start_no_second_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.search.cli as cli

    started: list[int] = []
    monkeypatch.setattr(cli, "_spawn_workers", lambda argv, workers: started.append(workers) or [])
    code = main(["--space", "mbconv", "--budget", "400M", "--evaluator", "synthetic", "--reward", "flops",
                 "--trials", "2", "--device", "cpu", "--workers", "auto", "--out", str(tmp_path), "--quiet", "--no-plots"])
    assert code == 0 and started == [1]


def test_ctrl_c_is_deferred_outside_evaluations_and_immediate_inside() -> None:
    from nas.search.interrupts import Interrupts

    interrupts = Interrupts()
    before = signal.getsignal(signal.SIGINT)
    with interrupts.installed():
        os.kill(os.getpid(), signal.SIGINT)  # during bookkeeping (a storage write): only noted
        time.sleep(0.01)
        assert interrupts.pending
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()  # raised where the driver asks, with nothing in flight
        with pytest.raises(KeyboardInterrupt), interrupts.immediate():
            os.kill(os.getpid(), signal.SIGINT)  # during an evaluation: at once
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before


def test_with_several_workers_the_bar_shows_the_whole_study(capsys: pytest.CaptureFixture) -> None:
    from nas.search.driver import TrialRecord
    from nas.search.progress import SearchProgress
    from nas.strategies.base import Outcome

    known = [Outcome({}, (0.5,), False, 0, False), Outcome({}, (0.9,), False, 1, False),  # 1: another worker's
             Outcome({}, None, True, 2, False)]
    progress = SearchProgress(10, 0, ["reward"], ["maximize"], study=lambda: (len(known) + 4, known))
    progress.on_trial(TrialRecord(0, None, {}, (0.5,)))
    assert progress.bar is not None and progress.bar.n == 7 and progress.best == 0.9
    known.append(Outcome({}, (0.95,), False, 3, False))
    progress.on_trial(TrialRecord(3, None, {}, (0.95,)))
    assert progress.bar.n == 8 and progress.best == 0.95
    progress.close()
    assert "best 0.95" in capsys.readouterr().err


def test_tpe_groups_parameters_only_for_a_space_with_conditions() -> None:
    from search_spaces.spaces.base import Categorical, Condition

    class Conditional(ss.spaces.base.SearchSpace):
        name = "conditional"

        def distributions(self) -> tuple:
            return (Categorical("op", ("conv", "pool")), Categorical("k", (3, 5), when=Condition("op", ("conv",))))

        def decode(self, params: dict) -> dict:
            return dict(params)

        def points(self) -> dict:
            return {}

    tpe = strategies.get("tpe")
    mbconv = ss.spaces.get("mbconv")
    assert tpe_grouped(tpe.sampler(mbconv, 0, ["maximize"])) is False  # one group: the whole space

    def proposals(sampler: optuna.samplers.BaseSampler) -> list[dict]:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(lambda t: float(ss.cost(mbconv.suggest(t)).params % 997), n_trials=20)
        return [t.params for t in study.trials]

    grouped = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, constant_liar=True,
                                         n_startup_trials=tpe.options.startup_trials)
    assert proposals(tpe.sampler(mbconv, 0, ["maximize"])) == proposals(grouped)  # dropping the group changes nothing
    sampler = tpe.sampler(Conditional(), 0, ["maximize"])
    assert tpe_grouped(sampler) is True
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: float(Conditional().suggest(t).get("k", 0)), n_trials=15)  # TPE models past startup
    assert all(("k" in t.params) == (t.params["op"] == "conv") for t in study.trials)
