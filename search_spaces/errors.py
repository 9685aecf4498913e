"""Errors raised for bad user input; the CLIs turn them into one line and exit code 2."""

from __future__ import annotations

import math

__all__ = ["GenomeError", "ParameterError", "UnknownNameError", "UserInputError", "positive"]


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
