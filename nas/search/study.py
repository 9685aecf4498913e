"""Open the search's Optuna study: create it, or load it to resume or join, refusing what would mix searches.

Storages are Optuna RDB URLs (SQLite, PostgreSQL, MySQL) or ``journal:PATH`` (Optuna's
journal file, for many processes on one machine). SQLite files run in WAL mode with
``synchronous=NORMAL``: a commit no longer waits for the disk, readers (optuna-dashboard,
other workers) do not block the writer, and a crashed process still loses nothing
committed (only a power cut can drop the last transactions). Passwords in URLs never
reach messages or outputs (:func:`safe_url`); libpq's ``PGPASSWORD`` and ``~/.pgpass``
keep them out of the command line too.

The search's settings are saved as study attributes; a resume or a joining worker with
other settings (space, reward, targets, evaluators, their knobs) is refused, since rewards
from two settings are not comparable.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from nas.search.journal import JournalStore
from nas.search.rdb import FastRDBStorage
from nas.search.storage_guard import sqlite_path
from search_spaces.errors import UserInputError, first_line

__all__ = ["JOURNAL", "open_study", "safe_url", "storage"]


#: The journal file storage's URL prefix: ``journal:PATH`` (a relative or absolute path).
JOURNAL = "journal:"


def storage(url: str, heartbeat: int | None = None) -> optuna.storages.BaseStorage:
    """The storage at ``url``, connected (one sentence naming the URL if it cannot be).

    Args:
        url: An RDB URL (``sqlite:///PATH``, ``postgresql://USER@HOST/DB``, ``mysql://...``) or
            ``journal:PATH`` for Optuna's journal file storage.
        heartbeat: Seconds between a running trial's heartbeats; a trial is failed as stale
            (its worker died) after twice this without one. ``None``: no heartbeats.
    """
    grace = None if heartbeat is None else 2 * heartbeat
    _refuse_unusable(url)
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return _open(url, heartbeat, grace)
        except UserInputError:
            raise  # a damaged file: already one sentence naming the storage (nas.search.storage_guard)
        except (ImportError, ModuleNotFoundError) as err:
            backend = url.split(":", 1)[0].split("+", 1)[0]
            driver = _DRIVERS.get(backend, "the database driver SQLAlchemy names for it")
            raise UserInputError(f"study storage {safe_url(url)}: the {backend} driver is not installed ({err}); "
                                 f"install {driver}") from None
        except Exception as err:  # noqa: BLE001 (sqlalchemy raises many kinds; all mean "cannot use this URL")
            text = first_line(err, type(err).__name__)
            if _racing(text) and attempt + 1 < _CREATE_ATTEMPTS:
                time.sleep(0.2 * (attempt + 1))  # another process is creating the same new storage: let it finish
                continue
            raise UserInputError(f"study storage {safe_url(url)} cannot be opened ({safe_url(text)[:200]})") from None
    raise AssertionError("unreachable")


#: Tries to open a storage that another process may be creating at the same moment.
_CREATE_ATTEMPTS = 5
#: Backend -> how to install its driver (SQLAlchemy's default drivers).
_DRIVERS = {"postgresql": "psycopg: pip install 'psycopg[binary]' (or this project's postgres extra)",
            "mysql": "a MySQL driver: pip install pymysql, and write the URL as mysql+pymysql://...",
            "mariadb": "a MySQL driver: pip install pymysql, and write the URL as mariadb+pymysql://..."}


def _racing(text: str) -> bool:
    """Whether an error opening a storage is two processes creating its tables at once (Optuna's alembic setup)."""
    return "alembic_version" in text or "already exists" in text or "database is locked" in text


def _refuse_unusable(url: str) -> None:
    """Refuse a storage a search cannot use, whatever it holds: an in-memory SQLite database is gone with the process."""
    try:
        parsed = sqlalchemy.engine.make_url(url) if not url.startswith(JOURNAL) else None
    except sqlalchemy.exc.ArgumentError:
        return  # the opening names what is wrong with it
    if parsed is not None and parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise UserInputError(f"study storage {safe_url(url)} is an in-memory SQLite database, which is lost when the "
                             f"process ends and which other workers cannot see; give a file: sqlite:///PATH.db")


def _open(url: str, heartbeat: int | None, grace: int | None) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL):
        path = Path(url.removeprefix(JOURNAL).removeprefix("//"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStore(str(path), heartbeat, grace)
    database = sqlite_path(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    # SQLite: wait up to a minute for another worker's write instead of failing after 5 s.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
        store = FastRDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat, grace_period=grace)
    if url.startswith("sqlite"):
        sqlalchemy.event.listen(store.engine, "connect", _sqlite_pragmas)
        store.engine.dispose()  # connections made so far lack the pragmas
    return store


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def safe_url(text: str) -> str:
    """``text`` with the password of any URL in it hidden (logs, outputs, error messages)."""
    return re.sub(r"(//[^:/@\s]+:)[^@\s]*@", r"\1***@", text)


def open_study(url: str, name: str, directions: Sequence[str], sampler: optuna.samplers.BaseSampler,
               config: dict[str, Any], resume: bool, out: Path,
               pruner: optuna.pruners.BasePruner | None = None, join: bool = False,
               heartbeat: int | None = None) -> optuna.Study:
    """Create study ``name``, or load it to continue, checking it belongs to this search.

    Args:
        url: The storage URL (see :func:`storage`).
        name: The study's name.
        directions: The reward's objective directions.
        sampler: The strategy's sampler.
        config: The search's settings; an existing study must have been made with the same ones.
        resume: Continue an existing study (it must exist).
        out: The run directory (saved with a new study).
        pruner: The study's pruner.
        join: Continue the study if it exists, create it if not: a worker on another machine
            running the same command on a shared storage.
        heartbeat: Seconds between running trials' heartbeats (see :func:`storage`).

    Raises:
        UserInputError: the storage is unreachable; the study exists and neither ``resume`` nor
            ``join``; ``resume`` but there is no such study; or its saved settings differ from ``config``.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    store = storage(url, heartbeat)
    names = [s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)]
    flag = "--resume: " if resume else ""
    if resume and name not in names:
        found = f" (it has: {', '.join(names)})" if names else ""
        raise UserInputError(f"--resume: there is no study {name!r} in {safe_url(url)}{found}; start it without "
                             f"--resume or pass --study-name")
    if name in names and not (resume or join):
        raise UserInputError(f"study {name!r} already exists in {safe_url(url)}; continue it with --resume, or choose "
                             f"another --out or --study-name")
    if name not in names:
        try:
            study = optuna.create_study(study_name=name, storage=store, sampler=sampler, pruner=pruner,
                                        directions=list(directions))
        except optuna.exceptions.DuplicatedStudyError:  # another process created it just now
            if not (resume or join):  # the same refusal as when it was there before: one search per study
                raise UserInputError(f"study {name!r} already exists in {safe_url(url)} (another search created it "
                                     f"just now); continue it with --resume, or choose another --out or "
                                     f"--study-name") from None
        else:
            study.set_user_attr("config", config)
            study.set_user_attr("out", str(out))
            return study
    study = optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)
    saved = _wait_for_config(study, 30.0 if join and not resume else 0.0)  # a study another worker just made
    if not isinstance(saved, dict) or not saved:
        raise UserInputError(f"{flag}study {name!r} in {safe_url(url)} has no readable search settings (made by "
                             f"another tool, or edited); start a new study (--study-name)")
    changed = [k for k in config if k in saved and _norm(saved[k]) != _norm(config[k])]
    if changed:
        key = changed[0]
        raise UserInputError(f"{flag}study {name!r} was run with {key} = {saved[key]!r}, not {config[key]!r}; "
                             f"use the original settings or start a new study (--study-name)")
    if list(study.directions) != [optuna.study.StudyDirection[d.upper()] for d in directions]:
        raise UserInputError(f"{flag}study {name!r} optimises other objectives than reward {config.get('reward')!r}")
    return study


def _wait_for_config(study: optuna.Study, seconds: float = 30.0) -> Any:
    """The study's saved settings; a study created a moment ago by another worker may not have them yet."""
    deadline = time.monotonic() + seconds
    while True:
        saved = study.user_attrs.get("config")
        if saved is not None or time.monotonic() > deadline:
            return saved
        time.sleep(0.2)


def _norm(value: Any) -> Any:
    """JSON round trip (tuples become lists) so saved and current settings compare alike."""
    return json.loads(json.dumps(value))
