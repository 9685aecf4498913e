"""Optuna's RDB storage, writing a finished trial's parameters without a query per parameter.

``RDBStorage`` writes each parameter of a trial with two SELECTs (the trial row, then the
study's first use of that parameter name, to check the distributions agree) and a flush.
Each user attribute costs a SELECT of the trial row and an upsert. A search writes each
trial once, finished, with all its parameters (42 for ``mbconv``) and about six attributes,
so that is about 100 round trips per trial, most of the search's own overhead on SQLite
(docs/BENCHMARKS.md, "Search overhead per trial").

:class:`FastRDBStorage` does the same checks from memory:

- the trial row comes from the session's identity map (the trial was added in the same
  session);
- the first distribution of each parameter name is read from the database once per process
  and then remembered;
- the attributes of a trial being created are new rows, so they are plain inserts (the
  upsert is only needed when an existing trial's attribute is overwritten).

The rows written, the compatibility rule and the errors are Optuna's own. Trials written by
other processes are unaffected: the check compares with the *first* distribution of the
study, which never changes once written.

Two more writes are folded into one transaction each, for the search's life cycle of a
trial (created ``RUNNING`` with its params when its evaluation starts, finished once):

- a ``RUNNING`` trial created from a template gets its first heartbeat row in the same
  transaction when heartbeats are on, so a worker killed right after creating it still
  leaves a trial that :func:`optuna.storages.fail_stale_trials` will fail;
- :meth:`FastRDBStorage.finish_trial` writes the results (user attributes, values, state)
  together, so a trial is never seen finished without its metrics.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy
from optuna import distributions
from optuna.trial import TrialState

from nas.search.optuna_compat import (
    RDB_WRITES,
    TrialHeartbeatModel,
    TrialModel,
    TrialParamModel,
    TrialUserAttributeModel,
    TrialValueModel,
    rdb_session,
    supported,
)
from nas.search.storage_guard import GuardedRDBStorage

__all__ = ["FastRDBStorage"]


class FastRDBStorage(GuardedRDBStorage):
    """:class:`optuna.storages.RDBStorage` with parameter writes checked from memory.

    The write hooks are :class:`~nas.search.optuna_compat.RDBHooks`'s (Optuna's private ones
    under public names). With an Optuna whose hooks changed, Optuna's own writes run instead,
    and :meth:`finish_trial` writes through the public API.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (study id, parameter name) -> a distribution the study's stored ones are compatible with.
        self._known: dict[tuple[int, str], distributions.BaseDistribution] = {}
        self._creating = threading.local()  # set while a trial is created from a template in this thread

    @property
    def heartbeat_with_new_trial(self) -> bool:
        """Whether a trial created ``RUNNING`` gets its first heartbeat in the creating transaction."""
        return self.heartbeat_interval is not None and supported(RDB_WRITES)

    def prepare_new_trial(self, study_id: int, template_trial: Any, session: Any) -> Any:
        self._creating.active = True
        self._creating.rows = rows = defaultdict(list)  # model -> rows, inserted in one statement each
        try:
            trial = super().prepare_new_trial(study_id, template_trial, session)
        finally:
            self._creating.active = False
        for model, batch in rows.items():
            session.execute(sqlalchemy.insert(model), batch)  # executemany: no ORM object per row
        if trial.state == TrialState.RUNNING and self.heartbeat_interval is not None:
            session.add(TrialHeartbeatModel(trial_id=trial.trial_id))  # the database's clock
        return trial

    def finish_trial(self, trial_id: int, state: TrialState, values: Sequence[float] | None,
                     attrs: Mapping[str, Any], new_keys: bool = False) -> None:
        """Set user attributes, values and the finished ``state`` of a running trial in one transaction.

        ``new_keys``: the caller knows the trial has none of these attributes yet (a query saved).

        Raises:
            optuna.exceptions.UpdateFinishedTrialError: the trial is already finished (another
                worker failed it as stale).
        """
        if not supported(RDB_WRITES):  # an untested Optuna: its public writes, one transaction each
            for key, value in attrs.items():
                self.set_trial_user_attr(trial_id, key, value)
            self.set_trial_state_values(trial_id, state, values)
            return
        attr = TrialUserAttributeModel
        with rdb_session(self, True) as session:
            trial = TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            self.check_trial_is_updatable(trial_id, trial.state)
            existing = {} if new_keys else {
                row.key: row for row in session.query(attr).filter(attr.trial_id == trial_id, attr.key.in_(attrs))}
            for key, value in attrs.items():
                if key in existing:
                    existing[key].value_json = json.dumps(value)
                else:
                    session.add(attr(trial_id=trial_id, key=key, value_json=json.dumps(value)))
            for objective, value in enumerate(values or ()):
                stored, kind = TrialValueModel.value_to_stored_repr(value)
                session.add(TrialValueModel(trial_id=trial_id, objective=objective, value=stored, value_type=kind))
            trial.state = state
            trial.datetime_complete = datetime.datetime.now()

    def add_trial_attr(self, session: Any, model_cls: Any, trial_id: int, key: str, value: Any) -> None:
        trial = session.get(TrialModel, trial_id) if getattr(self._creating, "active", False) else None
        if trial is None:  # an existing trial: Optuna's upsert
            return super().add_trial_attr(session, model_cls, trial_id, key, value)
        self.check_trial_is_updatable(trial_id, trial.state)
        self._creating.rows[model_cls].append({"trial_id": trial_id, "key": key, "value_json": json.dumps(value)})
        return None

    def add_trial_param(self, session: Any, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: distributions.BaseDistribution,
                        previous_distribution: distributions.BaseDistribution | None = None) -> None:
        trial = session.get(TrialModel, trial_id)  # identity map: no SELECT for a trial of this session
        if trial is None:  # let Optuna raise its own error
            return super().add_trial_param(session, trial_id, param_name, param_value_internal, distribution,
                                           previous_distribution)
        key = (trial.study_id, param_name)
        known = previous_distribution or self._known.get(key)
        if known is None:  # first use in this process: Optuna's query finds the study's stored distribution
            super().add_trial_param(session, trial_id, param_name, param_value_internal, distribution, None)
            self._known[key] = distribution  # compatible with the stored one, or the call above raised
            return None
        self.check_trial_is_updatable(trial_id, trial.state)
        distributions.check_distribution_compatibility(known, distribution)
        row = {"trial_id": trial_id, "param_name": param_name, "param_value": param_value_internal,
               "distribution_json": distributions.distribution_to_json(distribution)}
        if getattr(self._creating, "active", False):
            self._creating.rows[TrialParamModel].append(row)
        else:
            session.add(TrialParamModel(**row))
        return None
