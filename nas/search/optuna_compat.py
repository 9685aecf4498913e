"""Every use of Optuna's private API in the package, and what runs when a release changes it.

Tested with Optuna 4.9 and 5.1 (:data:`TESTED`). ``pyproject.toml`` asks for ``optuna>=4.9``
without an upper bound, so users get each new release; this module is what a release can
break. Nothing else in the package imports an Optuna private module or reads a private
attribute: it uses the public names below.

What is relied on is listed by feature in ``_NEEDS``: *core* (a study's storage and ids),
*cache* (the storage behind Optuna's cache), *heartbeat* (Optuna's heartbeat base class),
*rdb-writes* / *rdb-reads* / *rdb-guard* (the RDB storage's hooks and rows, for
:mod:`nas.search.rdb`, :mod:`nas.search.view`, :mod:`nas.search.storage_guard`), *journal*
(the journal storage's replay and log) and *tests* (read by the test suite only).
:func:`check` says each change in one sentence (:mod:`nas.compat`);
``tests/test_compat.py`` fails with the first.

At run time, whatever Optuna's version, :func:`supported` checks a feature the first time
it is used (milliseconds, once per process). A feature that fails takes the public path in
``_FALLBACK`` (the same results; slower, or without heartbeats) after one
:class:`OptunaCompatWarning` naming the change. *core* has no public path for a study's
storage and a trial's id: their loss raises :class:`OptunaCompatError`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import optuna
from optuna.storages.journal import BaseJournalBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from nas.compat import PrivateAPI, needs

__all__ = [
    "PRIVATE_API", "TESTED", "HeartbeatStorage", "OptunaCompatError", "OptunaCompatWarning", "RDBHooks",
    "TrialHeartbeatModel", "TrialModel", "TrialParamModel", "TrialUserAttributeModel", "TrialValueModel", "check",
    "forget", "heartbeat_enabled", "journal_changed_trials", "journal_finish", "rdb_session", "rdb_trial_states",
    "rdb_trials", "shallow_template", "stale_trial_ids", "study_id", "study_storage", "supported", "tpe_grouped",
    "trial_id", "uncached", "validate", "with_ids",
]

#: The Optuna releases this module was tested with.
TESTED = ("4.9", "5.1")

CORE, CACHE, HEARTBEAT, RDB_WRITES, RDB_READS, RDB_GUARD, JOURNAL, TESTS = (
    "core", "cache", "heartbeat", "rdb-writes", "rdb-reads", "rdb-guard", "journal", "tests")

#: What this module relies on: ``feature  module:dotted.name`` and the parameters a function takes
#: (:func:`nas.compat.needs` reads the table).
_NEEDS = needs("""
core        optuna.study:Study()._storage
core        optuna.study:Study()._study_id
core        optuna.trial:FrozenTrial()._trial_id
cache       optuna.storages:_CachedStorage()._backend
heartbeat   optuna.storages._heartbeat:BaseHeartbeat._get_stale_trial_ids(study_id)
heartbeat   optuna.storages._heartbeat:is_heartbeat_enabled(storage)
rdb-writes  optuna.storages._rdb.storage:RDBStorage._get_prepared_new_trial(study_id, template_trial, session)
rdb-writes  optuna.storages._rdb.storage:RDBStorage._set_trial_attr_without_commit(session, model_cls, trial_id, key,
            value)
rdb-writes  optuna.storages._rdb.storage:RDBStorage._set_trial_param_without_commit(session, trial_id, param_name,
            param_value_internal, distribution, previous_distribution)
rdb-writes  optuna.storages._rdb.storage:_create_scoped_session(scoped_session, ignore_integrity_error)
rdb-writes  optuna.storages._rdb.models:TrialModel.find_or_raise_by_id(trial_id, session, for_update)
rdb-writes  optuna.storages._rdb.models:TrialModel.{state datetime_complete study_id}
rdb-writes  optuna.storages._rdb.models:TrialParamModel.{trial_id param_name param_value distribution_json}
rdb-writes  optuna.storages._rdb.models:TrialUserAttributeModel.{trial_id key value_json}
rdb-writes  optuna.storages._rdb.models:TrialValueModel.value_to_stored_repr(value)
rdb-writes  optuna.storages._rdb.models:TrialValueModel.{trial_id objective value value_type}
rdb-writes  optuna.storages._rdb.models:TrialHeartbeatModel.trial_id
rdb-reads   optuna.storages._rdb.storage:RDBStorage._get_trials(study_id, states, included_trial_ids,
            trial_id_greater_than)
rdb-reads   optuna.storages._rdb.storage:_create_scoped_session(scoped_session, ignore_integrity_error)
rdb-reads   optuna.storages._rdb.models:TrialModel.{trial_id number state study_id}
rdb-guard   optuna.storages._rdb.storage:RDBStorage._build_frozen_trial_from_trial_model(trial)
rdb-guard   optuna.storages._rdb.storage:RDBStorage._get_trials(study_id, states, included_trial_ids,
            trial_id_greater_than)
