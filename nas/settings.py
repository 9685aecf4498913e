"""Typed settings: every evaluator and strategy declares its knobs once, and ``--set`` is checked against them.

A *settings class* is a frozen dataclass whose fields are knobs made with :func:`knob`:
the field's name is the knob's name, its annotation the type (``int``, ``float``,
``bool``, ``str``; ``X | None`` for a value derived at run time when not set, such as
"the genome's resolution"), and :func:`knob` adds the default, bounds, allowed choices
and a one-line help. An evaluator or strategy names its class in a ``settings`` class
attribute; that is the only place its knobs are declared.

The command line passes ``--set KEY=VALUE`` text; :func:`check` refuses, before any work
starts, a key no chosen evaluator or strategy reads (one sentence, with close matches, or
naming the unchosen evaluator that reads it) and a value of the wrong type or out of
bounds. :func:`resolve` turns the raw values into an instance of a settings class
(defaults filled, values typed), which is what the evaluator reads; :func:`describe`
lists the knobs for ``--help-settings``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from search_spaces.errors import UserInputError

__all__ = ["Knob", "Owner", "SettingError", "check", "describe", "knob", "knobs", "parse_pairs", "resolve",
           "resolved_values"]

T = TypeVar("T")

#: Names of the knob types, for messages and ``--help-settings``.
_TYPE_NAMES = {int: "integer", float: "number", bool: "true/false", str: "text"}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class SettingError(UserInputError):
    """A ``--set`` key no evaluator or strategy reads, or a value its knob does not accept."""


@dataclass(frozen=True)
class Knob:
    """One declared setting.

    Attributes:
        name: The key (``epochs``).
        type: ``int``, ``float``, ``bool`` or ``str``.
        optional: Whether ``None`` is a value (its meaning is ``none``: derived at run time).
        default: The value when not set.
        help: One line saying what it does.
        low: Smallest value (numbers), or ``None``.
        high: Largest value (numbers), or ``None``.
        low_open: ``low`` itself is excluded.
        choices: Allowed values of a text knob: a tuple, or a function returning them
            (a registry's names, imported when needed).
        special: Words a number knob also accepts (``eval_resolution=fixres``).
        none: What an unset optional knob means (``the genome's resolution``).
    """

    name: str
    type: type
    optional: bool
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    special: tuple[str, ...] = ()
    none: str = ""

    def allowed(self) -> tuple[str, ...] | None:
        """The allowed choices (a function is called), or ``None`` for any value of the type."""
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def parse(self, value: Any) -> Any:
        """``value`` (command-line text, or a number/bool/str from Python or a saved file) as this knob's type.

        Raises:
            SettingError: one sentence naming the knob, what it accepts and what it got.
        """
        if value is None:
            if self.optional:
                return None
            raise self._error(value)
        if isinstance(value, str) and value.strip() in self.special:
            return value.strip()
        if self.type is str:
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                value = ",".join(value)  # a list of names written as YAML/JSON
            if not isinstance(value, str):
                raise self._error(value)
            parsed: Any = value.strip()
        elif self.type is bool:
            parsed = _bool(value)
            if parsed is None:
                raise self._error(value)
        else:
            parsed = _number(value, self.type)
            if parsed is None:
                raise self._error(value)
            if ((self.low is not None and (parsed < self.low or (self.low_open and parsed == self.low)))
                    or (self.high is not None and parsed > self.high)):
                raise self._error(value)
        allowed = self.allowed()
        if allowed is not None and parsed not in allowed:
            close = difflib.get_close_matches(str(parsed), allowed, n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}?" if close else \
                f"one of: {', '.join(repr(c) for c in allowed)}"
            raise SettingError(f"setting {self.name!r} does not accept {parsed!r}; {hint}")
        return parsed

    def accepts(self) -> str:
        """What the knob accepts, in words (``an integer from 1 to 1024``)."""
        allowed = self.allowed()
        if allowed is not None:
            shown = ", ".join(repr(c) for c in allowed[:8])
            text = "one of " + shown + (f" ... ({len(allowed)} names)" if len(allowed) > 8 else "")
        elif self.type in (int, float):
            kind = "an integer" if self.type is int else "a number"
            if self.low is not None and self.high is not None and not self.low_open:
                text = f"{kind} from {_num(self.low)} to {_num(self.high)}"
            else:
                low = "" if self.low is None else f" {'>' if self.low_open else '>='} {_num(self.low)}"
                high = "" if self.high is None else f" <= {_num(self.high)}"
                text = kind + low + (" and" if low and high else "") + high
        else:
            text = "true or false" if self.type is bool else "text"
        if self.special:
            text += " or " + " or ".join(repr(s) for s in self.special)
        return text

    def describe(self) -> str:
        """One line for ``--help-settings``: name, type and bounds, default, help."""
        default = self.none if self.default is None else repr(self.default)
        return f"{self.name} = {default}  ({self.accepts()}): {self.help}"

    def _error(self, value: Any) -> SettingError:
        return SettingError(f"setting {self.name!r} must be {self.accepts()}, got {value!r}")


def _num(value: float) -> str:
    """``10000000`` -> ``10,000,000``; ``0.99`` -> ``0.99``."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def knob(default: Any, help: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
         choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None, special: tuple[str, ...] = (),
         none: str = "") -> Any:
    """A settings-class field declaring a knob (see :class:`Knob` for the arguments)."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "choices": choices, "special": special,
            "none": none}
    return dataclasses.field(default=default, metadata={"knob": meta})


@cache
def knobs(cls: type) -> tuple[Knob, ...]:
    """The knobs a settings class declares, in field order.

    Raises:
        TypeError: a field made without :func:`knob`, or of a type a knob cannot have (a bug).
    """
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "knob" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with knob()")
        meta = f.metadata["knob"]
        base, optional = _base_type(hints[f.name], bool(meta["special"]))
        out.append(Knob(f.name, base, optional, f.default, **meta))
    return tuple(out)


def _base_type(hint: Any, special: bool) -> tuple[type, bool]:
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    optional = type(None) in args
    kinds = [a for a in args if a is not type(None) and not (special and a is str)]
    if len(kinds) != 1 or kinds[0] not in _TYPE_NAMES:
        raise TypeError(f"a knob must be an int, float, bool or str (optionally | None), got {hint!r}")
    return kinds[0], optional


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    return None


def _number(value: Any, kind: type) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip()) if kind is int else float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


@dataclass(frozen=True)
class Owner:
    """Who reads a group of knobs: ``kind`` (``evaluator``, ``strategy``), its ``name`` and its settings class."""

    kind: str
    name: str
    settings: type | None


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["epochs=2", "optimizer=adamw"]`` -> ``{"epochs": "2", "optimizer": "adamw"}`` (text; knobs type it).

    Raises:
        SettingError: an item without ``=``, with an empty key, or a key given twice.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingError(f"a setting must be KEY=VALUE, got {pair!r}")
        if key in out:
            raise SettingError(f"setting {key!r} is given twice ({key}={out[key]} and {pair}); keep one")
        out[key] = value.strip()
    return out


def check(values: Mapping[str, Any], owners: Sequence[Owner], others: Sequence[Owner] = ()) -> None:
    """Refuse a key that none of ``owners`` reads and a value its knobs do not accept.

    Args:
        values: Raw settings (text from the command line, or values from Python or a file).
        owners: The evaluators and strategy this run uses.
        others: Every other registered owner, so a key of an unused one is named as such.

    Raises:
        SettingError: one sentence, for the first bad key or value.
    """
    readers: dict[str, list[Knob]] = {}
    for owner in owners:
        for k in knobs(owner.settings) if owner.settings is not None else ():
            readers.setdefault(k.name, []).append(k)
    for key, value in values.items():
        if key not in readers:
            raise SettingError(_unknown(key, owners, others, readers))
        for k in readers[key]:
            k.parse(value)


def _unknown(key: str, owners: Sequence[Owner], others: Sequence[Owner], readers: Mapping[str, Any]) -> str:
    users = [o for o in others if o.settings is not None and any(k.name == key for k in knobs(o.settings))]
    if users:
        who = " and ".join(f"{o.kind} {o.name!r}" for o in users)
        return f"setting {key!r} is read by {who}, which this run does not use"
    close = difflib.get_close_matches(key, list(readers), n=3, cutoff=0.6)
    if close:
        return f"unknown setting {key!r}; did you mean {' or '.join(map(repr, close))}?"
    names = ", ".join(f"{o.kind} {o.name!r}" for o in owners)
    return f"unknown setting {key!r}: no knob of {names} has that name (list them with --help-settings)"


def resolve(cls: type[T], values: Mapping[str, Any]) -> T:
    """An instance of settings class ``cls`` from ``values``: its own keys parsed, the rest of ``values`` ignored.

    Raises:
        SettingError: a value its knob does not accept; ``UserInputError`` from the class's own
            cross-checks (``__post_init__``).
    """
    return cls(**{k.name: k.parse(values[k.name]) for k in knobs(cls) if k.name in values})


def resolved_values(instance: Any) -> dict[str, Any]:
    """Plain data of a settings instance (every knob, defaults included), for records such as found.yaml."""
    return {k.name: getattr(instance, k.name) for k in knobs(type(instance))}


def describe(owners: Sequence[Owner]) -> str:
    """Every knob of ``owners``, grouped by owner, one line each (``--help-settings``)."""
    lines = []
    for owner in owners:
        declared = knobs(owner.settings) if owner.settings is not None else ()
        lines.append(f"{owner.kind} {owner.name}:" + ("" if declared else " no settings"))
        lines += [f"  {k.describe()}" for k in declared]
    return "\n".join(lines)
