"""Pickle files read without running what they name: only allow-listed globals, every failure one sentence.

``pickle.load`` imports and calls whatever a file names, so a file from elsewhere could run any
command. The CIFAR-10 batches and NAS-Bench-201's table are pickles; both are read here, each
with the few globals its data needs (none, for plain dicts and lists).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from search_spaces.errors import UserInputError

__all__ = ["load_restricted", "reason"]

T = TypeVar("T")


def reason(err: BaseException) -> str:
    """An exception as the short parenthesis of a one-sentence error: its type and message on one line."""
    return " ".join(f"{type(err).__name__}: {err}".split())[:200]


class _Restricted(pickle.Unpickler):
    def __init__(self, handle: Any, allowed: Mapping[tuple[str, str], Any], refusal: str, **kwargs: Any) -> None:
        super().__init__(handle, **kwargs)
        self.allowed, self.refusal = allowed, refusal

    def find_class(self, module: str, name: str) -> Any:
        # numpy 2 pickles name numpy._core where numpy 1 named numpy.core: one allow-list serves both.
        found = self.allowed.get((module.replace("numpy._core", "numpy.core"), name))
        if found is None:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: {self.refusal}")
        return found


def load_restricted(path: Path, check: Callable[[Any], T], *, reading: str, being: str, refusal: str,
                    allowed: Mapping[tuple[str, str], Any] | None = None, encoding: str = "ASCII") -> T:
    """``check(obj)`` of the pickle at ``path``, unpickled with only the ``allowed`` globals.

    Args:
        path: The file.
        check: Validates and converts the loaded object; any exception it raises means the file
            is not what it should be.
        reading: What the file is, for "cannot read ..." (an operating-system error).
        being: What the file should be, for "not ..." (a damaged, hostile or wrong file).
        refusal: Why a global outside ``allowed`` is refused ("the table holds plain data only").
        allowed: ``(module, name) -> object`` the pickle may name.
        encoding: Passed to :class:`pickle.Unpickler` (``latin1`` for Python 2 pickles).

    Raises:
        UserInputError: one sentence naming ``path``.
    """
    try:
        with open(path, "rb") as handle:
            obj = _Restricted(handle, allowed or {}, refusal, encoding=encoding).load()
        return check(obj)
    except OSError as err:
        raise UserInputError(f"{path}: cannot read {reading} ({err.strerror or err})") from None
    except UserInputError:
        raise
    except Exception as err:  # noqa: BLE001 (a damaged or hostile pickle raises any kind)
        raise UserInputError(f"{path}: not {being} ({reason(err)})") from None