rdb-guard   optuna.trial:FrozenTrial._validate()
journal     optuna.storages.journal:JournalStorage()._thread_lock
journal     optuna.storages.journal:JournalStorage()._sync_with_backend()
journal     optuna.storages.journal:JournalStorage()._backend.append_logs(logs)
journal     optuna.storages.journal:JournalStorage()._replay_result.{worker_id _trials _study_id_to_trial_ids}
journal     optuna.storages.journal._storage:JournalOperation.{SET_TRIAL_USER_ATTR SET_TRIAL_STATE_VALUES}
tests       optuna.samplers:TPESampler()._group
""")

#: What runs instead when a feature's check fails (the end of the warning's sentence).
_FALLBACK = {
    CACHE: "the study is read and written through Optuna's cache (slower)",
    HEARTBEAT: "heartbeats are off, so a killed worker's trial is not retried",
    RDB_WRITES: "trials are written by Optuna's own code (slower, results in two writes)",
    RDB_READS: "the whole study is read before each trial (slower)",
    RDB_GUARD: "damaged study rows raise Optuna's own errors",
    JOURNAL: "the whole journal is read before each trial and results are written one by one (slower)",
}


class OptunaCompatError(RuntimeError):
    """This Optuna lacks something the search cannot do without (no public path exists)."""


class OptunaCompatWarning(RuntimeWarning):
    """This Optuna changed a private name a feature relies on; the feature takes its public path."""


class _MemoryJournal(BaseJournalBackend):
    """A journal in a list: enough to make a sample :class:`JournalStorage` to check."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self.logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.logs.extend(logs)


def _sample_study(cls: type) -> Any:
    storage = optuna.storages.InMemoryStorage()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory"
    try:
        storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "compat-check")
    finally:
        optuna.logging.set_verbosity(verbosity)
    return cls("compat-check", storage)


#: How to make the sample instance whose attributes are checked, by class name.
_SAMPLES: dict[str, Callable[[type], Any]] = {
    "Study": _sample_study,
    "FrozenTrial": lambda cls: optuna.trial.create_trial(value=0.0),
    "_CachedStorage": lambda cls: cls(None),
    "JournalStorage": lambda cls: cls(_MemoryJournal()),
    "TPESampler": lambda cls: cls(),
}


PRIVATE_API = PrivateAPI("optuna", optuna.__version__, TESTED, _NEEDS, _SAMPLES, _FALLBACK, OptunaCompatWarning)
#: Every change of what this module relies on (of one feature, or all), one sentence each.
check = PRIVATE_API.check
#: Whether a feature may take its fast path (checked once per process; warns once when not).
supported = PRIVATE_API.supported
#: Check every feature again on its next use (tests that change Optuna).
forget = PRIVATE_API.forget


def _core_error(what: str, err: AttributeError) -> OptunaCompatError:
    return OptunaCompatError(f"optuna {optuna.__version__} changed {what} ({err}), which nas.search cannot do "
                             f"without; use an optuna release it is tested with ({', '.join(TESTED)})")


