"""NNI's strategies through the adapter: every proposal is a valid trial of the study, seeded, stoppable."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import search_spaces
from nas.strategies import nni_adapter, nni_compat
from nas.strategies.base import StopSearch
from nas.strategies.nni_adapter import (
    EvolutionStrategy, GridStrategy, Levels, NNIRandomStrategy, NNITPEStrategy, discretize,
)
from search_spaces.errors import UserInputError
from search_spaces.spaces import Categorical, Condition, FloatRange, IntRange, SearchSpace, get, names
from strategy_driver import ToyDriver  # tests/ is on sys.path (rootdir conftest)

STRATEGIES = [EvolutionStrategy, NNITPEStrategy, NNIRandomStrategy, GridStrategy]
ids = [s.name for s in STRATEGIES]


def macs_reward(genome: Any) -> float:
    """Closer to 400M MACs is better (pure arithmetic, microseconds)."""
    return -abs(search_spaces.cost(genome).macs - 400e6) / 1e9


class TinySpace(SearchSpace):
    """Two categoricals (6 points), or with ``conditional`` a kernel only for ``conv`` and a float range."""

    name = "tiny"

    def __init__(self, conditional: bool = False) -> None:
        self.conditional = conditional

    def distributions(self) -> tuple:
        if self.conditional:
            return (Categorical("op", ("conv", "pool")), IntRange("k", 1, 7, step=2, when=Condition("op", ("conv",))),
                    FloatRange("rate", 0.1, 1.0, log=True))
        return Categorical("a", (1, 2, 3)), Categorical("b", ("x", "y"))

    def decode(self, params: Mapping[str, Any]) -> Any:
        self.check(params)
        return dict(params)  # the tests' rewards read the params

    def points(self) -> dict[str, dict[str, Any]]:
        return {}


def test_import_does_not_import_nni() -> None:
    code = "import sys, nas.strategies.nni_adapter; assert 'nni' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


@pytest.mark.parametrize("strategy_cls", STRATEGIES, ids=ids)
def test_strategy_is_registered_single_objective_with_summary(strategy_cls: type) -> None:
    from nas.strategies import get as get_strategy

    assert isinstance(get_strategy(strategy_cls.name), strategy_cls)
    assert strategy_cls.multi_objective is False
    assert "NNI" in strategy_cls.summary and "\n" not in strategy_cls.summary


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_evolution_improves_over_random_search(direction: str) -> None:
    space, trials, sign = get("mbconv"), 100, 1.0 if direction == "maximize" else -1.0

    def late_mean(strategy_cls: type) -> float:
        driver = ToyDriver(space, strategy_cls(), lambda g: sign * macs_reward(g), trials, seed=0,
                           directions=(direction,))
        late = [sign * o.value for o in driver.run(strategy_cls())[-trials // 4:]]
        return sum(late) / len(late)

    evolution, random = late_mean(EvolutionStrategy), late_mean(NNIRandomStrategy)
    assert evolution > random / 2  # rewards are <= 0: evolution's late trials are over twice as close to 400M


def test_evolution_warm_starts_from_the_resumed_history() -> None:
    driver = ToyDriver(get("mbconv"), EvolutionStrategy(), macs_reward, trials=60, seed=2)
    first = list(driver.run(EvolutionStrategy()))
    driver.trials = 80  # resume the same study with a larger budget
    resumed = driver.run(EvolutionStrategy())[60:]
    assert len(resumed) == 20

    def distance(a: dict[str, Any], b: dict[str, Any]) -> int:
        return sum(a[k] != b[k] for k in a)

    # No random restart: every new trial is a child (a few of 42 genes away) of an earlier one, none a repeat.
    for i, outcome in enumerate(resumed):
        nearest = min(distance(outcome.params, earlier.params) for earlier in first + resumed[:i])
        assert 1 <= nearest <= 5


@pytest.mark.parametrize("strategy_cls", STRATEGIES, ids=ids)
def test_exhausting_a_tiny_space_returns_normally(strategy_cls: type) -> None:
    space = TinySpace()
    driver = ToyDriver(space, strategy_cls(), lambda p: float(p["a"]), trials=20, seed=0)
    strategy_cls().run(driver)  # no StopSearch: the space ran out first
    tried = [(o.params["a"], o.params["b"]) for o in driver.outcomes]
    assert sorted(tried) == sorted((a, b) for a in (1, 2, 3) for b in ("x", "y"))


def test_grid_passes_only_active_params_and_skips_repeats() -> None:
    space = TinySpace(conditional=True)
    driver = ToyDriver(space, GridStrategy(), lambda p: p["rate"], trials=500, seed=0)
    GridStrategy().run(driver)
    params = [o.params for o in driver.outcomes]
    for p in params:
        space.check(p)
        assert ("k" in p) == (p["op"] == "conv")
    # conv: 4 kernels x 16 rates, pool: 16 rates; NNI's 128 grid points differ also in the inactive kernel.
    assert len(params) == len({repr(sorted(p.items())) for p in params}) == 80


@pytest.mark.parametrize("strategy_cls", STRATEGIES, ids=ids)
def test_stop_search_propagates_out_of_run(strategy_cls: type) -> None:
    handlers = list(logging.getLogger("nni").handlers)
    driver = ToyDriver(get("regnet"), strategy_cls(), macs_reward, trials=5, seed=0)
    with pytest.raises(StopSearch):
        strategy_cls().run(driver)
    assert len(driver.outcomes) == 5
    assert logging.getLogger("nni").handlers == handlers


def test_missing_nni_is_a_user_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nni", None)  # makes `import nni` raise ImportError
    nni_compat.load.cache_clear()
    try:
        with pytest.raises(UserInputError, match=r"'evolution'.*pip install nni pytorch-lightning"):
            EvolutionStrategy().run(ToyDriver(TinySpace(), EvolutionStrategy(), lambda p: 0.0, trials=3))
    finally:
        nni_compat.load.cache_clear()


@pytest.mark.parametrize("space_name", names())
def test_levels_are_values_of_the_distributions(space_name: str) -> None:
    for dist in get(space_name).distributions():
        values = discretize(dist)
        assert values and all(dist.contains(v) for v in values)
        if not isinstance(dist, Categorical):
            assert list(values) == sorted(set(values)) and len(values) <= nni_adapter.LEVELS
            assert values[0] == dist.low


@pytest.mark.parametrize("dist", [
    IntRange("few", 2, 9), IntRange("stepped", 0, 300, step=3), IntRange("log", 1, 128, log=True),
    FloatRange("lin", -1.0, 1.0), FloatRange("log", 1e-4, 1e-1, log=True), FloatRange("grid", 0.0, 1.0, step=0.05),
], ids=lambda d: d.name)
def test_discretize_keeps_small_ranges_and_spans_large_ones(dist: Any) -> None:
    values = discretize(dist, levels=8)
    assert all(dist.contains(v) for v in values) and list(values) == sorted(set(values))
    if isinstance(dist, IntRange) and (dist.high - dist.low) // dist.step < 8:
        assert values == tuple(range(dist.low, dist.high + 1, dist.step))
    else:
        assert len(values) <= 8 and values[0] == dist.low and values[-1] >= dist.high - (dist.step or 0)


def test_levels_round_trip_params_on_the_grid() -> None:
    levels = Levels.of(get("regnet"))
    sample = {name: len(values) // 2 for name, values in levels.values.items()}
    assert levels.encode(levels.decode(sample)) == sample
