"""Errors raised for bad user input; the CLIs turn them into one line and exit code 2."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["GenomeError", "ParameterError", "UnknownNameError", "UserInputError", "first_line", "listing", "positive",
           "state_dict_mismatch"]


class UserInputError(ValueError):
    """A problem with something the user supplied (a file, a name, a number).

    The message is one sentence that names the input and says what is wrong; CLIs
    print it without a traceback and exit with code 2.
    """


class GenomeError(UserInputError):
    """A genome field is missing, has the wrong type or an impossible value.

    Attributes:
        field: Dotted path of the offending field (``stages[2].channels``), if known.
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class UnknownNameError(UserInputError, KeyError):
    """A name (model, block, activation, space...) is not in its registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ParameterError(UserInputError):
    """A function's argument is outside its domain.

    The message speaks of the parameter (``alpha must be a positive number, got -1``); a
    CLI that took the value from a flag names the flag instead (:func:`nas.cli.run`).

    Attributes:
        parameter: The parameter's name.
        problem: What is wrong, without the name (``must be a positive number, got -1``).
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter, self.problem = parameter, problem


def positive(value: object, name: str) -> float:
    """``value`` as a float if it is a finite number > 0, else a :class:`ParameterError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(name, f"must be a positive number, got {value!r}")
    return float(value)


def first_line(err: BaseException, fallback: str = "unreadable") -> str:
    """The first non-empty line of ``err``'s message (``fallback`` when it has none), for a one-sentence error."""
    text = str(err).strip()
    return text.splitlines()[0] if text else fallback


def listing(names: list[str], limit: int = 4) -> str:
    """The first ``limit`` of ``names``, comma-separated, and how many more there are."""
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def state_dict_mismatch(expected: Mapping[str, Any], given: Mapping[str, Any], shown: int = 3) -> str:
    """Why ``given`` would not load strictly where ``expected`` is the module's own state dict ("" if it would).

    Torch's own message starts with a line that names only the module's class; this names the
    missing, unexpected and wrongly shaped keys (the first ``shown`` of each) in one clause.

    Args:
        expected: ``module.state_dict()``: key to tensor (anything with ``.shape``).
        given: The state dict about to be loaded.
        shown: How many keys of each kind to name.
    """
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [k for k in expected if k in given and tuple(getattr(given[k], "shape", ()))
              != tuple(getattr(expected[k], "shape", ()))]
    parts = [f"{len(keys)} {kind} key{'s' * (len(keys) > 1)} ({listing(keys, shown)})"
             for kind, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
    if shapes:
        first = shapes[0]
        parts.append(f"{len(shapes)} key{'s' * (len(shapes) > 1)} of the wrong shape ({first} is "
                     f"{tuple(given[first].shape)}, needs {tuple(expected[first].shape)}"
                     f"{f'; {len(shapes) - 1} more' if len(shapes) > 1 else ''})")
    return "; ".join(parts)