# ---------------------------------------------------------------------- core: a study's storage and ids


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage ``study`` reads and writes through (Optuna's cache around an RDB storage included)."""
    try:
        return study._storage
    except AttributeError as err:
        raise _core_error("Study._storage", err) from None


def study_id(study: optuna.Study) -> int:
    """The id of ``study`` in its storage."""
    try:
        return study._study_id
    except AttributeError:  # the public way costs a query
        return study_storage(study).get_study_id_from_name(study.study_name)


def trial_id(trial: FrozenTrial) -> int:
    """The id of ``trial`` in its storage (unique across the storage's studies)."""
    try:
        return trial._trial_id
    except AttributeError as err:
        raise _core_error("FrozenTrial._trial_id", err) from None


def with_ids(trial: FrozenTrial, number: int, trial_id: int) -> FrozenTrial:
    """A shallow copy of ``trial`` with another number and trial id (no re-validation of its params)."""
    copied = copy.copy(trial)
    copied.number, copied._trial_id = number, trial_id
    return copied


class _ShallowTemplate(FrozenTrial):
    """A trial template that ``RDBStorage._create_new_trial`` copies shallowly instead of deeply."""

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenTrial:
        return copy.copy(self)


def shallow_template(trial: FrozenTrial) -> FrozenTrial:
    """``trial`` as a template that ``create_new_trial`` does not deep-copy; the caller never mutates it after.

    ``RDBStorage._create_new_trial`` returns a deep copy of the template, which nobody here
    reads; for a genome of 40-odd params and its YAML that copy was the largest single cost of
    writing a trial. (If Optuna stops copying, this changes nothing.)
    """
    trial.__class__ = _ShallowTemplate
    return trial


_CACHED = getattr(optuna.storages, "_CachedStorage", None)  # the wrapper optuna.create_study puts around RDB storages


def uncached(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """The storage behind Optuna's cache of an RDB storage (the search keeps its own view of the study)."""
    if _CACHED is not None and isinstance(storage, _CACHED) and supported(CACHE):
        return storage._backend  # type: ignore[attr-defined]
    return storage


def tpe_grouped(sampler: optuna.samplers.TPESampler) -> bool:
    """Whether a TPE sampler splits the space into groups of parameters that occur together (tests only)."""
    return bool(sampler._group)


# ---------------------------------------------------------------------- heartbeats


def heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """Whether running trials of ``storage`` have heartbeats (and so can be failed as stale)."""
    if not supported(HEARTBEAT):
        return False
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


def stale_trial_ids(storage: optuna.storages.BaseStorage, study_id: int) -> list[int]:
    """The running trials of ``study_id`` whose heartbeat is older than the grace period."""
    return storage._get_stale_trial_ids(study_id)  # type: ignore[attr-defined]


if not check(HEARTBEAT):
    from optuna.storages._heartbeat import BaseHeartbeat as _HeartbeatBase
else:
    _HeartbeatBase = object  # type: ignore[assignment,misc]


class HeartbeatStorage(_HeartbeatBase):  # type: ignore[misc,valid-type]
    """Base of a storage whose running trials have heartbeats, as Optuna's ``fail_stale_trials`` reads them.

    Subclasses implement :meth:`stale_trial_ids` and Optuna's public heartbeat methods
    (``record_heartbeat``, ``get_heartbeat_interval``, ``get_heartbeat_stale_trial_callback``).
    """

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return self.stale_trial_ids(study_id)

    def stale_trial_ids(self, study_id: int) -> list[int]:
        """The running trials of ``study_id`` whose heartbeat is older than the grace period."""
        raise NotImplementedError


# ---------------------------------------------------------------------- RDB storages

try:  # the rows of Optuna's RDB schema
    from optuna.storages._rdb.models import (
        TrialHeartbeatModel,
        TrialModel,
        TrialParamModel,
        TrialUserAttributeModel,
        TrialValueModel,
    )
except ImportError:  # an Optuna without them fails the rdb-writes and rdb-reads checks, so none is used
    TrialHeartbeatModel = TrialModel = TrialParamModel = None  # type: ignore[assignment,misc]
    TrialUserAttributeModel = TrialValueModel = None  # type: ignore[assignment,misc]


def rdb_session(storage: optuna.storages.RDBStorage, ignore_integrity_error: bool = False) -> Any:
    """A session of ``storage`` as a context manager: committed on exit, rolled back (and raised as
    Optuna's ``StorageInternalError``) on a database error, as Optuna's own writes do."""
    from optuna.storages._rdb.storage import _create_scoped_session

    return _create_scoped_session(storage.scoped_session, ignore_integrity_error)


def rdb_trial_states(storage: optuna.storages.RDBStorage, study_id: int, after: int,
                     watch: Collection[int]) -> list[tuple[int, int, TrialState]] | None:
    """``(trial id, number, state)`` of the trials of ``study_id`` with ids above ``after`` or in ``watch``.

    One light query (no params or attributes). ``None``: not available (read the study instead).
    """
    if not supported(RDB_READS):
        return None
    import sqlalchemy

    row = TrialModel
    with rdb_session(storage) as session:
        return [tuple(r) for r in session.query(row.trial_id, row.number, row.state).filter(  # type: ignore[misc]
            row.study_id == study_id, sqlalchemy.or_(row.trial_id > after, row.trial_id.in_(watch))).all()]


def rdb_trials(storage: optuna.storages.RDBStorage, study_id: int, ids: Collection[int]) -> list[FrozenTrial]:
    """The trials of ``study_id`` with these ids, read in full (only when :func:`rdb_trial_states` is available)."""
    return [t for t in storage._get_trials(study_id, None, set(ids), max(ids)) if trial_id(t) in ids]


def validate(trial: FrozenTrial) -> None:
    """Optuna's own check of a trial it is given (state, values, params in their distributions)."""
    if supported(RDB_GUARD):
        trial._validate()


def _optunas(name: str) -> Any:
    """``RDBStorage``'s own method ``name`` (``None`` in an Optuna without it, whose check then fails)."""
    return getattr(optuna.storages.RDBStorage, name, None)


class RDBHooks(optuna.storages.RDBStorage):
    """Optuna's RDB storage with the private hooks it calls while writing and reading trials under public names.

    While it creates a trial, Optuna calls ``_get_prepared_new_trial`` (the row, with params
    and attributes, in the creating transaction), and for each row of those
    ``_set_trial_param_without_commit`` / ``_set_trial_attr_without_commit``; reads go through
    ``_get_trials`` and ``_build_frozen_trial_from_trial_model``. Each hook calls the public
    name below of the same job, which subclasses override (``super()`` is Optuna's own). Where
    the check of a feature failed, Optuna's own hook runs and the subclass's method is skipped.
    """

    #: ``(study_id, template_trial, session)``: the row of a new trial, with its params and attributes.
    prepare_new_trial = _optunas("_get_prepared_new_trial")
    #: ``(session, model_cls, trial_id, key, value)``: set an attribute of a running trial.
    add_trial_attr = _optunas("_set_trial_attr_without_commit")
    #: ``(session, trial_id, param_name, param_value_internal, distribution, previous_distribution=None)``:
    #: add a parameter of a running trial, checked against the study's first distribution of it.
    add_trial_param = _optunas("_set_trial_param_without_commit")
    #: Trials of a study, as every read of several trials (Optuna's cache's included) gets them.
    read_trials = _optunas("_get_trials")
    #: ``(trial)``: the trial a row (and its related rows) hold.
    frozen_trial = _optunas("_build_frozen_trial_from_trial_model")

    def _get_prepared_new_trial(self, *args: Any, **kwargs: Any) -> Any:
        return (self.prepare_new_trial if supported(RDB_WRITES) else super()._get_prepared_new_trial)(*args, **kwargs)

    def _set_trial_attr_without_commit(self, *args: Any, **kwargs: Any) -> None:
        hook = self.add_trial_attr if supported(RDB_WRITES) else super()._set_trial_attr_without_commit
        return hook(*args, **kwargs)

    def _set_trial_param_without_commit(self, *args: Any, **kwargs: Any) -> None:
        hook = self.add_trial_param if supported(RDB_WRITES) else super()._set_trial_param_without_commit
        return hook(*args, **kwargs)

    def _get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return (self.read_trials if supported(RDB_GUARD) else super()._get_trials)(*args, **kwargs)

    def _build_frozen_trial_from_trial_model(self, *args: Any, **kwargs: Any) -> FrozenTrial:
        hook = self.frozen_trial if supported(RDB_GUARD) else super()._build_frozen_trial_from_trial_model
        return hook(*args, **kwargs)


# ---------------------------------------------------------------------- journal storages


def journal_changed_trials(storage: JournalStorage, study_id: int, known: int,
                           watch: Collection[int]) -> list[FrozenTrial]:
    """The study's trials after its first ``known``, and those with ids in ``watch``: O(changes) from the replay."""
    if not supported(JOURNAL):
        trials = storage.get_all_trials(study_id, deepcopy=False)
        return trials[known:] + [t for t in trials if trial_id(t) in watch]
    with storage._thread_lock:
        storage._sync_with_backend()
        replay = storage._replay_result
        ids = replay._study_id_to_trial_ids.get(study_id, [])
        return [replay._trials[i] for i in ids[known:]] + [replay._trials[i] for i in watch if i in replay._trials]


def journal_finish(storage: JournalStorage, trial_id: int, state: TrialState, values: Sequence[float] | None,
                   attrs: Mapping[str, Any]) -> tuple[FrozenTrial, FrozenTrial]:
    """Append the user attributes, values and finished ``state`` of a running trial as one write.

    Nothing is written if the trial is already finished. The lines carry a worker id of
    their own: if another process failed the trial as stale first, every replay (this
    process's included) skips them quietly instead of raising on a later, unrelated read.

    Returns:
        The trial before and after.
    """
    if not supported(JOURNAL):
        before = storage.get_trial(trial_id)
        if not before.state.is_finished():
            for key, value in attrs.items():
                storage.set_trial_user_attr(trial_id, key, value)
            storage.set_trial_state_values(trial_id, state, values)
        return before, storage.get_trial(trial_id)
    from optuna.storages.journal._storage import JournalOperation

    writer = storage._replay_result.worker_id + "-finish"
    logs = [{"op_code": JournalOperation.SET_TRIAL_USER_ATTR, "worker_id": writer, "trial_id": trial_id,
             "user_attr": {key: value}} for key, value in attrs.items()]
    # Local time without a zone: every Optuna release reads it as local time (5.x writes UTC, 4.x local).
    logs.append({"op_code": JournalOperation.SET_TRIAL_STATE_VALUES, "worker_id": writer, "trial_id": trial_id,
                 "state": state, "values": None if values is None else list(values),
                 "datetime_complete": datetime.now().isoformat(timespec="microseconds")})
    with storage._thread_lock:
        storage._sync_with_backend()
        before = storage._replay_result._trials[trial_id]
        if not before.state.is_finished():
            storage._backend.append_logs(logs)
            storage._sync_with_backend()
        return before, storage._replay_result._trials[trial_id]

