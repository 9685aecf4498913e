"""Checking that a library still has the private names a compat module relies on.

A compat module (:mod:`nas.search.optuna_compat`, :mod:`nas.strategies.nni_compat`) is the
one place that touches a library's private API. It lists what it relies on as *needs*,
grouped by *feature*, in a table that :func:`needs` reads, one need a line
(a line that starts with spaces continues the one before)::

    rdb-writes  optuna.storages._rdb.storage:RDBStorage._get_prepared_new_trial(study_id, template_trial, session)
    rdb-writes  optuna.storages._rdb.models:TrialParamModel.{trial_id param_name}
    journal     optuna.storages.journal:JournalStorage()._replay_result._trials

A name ending in ``(parameters)`` is a function that must take exactly those (``self``
left out; ``()``: none); any other name is an attribute that must exist; ``{a b}`` is one
attribute need each. A part ``Name()`` inside the name stands for a sample instance of
``Name`` (instance attributes exist only on instances), made by the module's sample
factory for ``Name``; any other ``name()`` inside is called without arguments; a last
``#key`` says the object is a mapping that must hold ``key``.

:class:`PrivateAPI` checks the needs (names with ``hasattr``, parameters with
``inspect.signature``) and says each change in one sentence: "optuna 5.2 changed
RDBStorage._get_prepared_new_trial(study_id, template_trial, session): it now takes
(study_id, template_trial, session, lock)". At run time each feature is checked once per
process, the first time it is used; a feature that fails warns once, naming the change and
what runs instead, and its callers take their public path.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Need", "PrivateAPI", "needs"]

#: ``(feature, "module:dotted.name", parameters or None)``: one private name a compat module relies on.
Need = tuple[str, str, "str | None"]


def needs(table: str) -> tuple[Need, ...]:
    """The needs of a text table (see the module docstring)."""
    lines: list[str] = []
    for line in table.strip("\n").splitlines():
        if line.startswith(" ") and lines:
            lines[-1] += " " + line.strip()
        elif line.strip():
            lines.append(line.strip())
    found: list[Need] = []
    for line in lines:
        feature, where = line.split(None, 1)
        params = None
        if where.endswith(")") and "#" not in where:
            where, _, params = where[:-1].rpartition("(")
        if where.endswith("}"):
            owner, _, names = where[:-1].partition("{")
            found += [(feature, owner + name, None) for name in names.split()]
        else:
            found.append((feature, where, params))
    return tuple(found)


class PrivateAPI:
    """The private names one compat module relies on in one library, and what runs when they change.

    Args:
        library: The library's name, as messages say it.
        version: Its installed version.
        tested: The releases the compat module was tested with.
        needs: What it relies on (see the module docstring).
        samples: Class name -> a factory of a sample instance, given the class.
        fallbacks: Feature -> what runs instead when its check fails (the end of the warning).
        warning: The category of the warning.
    """

    def __init__(self, library: str, version: str, tested: Sequence[str], needs: Sequence[Need],
                 samples: Mapping[str, Callable[[type], Any]], fallbacks: Mapping[str, str],
                 warning: type[Warning]) -> None:
        self.library, self.version, self.tested = library, version, tuple(tested)
        self.needs, self.samples, self.fallbacks, self.warning = tuple(needs), dict(samples), dict(fallbacks), warning
        self._verdicts: dict[str, bool] = {}

    def check(self, feature: str | None = None) -> list[str]:
        """Every change of what is relied on (by one ``feature``, or all), one sentence each; read afresh."""
        made: dict[str, Any] = {}  # one sample of each class per check
        problems = [self._problem(where, params, made) for need_feature, where, params in self.needs
                    if feature is None or need_feature == feature]
        return list(dict.fromkeys(f"{self.library} {self.version} changed {p}" for p in problems if p is not None))

    def supported(self, feature: str) -> bool:
        """Whether ``feature`` may take its fast path (checked once); the first ``False`` warns, naming the change."""
        verdict = self._verdicts.get(feature)
        if verdict is None:
            problems = self.check(feature)
            if problems:
                warnings.warn(f"{problems[0]}; {self.fallbacks.get(feature, 'it is not used')} (tested with "
                              f"{self.library} {', '.join(self.tested)})", self.warning, stacklevel=3)
            verdict = self._verdicts[feature] = not problems
        return verdict

    def forget(self) -> None:
        """Check every feature again on its next use (after a test changed the library)."""
        self._verdicts.clear()

    def _problem(self, where: str, params: str | None, made: dict[str, Any]) -> str | None:
        """What changed about one need, as the end of a sentence; ``None`` if nothing did."""
        module, _, dotted = where.partition(":")
        dotted, _, key = dotted.partition("#")
        shown = dotted.replace("()", "") + ("" if params is None else f"({params})")
        try:
            obj: Any = importlib.import_module(module)
            for part in dotted.split("."):
                name = part.removesuffix("()")
                if not hasattr(obj, name):
                    return f"{shown}: {name} is gone"
                obj = getattr(obj, name)
                if part.endswith("()"):
                    if name in self.samples:
                        obj = made[name] if name in made else made.setdefault(name, self.samples[name](obj))
                    else:
                        obj = obj()
        except Exception as err:  # noqa: BLE001 (a module that no longer imports, a sample that cannot be made)
            return f"{shown}: {type(err).__name__}: {err}"
        if key:
            return None if key in obj else f"{dotted}: it no longer holds {key!r}"
        if params is None:
            return None
        try:
            found = [p.name for p in inspect.signature(obj).parameters.values()]
        except (TypeError, ValueError):
            return f"{shown}: it is no longer a function"
        found = found[1:] if found[:1] in (["self"], ["cls"]) else found
        if found != [p for p in params.split(", ") if p]:
            return f"{shown}: it now takes ({', '.join(found)})"
        return None
