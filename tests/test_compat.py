"""Optuna's and NNI's private names the compat modules rely on are still there; when one changes, a sentence says
which, and the search takes the public path instead of crashing."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from nas import strategies
from nas.search import optuna_compat
from nas.search.study import open_study, storage
from nas.strategies import nni_compat
from tests.test_faults import SPACE, _driver


@pytest.fixture(autouse=True)
def _recheck() -> Iterator[None]:
    """Every test starts and ends with the checks forgotten (a test may change Optuna or NNI)."""
    optuna_compat.forget()
    yield
    optuna_compat.forget()


def _fail_with_first(problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more changes)" if len(problems) > 1 else ""
        pytest.fail(problems[0] + more, pytrace=False)


def test_optuna_still_has_every_private_name_the_search_relies_on() -> None:
    _fail_with_first(optuna_compat.check())


def test_nni_still_has_every_private_name_its_strategies_rely_on() -> None:
    _fail_with_first(nni_compat.check())


def _with_extra_parameter(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """Make ``owner.name`` take one more (keyword) parameter, as a new release might; it still works."""
    original = getattr(owner, name)

    def changed(self: Any, *args: Any, lock: Any = None, **kwargs: Any) -> Any:
        return original(self, *args, **kwargs)

    params = list(inspect.signature(original).parameters.values())
    changed.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*params, inspect.Parameter("lock", inspect.Parameter.KEYWORD_ONLY, default=None)])
    monkeypatch.setattr(owner, name, changed)


def test_a_changed_optuna_hook_is_named_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_extra_parameter(monkeypatch, optuna.storages.RDBStorage, "_get_prepared_new_trial")
    monkeypatch.delattr(optuna.storages.RDBStorage, "_build_frozen_trial_from_trial_model")
    changed = f"optuna {optuna.__version__} changed RDBStorage."
    assert optuna_compat.check() == [
        (changed + "_get_prepared_new_trial(study_id, template_trial, session): "
                   "it now takes (study_id, template_trial, session, lock)"),
        changed + "_build_frozen_trial_from_trial_model(trial): _build_frozen_trial_from_trial_model is gone"]


def test_a_lost_instance_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    init = optuna.storages.journal.JournalStorage.__init__

    def without_thread_lock(self: Any, *args: Any) -> None:
        init(self, *args)
        del self._thread_lock

    monkeypatch.setattr(optuna.storages.journal.JournalStorage, "__init__", without_thread_lock)
    assert optuna_compat.check(optuna_compat.JOURNAL) == [
        f"optuna {optuna.__version__} changed JournalStorage._thread_lock: _thread_lock is gone"]


def _search(url: str, tmp_path: Path) -> list[tuple]:
    study = open_study(url, "s", ["maximize"], strategies.get("random").sampler(SPACE, 0, ["maximize"]),
                       {"space": "mbconv"}, resume=False, out=tmp_path, heartbeat=1)
    _driver(study, trials=6).run()
    trials = optuna.load_study(study_name="s", storage=storage(url)).trials
    return [(t.number, t.state, t.params, t.values, {k: v for k, v in t.user_attrs.items() if k != "metrics"},
             t.user_attrs["metrics"]["accuracy"]) for t in trials]


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_search_on_an_optuna_that_changed_its_storage_internals_gives_the_same_trials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    url = {"sqlite": "sqlite:///{}/s.db", "journal": "journal:{}/s.log"}[kind]
    expected = _search(url.format(tmp_path / "fast"), tmp_path)
    optuna_compat.forget()
    rdb = optuna.storages.RDBStorage
    for owner, name in ((rdb, "_get_prepared_new_trial"), (rdb, "_get_trials"),
                        (rdb, "_build_frozen_trial_from_trial_model"),
                        (optuna.storages.journal.JournalStorage, "_sync_with_backend")):
        _with_extra_parameter(monkeypatch, owner, name)
    with pytest.warns(optuna_compat.OptunaCompatWarning) as caught:
        found = _search(url.format(tmp_path / "public"), tmp_path)
    assert found == expected
    changed = {"sqlite": ["_get_prepared_new_trial", "_get_trials"], "journal": ["_sync_with_backend"]}[kind]
    assert all(any(name in str(w.message) for w in caught) for name in changed)
    assert len(caught) == len({str(w.message) for w in caught})  # each once


def test_without_optunas_heartbeat_module_heartbeats_are_off_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    store = storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=1)
    assert optuna_compat.heartbeat_enabled(store)
    optuna_compat.forget()
    monkeypatch.delattr("optuna.storages._heartbeat.is_heartbeat_enabled")
    with pytest.warns(optuna_compat.OptunaCompatWarning, match="is_heartbeat_enabled is gone; heartbeats are off"):
        assert not optuna_compat.heartbeat_enabled(store)


def test_a_trial_without_an_id_is_a_compat_error_naming_optuna() -> None:
    with pytest.raises(optuna_compat.OptunaCompatError, match=r"optuna .* changed FrozenTrial\._trial_id"):
        optuna_compat.trial_id(object())  # type: ignore[arg-type]


def test_nni_tpe_runs_its_own_loop_when_the_one_it_replaces_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from strategy_driver import ToyDriver  # tests/ is on sys.path (rootdir conftest)

    from nas.strategies.nni_adapter import NNITPEStrategy

    nni = nni_compat.load()
    nni_compat.forget()
    _with_extra_parameter(monkeypatch, nni.nni.nas.strategy.base.Strategy, "_run")
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # NNI's loop sleeps a second per proposal
    strategy = NNITPEStrategy()
    try:
        with pytest.warns(nni_compat.NNICompatWarning, match=r"Strategy\._run\(\).*NNI's own TPE loop runs"):
            outcomes = ToyDriver(SPACE, strategy, lambda genome: 0.5, trials=3).run(strategy)
    finally:
        nni_compat.forget()
    assert len(outcomes) == 3
