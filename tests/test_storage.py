"""The search's RDB storage writes exactly what Optuna's own would, only with fewer queries."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

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
