"""Errors raised for bad user input; the CLIs turn them into one line and exit code 2."""

from __future__ import annotations

__all__ = ["GenomeError", "UnknownNameError", "UserInputError"]


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
