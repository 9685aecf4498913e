"""Design spaces by name: ``names()``, ``get(name, **settings)``.

Each space offers parameter distributions usable by Optuna's ``trial.suggest_*``,
``decode(params) -> genome``, seeded ``sample(seed)``, ``default_resolution`` and named
points (published architectures that lie in it; they are also in the zoo).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from search_spaces.registry import Registry
from search_spaces.spaces.base import (
    Categorical, Condition, Distribution, FloatRange, InfeasibleError, IntRange, MacsRange, SearchSpace,
)
from search_spaces.spaces.cells import NASNetSpace, PNASSpace
from search_spaces.spaces.fused import FusedSpace
from search_spaces.spaces.mbconv import MBConvSpace
from search_spaces.spaces.nb201 import NB201Space
from search_spaces.spaces.regnet import RegNetSpace

__all__ = [
    "SPACES", "Categorical", "Condition", "Distribution", "FloatRange", "InfeasibleError", "IntRange", "MacsRange",
    "SearchSpace", "get", "names",
]

SPACES: Registry[Callable[..., SearchSpace]] = Registry("search space")
SPACES.register("mbconv", MBConvSpace)
SPACES.register("fused", FusedSpace)
SPACES.register("regnet", RegNetSpace)
SPACES.register("nasnet", NASNetSpace)
SPACES.register("pnas", PNASSpace)
SPACES.register("nb201", NB201Space)


def names() -> list[str]:
    """All registered space names, sorted."""
    return SPACES.names()


def get(name: str, **settings: Any) -> SearchSpace:
    """The space ``name``, constructed with ``settings`` (e.g. ``num_classes=10``)."""
    return SPACES.get(name)(**settings)
