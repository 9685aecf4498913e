"""Open the search's Optuna study: create it, or load it to resume, refusing what would mix searches.

Storages are Optuna RDB URLs (SQLite, PostgreSQL, MySQL). SQLite files run in WAL mode with
``synchronous=NORMAL``: a commit no longer waits for the disk, readers (optuna-dashboard,
other workers) do not block the writer, and a crashed process still loses nothing
committed (only a power cut can drop the last transactions). The search's settings are saved as study attributes; a
resume with other settings (space, reward, targets, evaluators, their knobs) is refused,
since rewards from two settings are not comparable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from nas.search.rdb import FastRDBStorage
from search_spaces.errors import UserInputError

__all__ = ["open_study", "storage"]


def storage(url: str) -> optuna.storages.BaseStorage:
    """The storage at ``url``, connected (one sentence naming the URL if it cannot be)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        store = FastRDBStorage(
            url, engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None)
        if url.startswith("sqlite"):
            sqlalchemy.event.listen(store.engine, "connect", _sqlite_pragmas)
            store.engine.dispose()  # connections made so far lack the pragmas
        return store
    except (ImportError, ModuleNotFoundError) as err:
        raise UserInputError(f"--storage {_safe(url)}: the database driver is not installed ({err})") from None
    except Exception as err:  # sqlalchemy raises many kinds; all mean "cannot use this URL"
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserInputError(f"--storage {_safe(url)}: cannot open the study storage ({text[:200]})") from None


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _safe(url: str) -> str:
    """The URL with any password hidden."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def open_study(url: str, name: str, directions: Sequence[str], sampler: optuna.samplers.BaseSampler,
               config: dict[str, Any], resume: bool, out: Path,
               pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """Create study ``name`` (or load it when ``resume``), checking it belongs to this search.

    Raises:
        UserInputError: the storage is unreachable; the study exists and ``resume`` is false;
            ``resume`` but there is no such study; or the saved settings differ from ``config``.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    store = storage(url)
    names = [s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)]
    if resume:
        if name not in names:
            found = f" (it has: {', '.join(names)})" if names else ""
            raise UserInputError(f"--resume: there is no study {name!r} in {_safe(url)}{found}; start it without "
                                 f"--resume or pass --study-name")
        study = optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)
        saved = study.user_attrs.get("config", {})
        changed = [k for k in config if k in saved and _norm(saved[k]) != _norm(config[k])]
        if changed:
            key = changed[0]
            raise UserInputError(f"--resume: study {name!r} was run with {key} = {saved[key]!r}, not {config[key]!r}; "
                                 f"use the original settings or start a new study (--study-name)")
        if list(study.directions) != [optuna.study.StudyDirection[d.upper()] for d in directions]:
            raise UserInputError(f"--resume: study {name!r} optimises other objectives than reward "
                                 f"{config.get('reward')!r}")
        return study
    if name in names:
        raise UserInputError(f"study {name!r} already exists in {_safe(url)}; continue it with --resume, or choose "
                             f"another --out or --study-name")
    study = optuna.create_study(study_name=name, storage=store, sampler=sampler, pruner=pruner,
                                directions=list(directions))
    study.set_user_attr("config", config)
    study.set_user_attr("out", str(out))
    return study


def _norm(value: Any) -> Any:
    """JSON round trip (tuples become lists) so saved and current settings compare alike."""
    return json.loads(json.dumps(value))
