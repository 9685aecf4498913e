"""Many workers, crashes and restarts: no completed result lost, exactly ``--trials`` counted, no genome twice.

The in-process tests play "another worker" by hand (a running trial with or without
heartbeats) against one :class:`SearchDriver`. The process tests run real
``python -m nas.search`` workers on PostgreSQL, SQLite and a journal file while a killer
SIGKILLs them at random moments and restarts them.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml

import search_spaces as ss
from nas import rewards, strategies
from nas.evaluators import RunContext
from nas.evaluators.cost import CostEvaluator
from nas.rewards import Targets
from nas.search.driver import SearchDriver
from nas.search import optuna_compat
from search_spaces.codec import genome_key
from nas.search.study import open_study, storage
from nas.search.view import counts, has_result, interrupted
from search_spaces.codec import to_yaml
from tests.toy import CALLS, ToyAccuracy

ROOT = Path(__file__).resolve().parents[1]
SPACE = ss.spaces.get("mbconv")
TARGETS = Targets(macs=400e6)


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    CALLS.clear()
    yield


def _study(tmp_path: Path, heartbeat: int | None = 1) -> optuna.Study:
    reward = rewards.get("flops")
    return open_study(f"sqlite:///{tmp_path / 'study.db'}", "s", reward.directions(TARGETS),
                      strategies.get("random").sampler(SPACE, 0, ["maximize"]), {"space": "mbconv"}, resume=False,
                      out=tmp_path, heartbeat=heartbeat)


def _driver(study: optuna.Study, trials: int, strategy: str = "random") -> SearchDriver:
    return SearchDriver(study, SPACE, strategies.get(strategy), rewards.get("flops"), TARGETS, [CostEvaluator(), ToyAccuracy()],
                        RunContext(), trials, poll=0.05)


def _add_other_trial(study: optuna.Study, seed: int, beat: bool) -> int:
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    genome = SPACE.suggest(trial)
    frozen = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING, params=trial.params,
                                       distributions=trial.distributions,
                                       user_attrs={"genome_key": genome_key(genome), "genome": to_yaml(genome),
                                                   "worker": 9})
    store = optuna_compat.study_storage(study)
    trial_id = store.create_new_trial(optuna_compat.study_id(study), template_trial=frozen)
    if not beat:  # a worker killed before its first heartbeat was due: the row exists, and ages
        return trial_id
    stop = threading.Event()

    def beating() -> None:
        while not stop.wait(0.3):
            store.record_heartbeat(trial_id)

    threading.Thread(target=beating, daemon=True).start()
    _BEATERS[trial_id] = stop
    return trial_id


_BEATERS: dict[int, threading.Event] = {}


def _finish_other(study: optuna.Study, trial_id: int, accuracy: float = 0.8) -> None:
    _BEATERS.pop(trial_id).set()
    store = optuna_compat.study_storage(study)
    store.set_trial_user_attr(trial_id, "metrics", {"accuracy": accuracy})
    store.set_trial_user_attr(trial_id, "reward", [accuracy])
    store.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [accuracy])


# ---------------------------------------------------------------------- in-process: one rule each


def test_a_dead_workers_trial_is_failed_by_heartbeat_and_run_again(tmp_path: Path) -> None:
    study = _study(tmp_path, heartbeat=1)
    dead_id = _add_other_trial(study, seed=1, beat=False)  # its worker died: no more heartbeats
    _driver(study, trials=3).run()
    trials = study.get_trials(deepcopy=False)
    dead_trial = next(t for t in trials if optuna_compat.trial_id(t) == dead_id)
    assert dead_trial.state.name == "FAIL" and interrupted(dead_trial)
    retry = [t for t in trials if t.user_attrs.get("retry_of") == dead_trial.number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE" and retry[0].params == dead_trial.params
    assert sum(counts(t) for t in trials) == 3 and not any(t.state.name == "RUNNING" for t in trials)


def test_a_genome_another_worker_is_evaluating_is_waited_for_not_evaluated_again(tmp_path: Path) -> None:
    study = _study(tmp_path, heartbeat=1)
    other_id = _add_other_trial(study, seed=2, beat=True)
    params = next(t for t in study.get_trials(deepcopy=False) if optuna_compat.trial_id(t) == other_id).params
    driver = _driver(study, trials=2)
    threading.Timer(1.0, _finish_other, (study, other_id)).start()
    outcome = driver.evaluate(params)  # an external strategy proposes the same genome
    assert CALLS == []  # never evaluated here
    mine = study.trials[outcome.trial]
    assert mine.user_attrs["cached_from"] == study.trials[0].number and mine.values == [0.8]


def test_the_budget_is_exact_when_two_workers_start_the_last_trial_at_once(tmp_path: Path) -> None:
    study = _study(tmp_path, heartbeat=1)
    driver = _driver(study, trials=3)
    claim = driver._claim

    def racing_claim(*args: object) -> int:
        if len(CALLS) == 2 and not _BEATERS:  # the last slot: another worker claims it a moment before us
            other = _add_other_trial(study, seed=3, beat=True)
            threading.Timer(1.0, _finish_other, (study, other)).start()
        return claim(*args)

    driver._claim = racing_claim
    driver.run()
    trials = study.get_trials(deepcopy=False)
    assert sum(counts(t) for t in trials) == 3 and len(CALLS) == 2  # the surplus trial was never evaluated
    surplus = [t for t in trials if "surplus" in t.user_attrs]
    assert len(surplus) == 1 and surplus[0].state.name == "FAIL" and not interrupted(surplus[0])
    assert not any(t.state.name == "RUNNING" for t in trials)


def test_a_worker_waits_for_running_trials_before_it_stops(tmp_path: Path) -> None:
    study = _study(tmp_path, heartbeat=1)
    other_id = _add_other_trial(study, seed=4, beat=True)
    threading.Timer(0.5, lambda: (_BEATERS.pop(other_id).set())).start()  # the other worker dies mid-trial
    _driver(study, trials=2).run()
    trials = study.get_trials(deepcopy=False)
    assert sum(has_result(t) for t in trials) == 2  # its trial was failed by heartbeat and run again here
    assert any(t.user_attrs.get("retry_of") == 0 for t in trials)


# ---------------------------------------------------------------------- processes killed at random


def _worker(url: str, out: Path, trials: int, strategy: str, seed: int, seconds: float = 0.3) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator", "synthetic",
           "--reward", "flops", "--strategy", strategy, "--trials", str(trials), "--storage", url,
           "--study-name", "faults", "--out", str(out), "--seed", str(seed), "--heartbeat", "1", "--threads", "1",
           "--set", f"synthetic_seconds={seconds}", "--quiet", "--no-plots"]
    log = (out.parent / f"{out.name}.log").open("a")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


def _run_with_killer(tmp_path: Path, url: str, strategy: str, trials: int = 200, workers: int = 4,
                     kills: int = 10, seed: int = 0) -> dict[str, int]:
    """Run ``workers`` workers, SIGKILL a random one ``kills`` times at random moments (restarting it), finish."""
    rng = random.Random(seed)
    procs = {i: _worker(url, tmp_path / f"w{i}", trials, strategy, i) for i in range(workers)}
    done_kills, deadline = 0, time.monotonic() + 900
    while done_kills < kills and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3, 1.5))  # ten kills well before 200 trials of 0.3 s on 4 workers can finish
        alive = [i for i, p in procs.items() if p.poll() is None]
        if not alive:
            break
        # Mostly a worker in the middle of a trial (what must be recovered), sometimes any (starting, waiting).
        # A restarted worker takes seconds to start (torch, NNI; longer on a busy machine): wait long enough for
        # one to be evaluating, polling gently so the waiting does not slow their start.
        busy: set[int] = set()
        wait_busy = time.monotonic() + (20.0 if rng.random() < 0.7 else 0.0)
        while not busy and time.monotonic() < wait_busy:
            busy = _evaluating(url, {procs[i].pid for i in alive})
            time.sleep(0 if busy else 0.1)
        victim = rng.choice([i for i in alive if procs[i].pid in busy] or alive)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        done_kills += 1
        procs[victim] = _worker(url, tmp_path / f"w{victim}", trials, strategy, 100 + done_kills)
    codes = {i: p.wait(timeout=max(60.0, deadline - time.monotonic())) for i, p in procs.items()}
    logs = "".join((tmp_path / f"w{i}.log").read_text() for i in procs)
    assert all(c == 0 for c in codes.values()), logs
    assert "Traceback" not in logs, logs
    assert done_kills >= kills, f"only {done_kills} kills: the workers finished first"
    return _check_study(url, tmp_path, trials)


def _running_pids(url: str, name: str = "faults") -> set[int]:
    """The pids of the processes that hold a running trial of study ``name`` right now."""
    try:
        study = optuna.load_study(study_name=name, storage=storage(url))
    except Exception:  # noqa: BLE001 (not created yet)
        return set()
    return {t.user_attrs.get("pid") for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}


def _evaluating(url: str, pids: set[int]) -> set[int]:
    """The pids among ``pids`` that hold a running trial of the study right now."""
    return _running_pids(url) & pids


def _check_study(url: str, tmp_path: Path, trials: int) -> dict[str, int]:
    study = optuna.load_study(study_name="faults", storage=storage(url))
    all_trials = study.get_trials(deepcopy=False)
    assert not [t.number for t in all_trials if t.state.name == "RUNNING"]
    assert sum(counts(t) for t in all_trials) == trials  # exactly the requested trials
    assert sum(t.state.name == "COMPLETE" for t in all_trials) == trials  # synthetic never fails a candidate
    evaluated = collections.Counter(t.user_attrs["genome_key"] for t in all_trials
                                    if t.state.name == "COMPLETE" and "cached_from" not in t.user_attrs)
    assert max(evaluated.values()) == 1  # no genome evaluated twice
    complete_keys = set(evaluated)
    retried = {t.user_attrs["retry_of"] for t in all_trials if "retry_of" in t.user_attrs}
    killed = [t for t in all_trials if interrupted(t)]
    for t in killed:  # every killed trial is failed, and retried or its genome evaluated by another trial
        assert t.number in retried or t.user_attrs["genome_key"] in complete_keys, t.number
    found = [p for p in tmp_path.glob("w*/found.yaml")]
    assert found
    for path in found:
        genome = ss.load(path)
        meta = yaml.safe_load(path.read_text())["meta"]
        assert genome_key(genome) in complete_keys and meta["search"]["study"] == "faults"
    return {"trials": len(all_trials), "killed": len(killed), "retried": len(retried),
            "surplus": sum("surplus" in t.user_attrs for t in all_trials)}


@pytest.mark.slow
def test_killed_workers_lose_nothing_on_postgresql(tmp_path: Path, postgres: tuple) -> None:
    server, database = postgres
    result = _run_with_killer(tmp_path, server.url(database), "tpe")
    print(result)
    assert result["killed"] >= 1  # the killer hit workers mid-trial, and the checks above saw them recovered


@pytest.mark.slow
def test_killed_workers_lose_nothing_on_sqlite(tmp_path: Path) -> None:
    result = _run_with_killer(tmp_path, f"sqlite:///{tmp_path / 'study.db'}", "random", seed=1)
    print(result)
    assert result["killed"] >= 1


@pytest.mark.slow
def test_killed_workers_lose_nothing_on_a_journal_file(tmp_path: Path) -> None:
    result = _run_with_killer(tmp_path, f"journal:{tmp_path / 'study.log'}", "evolution", seed=2)
    print(result)
    assert result["killed"] >= 1


# ---------------------------------------------------------------------- signals and secrets


@pytest.mark.slow
def test_sigterm_finishes_the_running_trial_as_interrupted_and_resume_runs_it_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = _worker(url, tmp_path / "w", trials=2, strategy="random", seed=0, seconds=5.0)  # SIGTERM lands mid-trial
    deadline = time.monotonic() + 120
    while not _evaluating(url, {proc.pid}) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    log = (tmp_path / "w.log").read_text()
    assert "Traceback" not in log and "--resume" in log
    study = optuna.load_study(study_name="faults", storage=url)
    stopped = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert len(stopped) == 1 and interrupted(stopped[0])  # not left RUNNING until a heartbeat goes stale
    again = _worker(url, tmp_path / "w", trials=2, strategy="random", seed=0, seconds=5.0)
    assert again.wait(timeout=120) == 0
    trials = optuna.load_study(study_name="faults", storage=url).trials
    assert sum(counts(t) for t in trials) == 2
    assert any(t.user_attrs.get("retry_of") == stopped[0].number and t.state.name == "COMPLETE" for t in trials)


@pytest.mark.slow
def test_a_local_worker_killed_is_reported_and_its_trial_is_run_by_the_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator", "synthetic",
           "--reward", "flops", "--set", "synthetic_seconds=3", "--trials", "12", "--workers", "2", "--heartbeat", "1",
           "--storage", url, "--study-name", "faults", "--out", str(tmp_path / "out"), "--quiet", "--no-plots"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline, child = time.monotonic() + 120, None
    # The child process, in the middle of a trial (worker 0 alone would need 36 s: the child starts well before).
    while child is None and time.monotonic() < deadline and proc.poll() is None:
        child = next(iter(_running_pids(url) - {proc.pid}), None)
        time.sleep(0.05)
    assert child is not None, "the second worker never started a trial"
    os.kill(child, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGKILL, err  # the parent finished the search, and says what happened
    assert "worker 1 was killed by signal 9" in err and "Traceback" not in err
    trials = optuna.load_study(study_name="faults", storage=storage(url)).trials
    assert sum(counts(t) for t in trials) == 12 and not [t for t in trials if t.state.name == "RUNNING"]
    killed = [t for t in trials if t.user_attrs.get("pid") == child and interrupted(t)]
    assert killed and any(t.user_attrs.get("retry_of") == killed[0].number for t in trials)
    assert (tmp_path / "out" / "found.yaml").exists()


def test_a_storage_password_never_reaches_messages(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nas.search.cli import main

    url = "postgresql://nas:topsecret@127.0.0.1:1/nas"  # nothing listens on port 1
    assert main(["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--storage",
                 url, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "topsecret" not in err and "nas:***@127.0.0.1" in err and len(err.strip().splitlines()) == 1


def test_a_search_on_postgresql_never_writes_its_password(tmp_path: Path, postgres: tuple,
                                                          capsys: pytest.CaptureFixture) -> None:
    from nas.search.cli import main

    server, database = postgres
    secret = "hunter2-secret" if server.trust else None
    url = server.url(database, password=secret)
    secret = secret or _password(url)
    assert main(["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--storage",
                 url, "--trials", "3", "--out", str(tmp_path), "--no-plots"]) == 0
    printed = capsys.readouterr()
    written = "".join(p.read_text() for p in tmp_path.iterdir() if p.suffix in (".yaml", ".csv"))
    assert yaml.safe_load((tmp_path / "found.yaml").read_text())["meta"]["search"]["storage"].startswith("postgresql")
    if secret:
        assert secret not in printed.out + printed.err + written


def _password(url: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).password


@pytest.mark.slow
def test_a_search_killed_and_resumed_on_this_machine_does_not_wait_for_the_dead_workers_heartbeat(
        tmp_path: Path) -> None:
    """SIGKILL mid-trial, then --resume with an hour-long heartbeat: the dead process's trial is failed at once,
    said so, and run again; the resume ends with exactly the trials asked for instead of sitting still."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--reward", "flops",
           "--evaluator", "synthetic", "--set", "synthetic_seconds=8", "--trials", "1", "--heartbeat", "3600",
           "--out", str(tmp_path), "--quiet", "--no-plots"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _running_pids(url, "mbconv-flops-tpe") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert _running_pids(url, "mbconv-flops-tpe") == {proc.pid}
    proc.kill()
    proc.wait()
    resumed = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "no longer exist; failed now, to be run again" in resumed.stderr
    trials = optuna.load_study(study_name="mbconv-flops-tpe", storage=url).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and trials[1].user_attrs["retry_of"] == 0
