"""A tiny name -> object registry used for blocks, activations, norms, models and spaces."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from search_spaces.errors import UnknownNameError

__all__ = ["Registry", "lazy"]

T = TypeVar("T")


def lazy(module: str, attr: str) -> Callable[[], Any]:
    """A factory that imports ``module`` on first call and returns a fresh ``module.attr(*args, **kwargs)``.

    Registries of heavy entries (evaluators needing data loaders, strategies needing NNI)
    register these, so importing the registry stays light.
    """
    def make(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    make.__qualname__ = f"{module}.{attr}"
    return make


class Registry(Generic[T]):
    """A dict of named entries that refuses duplicates and suggests close names.

    Args:
        kind: What the entries are ("block type", "activation"), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``; a second registration of a name raises ``ValueError``."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers the decorated object under ``name``."""

        def wrap(entry: T) -> T:
            return self.register(name, entry)

        return wrap

    def get(self, name: str) -> T:
        """Return the entry for ``name``, or raise :class:`UnknownNameError` with suggestions."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """The one-sentence error for an unknown ``name``, with close matches or the valid names."""
        close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.6)
        if close:
            hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        else:
            hint = "valid: " + ", ".join(sorted(self._entries)) + "."
        return f"unknown {self.kind} {name!r}; {hint}"

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
