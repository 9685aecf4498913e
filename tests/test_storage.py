"""The search's RDB storage writes exactly what Optuna's own would, only with fewer queries."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from nas.search.optuna_compat import stale_trial_ids, study_id
from nas.search.rdb import FastRDBStorage

DISTRIBUTIONS = {"op": CategoricalDistribution(["mbconv", "fused"]), "kernel": IntDistribution(3, 7, step=2),
                 "se": FloatDistribution(0.0, 0.5)}


def _trial(i: int, state: TrialState = TrialState.COMPLETE) -> optuna.trial.FrozenTrial:
    return create_trial(state=state, params={"op": ["mbconv", "fused"][i % 2], "kernel": 3 + 2 * (i % 3),
                                             "se": 0.05 * i},
                        distributions=DISTRIBUTIONS, value=None if state == TrialState.FAIL else 0.1 * i,
                        user_attrs={"genome": f"g{i}", "metrics": {"accuracy": 0.5}, "reason": None})


def _store(storage: optuna.storages.BaseStorage, n: int) -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(storage=storage, study_name="s")
    for i in range(n):
        study.add_trial(_trial(i, TrialState.FAIL if i == 2 else TrialState.COMPLETE))
    return optuna.load_study(study_name="s", storage=storage).trials


def _comparable(t: optuna.trial.FrozenTrial) -> tuple:
    return (t.number, t.state, t.values, t.params, t.distributions, t.user_attrs, t.system_attrs)


def test_trials_read_back_exactly_as_optunas_storage_writes_them(tmp_path: Path) -> None:
    ours = _store(FastRDBStorage(f"sqlite:///{tmp_path}/ours.db"), 5)
    theirs = _store(optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/theirs.db"), 5)
    assert [_comparable(t) for t in ours] == [_comparable(t) for t in theirs]


def test_an_incompatible_distribution_is_refused_as_optuna_refuses_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    _store(FastRDBStorage(url), 2)
    for storage in (FastRDBStorage(url), optuna.storages.RDBStorage(url)):  # a new process, then Optuna's own
        study = optuna.load_study(study_name="s", storage=storage)
        bad = create_trial(params={"op": "mbconv"}, distributions={"op": CategoricalDistribution(["mbconv"])},
                           value=1.0)
        with pytest.raises(ValueError):
            study.add_trial(bad)


def test_attributes_of_an_existing_trial_are_still_overwritten(tmp_path: Path) -> None:
    storage = FastRDBStorage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    trial.set_user_attr("note", "first")
    trial.set_user_attr("note", "second")
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == {"note": "second"}


# ---------------------------------------------------------------------- storages a search can use


def _stores(tmp_path: Path) -> dict[str, optuna.storages.BaseStorage]:
    from nas.search.study import storage

    return {"sqlite": storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=1),
            "journal": storage(f"journal:{tmp_path / 's.log'}", heartbeat=1)}


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_finished_trial_gets_its_results_and_state_in_one_write(tmp_path: Path, kind: str) -> None:
    store = _stores(tmp_path)[kind]
    study = optuna.create_study(storage=store, study_name="s")
    running = create_trial(state=TrialState.RUNNING, params={"op": "fused"},
                           distributions={"op": DISTRIBUTIONS["op"]}, user_attrs={"genome": "g"})
    trial_id = store.create_new_trial(study_id(study), template_trial=running)
    store.finish_trial(trial_id, TrialState.COMPLETE, [0.5], {"metrics": {"accuracy": 0.5}, "reward": [0.5]})
    trial = study.trials[0]
    assert (trial.state, trial.values, trial.params) == (TrialState.COMPLETE, [0.5], {"op": "fused"})
    assert trial.user_attrs == {"genome": "g", "metrics": {"accuracy": 0.5}, "reward": [0.5]}
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # e.g. failed as stale by another worker
        store.finish_trial(trial_id, TrialState.COMPLETE, [0.7], {"reward": [0.7]})
    assert study.trials[0].values == [0.5]


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_finished_trial_has_a_duration(tmp_path: Path, kind: str) -> None:
    import datetime

    store = _stores(tmp_path)[kind]
    study = optuna.create_study(storage=store, study_name="s")
    running = create_trial(state=TrialState.RUNNING, params={}, distributions={})
    running.datetime_start = datetime.datetime.now()
    store.finish_trial(store.create_new_trial(study_id(study), template_trial=running), TrialState.COMPLETE, [0.5], {})
    duration = study.trials[0].duration  # Optuna 4.x: a finish time with a zone minus a start without one raised
    assert duration is not None and datetime.timedelta(0) <= duration < datetime.timedelta(minutes=1)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_running_trial_without_heartbeats_goes_stale_after_the_grace_period(tmp_path: Path, kind: str) -> None:
    import time

    store = _stores(tmp_path)[kind]
    study = optuna.create_study(storage=store, study_name="s")
    running = create_trial(state=TrialState.RUNNING, params={}, distributions={})
    dead = store.create_new_trial(study_id(study), template_trial=running)  # its first heartbeat comes with it
    alive = store.create_new_trial(study_id(study), template_trial=running)
    assert stale_trial_ids(store, study_id(study)) == []
    for _ in range(4):
        time.sleep(0.9)
        store.record_heartbeat(alive)
    assert stale_trial_ids(store, study_id(study)) == [dead]  # grace: twice the 1 s interval


def test_a_half_written_last_line_of_a_journal_file_is_ignored_by_readers(tmp_path: Path) -> None:
    from nas.search.study import storage

    url = f"journal:{tmp_path / 's.log'}"
    study = optuna.create_study(storage=storage(url), study_name="s")
    study.add_trial(_trial(1))
    with (tmp_path / "s.log").open("a") as log:
        log.write('{"op_code": 5, "worker_id": "x", "trial_id": 0, "user_')  # SIGKILL mid-line
    assert len(optuna.load_study(study_name="s", storage=storage(url)).trials) == 1
