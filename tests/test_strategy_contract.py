"""The contract every registered strategy keeps, whoever implements it (Optuna, NNI, our RL controller).

One test class, parametrised over ``strategies.names()``, so a strategy is held to it the
moment it is registered: exactly the trials asked for, every proposal inside the space,
the same seed gives the same proposals and another seed others, a resumed study goes on
from its history (deterministically), a failed candidate does not stop the search, and
the driver's stop propagates out of ``run``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import search_spaces as ss
from nas import strategies
from nas.strategies.base import StopSearch
from search_spaces.spaces import get as space_get
from tests.strategy_driver import ToyDriver

#: Spaces each strategy is held to: categorical (mbconv), numeric with conditions (regnet), cells (pnas);
#: cmaes needs numeric parameters.
SPACES = {"cmaes": ("regnet",)}
DEFAULT_SPACES = ("mbconv", "regnet", "pnas")


def space_for(name: str, space: str | None = None) -> ss.spaces.SearchSpace:
    return space_get(space or SPACES.get(name, DEFAULT_SPACES)[0])


def spaces_of(name: str) -> tuple[str, ...]:
    return SPACES.get(name, DEFAULT_SPACES)


def reward(genome: ss.Network) -> float:
    """Larger networks score higher, saturating: a landscape every strategy can climb."""
    c = ss.cost(genome)
    return math.tanh(c.params / 5e6) + math.tanh(c.macs / 4e8)


def proposals(name: str, trials: int, seed: int, space: str | None = None) -> list[dict[str, Any]]:
    strategy = strategies.get(name)
    driver = ToyDriver(space_for(name, space), strategy, reward, trials=trials, seed=seed)
    return [o.params for o in driver.run(strategy)]


@pytest.mark.parametrize("name", strategies.names())
class TestStrategyContract:
    def test_runs_exactly_the_requested_trials_inside_the_space(self, name: str) -> None:
        for space_name in spaces_of(name):
            space = space_for(name, space_name)
            strategy = strategies.get(name)
            driver = ToyDriver(space, strategy, reward, trials=12, seed=1)
            outcomes = driver.run(strategy)
            trials = driver.study.get_trials()
            assert len(outcomes) == len(trials) == 12
            for trial, outcome in zip(trials, outcomes, strict=True):
                space.check(outcome.params)  # every active parameter present and within its distribution
                assert set(outcome.params) == {d.name for d in space.active(outcome.params)}  # and no stray one
                assert trial.params == outcome.params

    def test_it_proposes_only_the_choices_a_restricted_space_keeps(self, name: str) -> None:
        """What a supernet of the MBConv ops asks of a search: no trial on an op it holds no weights for."""
        if "mbconv" not in spaces_of(name):
            pytest.skip(f"{name} is held to numeric spaces only")
        kept = ("mbconv3", "mbconv6")
        space = space_get("mbconv").restrict({f"b{i}_op": kept for i in range(7)})
        strategy = strategies.get(name)
        outcomes = ToyDriver(space, strategy, reward, trials=10, seed=2).run(strategy)
        assert len(outcomes) == 10
        assert {o.params[f"b{i}_op"] for o in outcomes for i in range(7)} <= set(kept)

    def test_the_same_seed_gives_the_same_proposals_and_another_seed_others(self, name: str) -> None:
        for space_name in spaces_of(name):
            first = proposals(name, trials=8, seed=3, space=space_name)
            assert proposals(name, trials=8, seed=3, space=space_name) == first
            assert proposals(name, trials=8, seed=4, space=space_name) != first

    def test_a_resumed_study_goes_on_from_its_history_deterministically(self, name: str) -> None:
        def resumed() -> list[dict[str, Any]]:
            space = space_for(name)
            first = strategies.get(name)
            driver = ToyDriver(space, first, reward, trials=10, seed=1)
            driver.run(first)
            history = list(driver.outcomes)
            later = strategies.get(name)  # a new process: a fresh strategy over the same study
            driver.study.sampler = later.sampler(space, 99, driver.directions)
            driver.trials = 16
            driver.run(later)
            assert driver.outcomes[:10] == history and len(driver.outcomes) == 16
            for outcome in driver.outcomes[10:]:
                space.check(outcome.params)
            return [o.params for o in driver.outcomes[10:]]

        assert resumed() == resumed()

    def test_it_goes_on_from_another_strategys_history(self, name: str) -> None:
        space = space_for(name, "regnet")
        first = strategies.get("random")
        driver = ToyDriver(space, first, reward, trials=6, seed=2)
        driver.run(first)
        later = strategies.get(name)
        driver.study.sampler = later.sampler(space, 7, driver.directions)
        driver.trials = 10
        driver.run(later)
        assert len(driver.outcomes) == 10
        for outcome in driver.outcomes[6:]:
            space.check(outcome.params)

    def test_a_failed_candidate_does_not_stop_the_search(self, name: str) -> None:
        calls = []

        def flaky(genome: ss.Network) -> float:
            calls.append(genome)
            return math.nan if len(calls) % 3 == 0 else reward(genome)

        strategy = strategies.get(name)
        driver = ToyDriver(space_for(name), strategy, flaky, trials=9, seed=0)
        outcomes = driver.run(strategy)
        assert len(outcomes) == 9 and any(o.failed for o in outcomes) and not all(o.failed for o in outcomes)
        states = [t.state.name for t in driver.study.get_trials()]
        assert states.count("FAIL") == sum(o.failed for o in outcomes)

    def test_the_drivers_stop_propagates_out_of_run(self, name: str) -> None:
        strategy = strategies.get(name)
        driver = ToyDriver(space_for(name), strategy, reward, trials=3, seed=0)
        with pytest.raises(StopSearch):
            strategy.run(driver)
        assert len(driver.outcomes) == 3

    def test_it_has_a_summary_and_its_default_options_are_valid(self, name: str) -> None:
        strategy = strategies.get(name)
        assert strategy.name == name and strategy.summary
        assert isinstance(strategy.multi_objective, bool)


def conv3_count(genome: ss.Network) -> float:
    """The number of 3x3 convolutions in an nb201 cell: the best op is the last of the five on every edge."""
    return float(sum(op == "nor_conv_3x3" for op in genome.stages[0].edges))


@pytest.mark.parametrize("name", ["tpe", "nni-tpe", "evolution"])
def test_model_based_strategies_climb_a_categorical_space_past_random(name: str) -> None:
    """A strategy that learns keeps improving once its proposals start to repeat (NNI's TPE replaced every repeat
    by the next point of a grid walk from the first value, 'none', and fell below random search on NAS-Bench-201)."""
    space = space_get("nb201")
    strategy = strategies.get(name)
    driver = ToyDriver(space, strategy, conv3_count, trials=120, seed=1)
    values = [o.value if isinstance(o.value, float) else o.value[0] for o in driver.run(strategy)]
    assert len(values) == 120
    # Uniform random cells have 6/5 = 1.2 such convolutions on average.
    assert sum(values[-40:]) / 40 > 2.5
    first_value = sum(p["edge_1_0"] == "none" for p in (o.params for o in driver.outcomes[-40:]))
    assert first_value <= 10
