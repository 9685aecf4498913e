"""A damaged study storage ends in one sentence naming it, and is not written to.

A SQLite study file can be truncated (a full disk, a copy cut short), overwritten by
something else or edited by hand. Optuna then fails deep inside with a SQLAlchemy, JSON or
``KeyError`` traceback, and would first create its tables in any SQLite file it is given.
Two guards, neither of which writes:

- :func:`check_sqlite_file`, before Optuna opens the file: SQLite's own ``PRAGMA
  quick_check`` of every page (on a read-only connection), and the file must hold Optuna's
  tables, or no tables at all (a new, empty database);
- :class:`GuardedRDBStorage`, for damage the page check cannot see (a changed byte inside a
  stored JSON value or text): a read that cannot decode what is stored raises
  :class:`StorageDamagedError` naming the storage. Opening a study reads every trial first
  (``optuna.get_all_study_summaries``), so such damage is found before the search writes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial

from nas.search.optuna_compat import RDBHooks, validate
from search_spaces.errors import UserInputError

__all__ = ["GuardedRDBStorage", "StorageDamagedError", "check_sqlite_file", "sqlite_path"]

_F = TypeVar("_F", bound=Callable[..., Any])
#: What reading damaged rows raises: SQLite's own errors (through SQLAlchemy, which Optuna
#: wraps), undecodable text or JSON, and an enum column holding an unknown name.
_DAMAGE = (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError, sqlite3.DatabaseError,
           UnicodeDecodeError, json.JSONDecodeError, LookupError)


#: Tables every Optuna RDB storage has had since Optuna 2 (a file lacking one lost it).
_TABLES = ("studies", "study_directions", "study_user_attributes", "study_system_attributes", "trials",
           "trial_params", "trial_values", "trial_user_attributes", "trial_system_attributes",
           "trial_intermediate_values", "version_info")


class StorageDamagedError(UserInputError):
    """The study storage exists but what it holds cannot be read."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; ``None`` for other URLs and in-memory databases."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_sqlite_file(url: str) -> None:
    """Refuse an existing SQLite file that is damaged or is not an Optuna storage; read-only.

    A missing or empty file passes (Optuna makes a new storage there), as does any non-SQLite URL.

    Raises:
        StorageDamagedError: with a short reason (the caller names the URL).
    """
    path = sqlite_path(url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=60)) as connection:
            connection.text_factory = lambda raw: raw.decode("utf-8", "replace")
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(1)")]
            tables = sorted(row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'"))
    except sqlite3.DatabaseError as err:
        raise StorageDamagedError(f"not a readable SQLite database: {_line(err)}") from None
    if problems != ["ok"]:
        raise StorageDamagedError(f"damaged SQLite file: {_line(problems[0].removeprefix('*** in database main ***'))}")
    if tables and "studies" not in tables:
        raise StorageDamagedError(f"a SQLite database but not an Optuna study storage (its tables: "
                                  f"{', '.join(tables[:5])}{', ...' if len(tables) > 5 else ''})")
    missing = [t for t in _TABLES if t not in tables]
    if tables and missing:
        raise StorageDamagedError(f"damaged Optuna storage: table {missing[0]} is missing")


def _describe(err: BaseException) -> str:
    """What went wrong, for the message: a database error's own text, else the exception's type and text."""
    if isinstance(err, (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error)):
        return _line(err)
    return _line(f"{type(err).__name__}: {err}")


def _line(problem: object, limit: int = 160) -> str:
    """One printable line of at most ``limit`` characters (a damaged row's text can hold anything)."""
    text = " ".join(str(problem).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _cause(err: BaseException) -> BaseException:
    """The database error behind Optuna's ``StorageInternalError`` (whose own message is generic)."""
    return err.__cause__ if isinstance(err, optuna.exceptions.StorageInternalError) and err.__cause__ else err


def _guarded(read: _F, also: tuple[type[Exception], ...] = ()) -> _F:
    """``read`` with damaged-data errors (and ``also``) raised as :class:`StorageDamagedError`.

    ``KeyError`` (no such study or trial) and integrity errors are Optuna's own answers and pass.
    """

    @functools.wraps(read)
    def wrapper(self: GuardedRDBStorage, *args: Any, **kwargs: Any) -> Any:
        try:
            return read(self, *args, **kwargs)
        except StorageDamagedError:
            raise
        except (*_DAMAGE, *also) as err:
            if isinstance(err, (KeyError, sqlalchemy.exc.IntegrityError)):
                raise
            raise self.damaged(_cause(err)) from None

    return wrapper  # type: ignore[return-value]


class GuardedRDBStorage(RDBHooks):
    """:class:`optuna.storages.RDBStorage` that checks a SQLite file first and names damage in one sentence."""

    def __init__(self, url: str, *args: Any, **kwargs: Any) -> None:
        try:
            check_sqlite_file(url)
        except StorageDamagedError as err:
            where = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
            raise StorageDamagedError(f"study storage {where}: {err}") from None
        super().__init__(url, *args, **kwargs)

    def damaged(self, err: BaseException) -> StorageDamagedError:
        """The one-sentence error for a read of this storage that failed with ``err``."""
        where = sqlalchemy.engine.make_url(self.url).render_as_string(hide_password=True)
        return StorageDamagedError(f"study storage {where} cannot be read ({_describe(err)}); if it is damaged, "
                                   f"restore it from a backup or start the study elsewhere (another --out or --storage)")

    def frozen_trial(self, trial: Any) -> FrozenTrial:
        try:
            frozen = super().frozen_trial(trial)
            validate(frozen)  # Optuna's own check of a trial it is given (state, values, params in range)
            if not isinstance(frozen.number, int):
                raise TypeError(f"trial {trial.trial_id} has number {frozen.number!r}")
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:  # stored data that is not Optuna's
            raise self.damaged(err) from None
        return frozen

    # Reads with no ValueError / TypeError of their own: there, one means a column that does not parse
    # (a datetime, a number stored as text).
    get_all_studies = _guarded(optuna.storages.RDBStorage.get_all_studies, (ValueError, TypeError))
    get_study_directions = _guarded(optuna.storages.RDBStorage.get_study_directions)
    get_study_user_attrs = _guarded(optuna.storages.RDBStorage.get_study_user_attrs)
    get_study_system_attrs = _guarded(optuna.storages.RDBStorage.get_study_system_attrs)
    get_trial = _guarded(optuna.storages.RDBStorage.get_trial, (ValueError, TypeError))
    read_trials = _guarded(RDBHooks.read_trials, (ValueError, TypeError))
    get_trial_user_attrs = _guarded(optuna.storages.RDBStorage.get_trial_user_attrs)
    get_trial_system_attrs = _guarded(optuna.storages.RDBStorage.get_trial_system_attrs)
    get_trial_param = _guarded(optuna.storages.RDBStorage.get_trial_param)
    get_best_trial = _guarded(optuna.storages.RDBStorage.get_best_trial)
