"""The search-space contract: parameter distributions, decode, seeded sampling, named points.

A space is a list of plain-data distributions (categorical, int range, float range, each
optionally active only under a condition on an earlier parameter) plus a pure
``decode(params) -> Network``. The same distributions drive Optuna's define-by-run
``trial.suggest_*`` (:meth:`SearchSpace.suggest`), seeded sampling
(:meth:`SearchSpace.sample`) and, later, conversion to NNI choices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.units import human

__all__ = [
    "Categorical", "Condition", "Distribution", "FloatRange", "InfeasibleError", "IntRange", "MacsRange",
    "Restricted", "SearchSpace", "as_rng", "is_active", "params_digest",
]

Value = Union[int, float, str, bool]


class InfeasibleError(UserInputError):
    """No sample satisfied a constraint within the allowed number of tries."""


@dataclass(frozen=True)
class Condition:
    """A distribution is active only when parameter ``param`` took one of ``values``."""

    param: str
    values: tuple[Value, ...]

    def holds(self, params: Mapping[str, Any]) -> bool:
        """Whether the condition is met by the (partial) assignment ``params``."""
        return self.param in params and params[self.param] in self.values


@dataclass(frozen=True)
class Categorical:
    """One of a fixed tuple of choices (ints, floats, strings or bools)."""

    name: str
    choices: tuple[Value, ...]
    when: Condition | None = None
    # True == 1 in Python; keying on (is bool, value) makes a bool match only a bool choice.
    _keys: frozenset[tuple[bool, Value]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keys", frozenset((isinstance(c, bool), c) for c in self.choices))

    def draw(self, rng: random.Random) -> Value:
        return rng.choice(self.choices)

    def suggest(self, trial: Any) -> Value:
        return trial.suggest_categorical(self.name, list(self.choices))

    def contains(self, value: Any) -> bool:
        try:
            return (isinstance(value, bool), value) in self._keys
        except TypeError:  # unhashable: no choice is
            return False

    def describe(self) -> str:
        return "{" + ", ".join(map(str, self.choices)) + "}"


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]`` (both inclusive), on a ``step`` grid or log-uniform."""

    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False
    when: Condition | None = None

    def draw(self, rng: random.Random) -> int:
        if self.log:
            return min(self.high, max(self.low, round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))))
        return rng.randrange(self.low, self.high + 1, self.step)

    def suggest(self, trial: Any) -> int:
        return trial.suggest_int(self.name, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
                and (value - self.low) % self.step == 0)

    def describe(self) -> str:
        return f"int [{self.low}, {self.high}]" + (" log" if self.log else "") + (f" step {self.step}" if self.step > 1 else "")


@dataclass(frozen=True)
class FloatRange:
    """A float in ``[low, high]``, uniform or log-uniform, optionally on a ``step`` grid."""

    name: str
    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: Condition | None = None

    def draw(self, rng: random.Random) -> float:
        if self.step is not None:
            n = int(round((self.high - self.low) / self.step))
            return self.low + rng.randint(0, n) * self.step
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def suggest(self, trial: Any) -> float:
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and self.low <= value <= self.high)

    def describe(self) -> str:
        return f"float [{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


Distribution = Union[Categorical, IntRange, FloatRange]


def is_active(dist: Distribution, params: Mapping[str, Any]) -> bool:
    """Whether ``dist`` is active under the (partial) assignment ``params``: it has no condition, or it holds."""
    return dist.when is None or dist.when.holds(params)


def params_digest(params: Mapping[str, Any]) -> str:
    """A short, stable name for a parameter assignment (same params, same digest, any process).

    The SHA-1 of ``repr(sorted((k, repr(v)) for k, v in params.items()))``, written out by hand: the
    same text without the list and tuple reprs' bookkeeping (a third of a cell network's decoding).
    """
    text = "[" + ", ".join([f"({k!r}, {repr(v)!r})" for k, v in sorted(params.items())]) + "]"
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def as_rng(seed_or_rng: int | random.Random | None) -> random.Random:
    """A ``random.Random``: the one given, or a new one seeded with the int given."""
    if isinstance(seed_or_rng, random.Random):
        return seed_or_rng
    return random.Random(seed_or_rng)


@dataclass(frozen=True)
class MacsRange:
    """Constraint: the genome's MACs at its resolution lie in ``[low, high]``."""

    low: float
    high: float

    def __call__(self, genome: Network) -> bool:
        from search_spaces.cost import cost  # late: keeps spaces importable without building anything

        return self.low <= cost(genome).macs <= self.high

    def __str__(self) -> str:
        return f"MACs in [{human(self.low)}, {human(self.high)}]"


class SearchSpace(ABC):
    """A named design space.

    Subclasses set ``name`` and ``default_resolution`` and implement
    :meth:`distributions`, :meth:`decode` and :meth:`points`.

    Call order for a search: ``distributions()`` once (to set up a strategy), then per
    trial either ``suggest(trial)`` (Optuna) or ``decode(params)`` with params the
    strategy chose; ``sample(rng)`` for seeded random draws.
    """

    name: str = ""
    default_resolution: int = 224
    #: The reward a search of this space maximises unless ``--reward`` names one (:mod:`nas.rewards`).
    default_reward: str = "v2"
    #: Named points published at another input size than ``default_resolution`` (NASNet-A large: 331).
    point_resolutions: dict[str, int] = {}

    @abstractmethod
    def distributions(self) -> tuple[Distribution, ...]:
        """Every parameter, in an order where conditions refer only to earlier ones."""

    @abstractmethod
    def decode(self, params: Mapping[str, Any]) -> Network:
        """Pure: the genome for a full assignment of the active parameters."""

    @abstractmethod
    def points(self) -> dict[str, dict[str, Any]]:
        """Named published architectures of this space, as parameter assignments."""

    def for_data(self, data: str | None) -> SearchSpace:
        """This space for the dataset ``--data`` names: a space whose networks the dataset decides (a tabular
        benchmark's classes and input size) returns itself made for it; the others return themselves."""
        return self

    def active(self, params: Mapping[str, Any]) -> list[Distribution]:
        """The distributions active under ``params`` (conditions checked in order)."""
        return [d for d in self.distributions() if is_active(d, params)]

    def assign(self, choose: Callable[[Distribution], Any]) -> dict[str, Any]:
        """The one walk over the distributions: ``choose(d)`` for each active one, in order.

        A distribution's condition is checked against the values chosen so far (conditions
        refer only to earlier parameters), so the result holds exactly the active parameters.
        Sampling, Optuna's define-by-run suggestions and NNI's decoding are this walk with
        another ``choose``.
        """
        params: dict[str, Any] = {}
        for dist in self.distributions():
            when = dist.when
            if when is None or when.holds(params):  # is_active(dist, params), inline: a search draws often
                params[dist.name] = choose(dist)
        return params

    def check(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`UserInputError` naming the parameter if ``params`` is incomplete or out of range."""
        for dist in self.active(params):
            if dist.name not in params:
                raise UserInputError(f"space {self.name!r}: parameter {dist.name!r} is missing")
            if not dist.contains(params[dist.name]):
                raise UserInputError(f"space {self.name!r}: parameter {dist.name!r} must be in "
                                     f"{dist.describe()}, got {params[dist.name]!r}")

    def sample_params(self, seed_or_rng: int | random.Random | None = None) -> dict[str, Any]:
        """A seeded random assignment of the active parameters."""
        rng = as_rng(seed_or_rng)
        return self.assign(lambda dist: dist.draw(rng))

    def draw(self, rng: random.Random) -> Network:
        """One random genome from ``rng``: ``decode(sample_params(rng))``.

        A space whose own feasibility rules look at the decoded genome overrides this to
        decode each accepted draw once, with the same draws and the same result.
        """
        return self.decode(self.sample_params(rng))

    def sample(self, seed_or_rng: int | random.Random | None = None,
               constraint: Callable[[Network], bool] | None = None, max_tries: int = 1000) -> Network:
        """A seeded random genome (same seed, same genome), optionally satisfying ``constraint``.

        Raises:
            InfeasibleError: if ``max_tries`` samples all fail the constraint.
        """
        rng = as_rng(seed_or_rng)
        for _ in range(max_tries if constraint is not None else 1):
            genome = self.draw(rng)
            if constraint is None or constraint(genome):
                return genome
        raise InfeasibleError(f"no sample of space {self.name!r} satisfied {constraint} in {max_tries} tries; "
                              f"widen the constraint or raise max_tries")

    def suggest(self, trial: Any) -> Network:
        """Let an Optuna trial choose every active parameter (define-by-run), and decode."""
        return self.decode(self.assign(lambda dist: dist.suggest(trial)))

    def restrict(self, choices: Mapping[str, tuple[Value, ...]]) -> SearchSpace:
        """This space with fewer choices for some categorical parameters (what a supernet holds weights for).

        Args:
            choices: Parameter name -> the choices kept (a non-empty subset of its choices, in any order;
                the space's order is kept).

        Raises:
            UserInputError: a name that is no categorical parameter, or a kept choice it does not have.
        """
        return Restricted(self, choices) if choices else self

    def point(self, name: str) -> Network:
        """The genome of named point ``name``, under its published name."""
        points = self.points()
        if name not in points:
            raise UserInputError(f"space {self.name!r} has no named point {name!r}; it has: {', '.join(points)}")
        genome = self.decode(points[name])
        return dataclasses.replace(genome, name=name, resolution=self.point_resolutions.get(name, genome.resolution))


class Restricted(SearchSpace):
    """A space whose categorical parameters offer only some of their choices; everything else is the space's.

    Strategies see the fewer choices through :meth:`distributions` (so a random, TPE, NNI or RL search
    proposes only them); decoding, named points and resolutions are the space's own.

    Args:
        space: The full space.
        choices: Parameter name -> choices kept (see :meth:`SearchSpace.restrict`).
    """

    def __init__(self, space: SearchSpace, choices: Mapping[str, tuple[Value, ...]]) -> None:
        self.space = space
        self.name = space.name
        self.default_resolution = space.default_resolution
        self.default_reward = space.default_reward
        self.point_resolutions = space.point_resolutions
        kept: dict[str, Distribution] = {}
        categorical = {d.name: d for d in space.distributions() if isinstance(d, Categorical)}
        for name, keep in choices.items():
            dist = categorical.get(name)
            if dist is None:
                raise UserInputError(f"space {space.name!r} has no categorical parameter {name!r} to restrict")
            extra = [c for c in keep if not dist.contains(c)]
            if extra or not keep:
                raise UserInputError(f"space {space.name!r}: parameter {name!r} keeps {list(keep)!r}; it must keep a "
                                     f"non-empty subset of {dist.describe()}")
            kept[name] = dataclasses.replace(dist, choices=tuple(c for c in dist.choices if c in keep))
        self.kept = {name: dist.choices for name, dist in kept.items()}  # type: ignore[union-attr]
        self._distributions = tuple(kept.get(d.name, d) for d in space.distributions())

    def distributions(self) -> tuple[Distribution, ...]:
        return self._distributions

    def decode(self, params: Mapping[str, Any]) -> Network:
        return self.space.decode(params)

    def points(self) -> dict[str, dict[str, Any]]:
        return self.space.points()

    def restrict(self, choices: Mapping[str, tuple[Value, ...]]) -> SearchSpace:
        return self.space.restrict({**self.kept, **choices}) if choices else self

    def __getattr__(self, name: str) -> Any:  # the full space's own attributes (backbone, template, ...)
        if name == "space" or name.startswith("__"):  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.space, name)
