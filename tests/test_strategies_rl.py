"""The ``rl`` strategy: MnasNet's LSTM controller (PPO / REINFORCE) on the in-memory toy driver.

Rewards are pure arithmetic on the genome (MACs) or on the params of a tiny test space,
so every search here takes well under a second.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from strategy_driver import ToyDriver

import search_spaces
from nas.strategies import get as get_strategy
from nas.strategies.base import Outcome, StopSearch
from nas.strategies.rl import RLStrategy, decision_values, decisions
from search_spaces.errors import UserInputError
from search_spaces.spaces import get
from search_spaces.spaces.base import Categorical, Condition, FloatRange, IntRange, SearchSpace


def macs_reward(genome: Any) -> float:
    """Closeness to 400M MACs: pure arithmetic on the genome."""
    return -abs(search_spaces.cost(genome).macs - 400e6) / 1e9


class ToySpace(SearchSpace):
    """Four categoricals, one conditional on ``op``, and two ranges; ``decode`` returns the params."""

    name = "toy"
    TARGET: ClassVar[dict[str, Any]] = {"op": "c", "kernel": 5, "width": 1.0, "extra": "y"}

    def distributions(self) -> tuple[Any, ...]:
        return (Categorical("op", ("a", "b", "c", "d")),
                Categorical("kernel", (3, 5, 7)),
                Categorical("extra", ("x", "y", "z"), when=Condition("op", ("c", "d"))),
                Categorical("width", (0.5, 1.0, 1.5, 2.0)),
                IntRange("depth", 1, 100, step=3),
                FloatRange("rate", 1e-4, 1e-1, log=True))

    def decode(self, params: Mapping[str, Any]) -> Any:
        return dict(params)

    def points(self) -> dict[str, dict[str, Any]]:
        return {}


def toy_reward(params: Mapping[str, Any]) -> float:
    """How many of the target's choices ``params`` makes (0..4): one combination is best."""
    return float(sum(params.get(k) == v for k, v in ToySpace.TARGET.items()))


class FailingDriver(ToyDriver):
    """Marks every candidate ``fails(params)`` picks as failed (values ``None``), like an out-of-memory trial."""

    def __init__(self, *args: Any, fails: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fails = fails

    def evaluate(self, params: Mapping[str, Any]) -> Outcome:
        if not self.fails(params):
            return super().evaluate(params)
        if self.remaining() <= 0:
            raise StopSearch
        self.space.check(params)
        outcome = Outcome(dict(params), None, True, len(self.outcomes))
        self.outcomes.append(outcome)
        return outcome


def mean(outcomes: list[Outcome]) -> float:
    return sum(o.value for o in outcomes) / len(outcomes)


def run(space: SearchSpace, reward: Any, trials: int, seed: int = 0, **options: Any) -> list[Outcome]:
    strategy = RLStrategy(**options)
    return ToyDriver(space, strategy, reward, trials=trials, seed=seed).run(strategy)


@pytest.mark.parametrize("options", [{"tanh_constant": 2.5, "temperature": 5.0}, {"hidden": 100, "batch": 1},
                                     {"algorithm": "reinforce", "levels": 4, "max_choices": 4}])
def test_documented_options_run(options: dict[str, Any]) -> None:
    space = get("regnet")
    outcomes = run(space, macs_reward, trials=10, seed=1, **options)
    assert len(outcomes) == 10
    for outcome in outcomes:
        space.check(outcome.params)


def test_registered_under_rl() -> None:
    strategy = get_strategy("rl")
    assert isinstance(strategy, RLStrategy) and strategy.name == "rl" and not strategy.multi_objective
    assert strategy.summary


def test_conditional_decisions_are_sampled_only_when_active() -> None:
    space = ToySpace()
    outcomes = run(space, toy_reward, trials=40, seed=1)
    for outcome in outcomes:
        space.check(outcome.params)
        assert ("extra" in outcome.params) == (outcome.params["op"] in ("c", "d"))
    assert {o.params["op"] in ("c", "d") for o in outcomes} == {True, False}


def test_log_probability_counts_only_sampled_decisions() -> None:
    strategy = RLStrategy()
    strategy._setup(ToyDriver(ToySpace(), strategy, toy_reward, trials=0))
    params, tokens, active, sampled_logp = strategy._sample(32)
    assert [int(row.sum()) for row in active] == [len(p) for p in params]
    with torch.no_grad():
        logp, _ = strategy._controller.score(tokens, active)
        other = tokens.clone()
        other[~active] = 2  # a skipped decision's token must not matter
        other_logp, _ = strategy._controller.score(other, active)
    assert torch.allclose(logp, sampled_logp, atol=1e-5)
    assert torch.equal(logp, other_logp)
    assert not bool(active.all()) and torch.all(logp < 0)


def test_global_torch_rng_and_threads_are_untouched() -> None:
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    run(get("mbconv"), macs_reward, trials=12, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("algorithm", ["ppo", "reinforce"])
def test_learns_the_best_combination_of_a_toy_space(algorithm: str) -> None:
    outcomes = run(ToySpace(), toy_reward, trials=160, seed=0, algorithm=algorithm, batch=8)
    first, last = mean(outcomes[:8]), mean(outcomes[-8:])
    assert last >= first + 1.0, (first, last)


def test_minimize_direction_is_learned_as_negated_reward() -> None:
    strategy = RLStrategy()
    driver = ToyDriver(ToySpace(), strategy, lambda p: -toy_reward(p), trials=160, seed=0, directions=("minimize",))
    outcomes = driver.run(strategy)
    assert mean(outcomes[-8:]) <= mean(outcomes[:8]) - 1.0


@pytest.mark.parametrize("space, reward, fails", [
    (ToySpace(), toy_reward, lambda p: p["kernel"] == 3),
    (get("mbconv"), macs_reward, lambda p: p["b0_op"] == "conv" or p["b1_op"] == "conv"),
])
def test_failed_outcomes_do_not_crash_and_are_avoided(space: SearchSpace, reward: Any, fails: Any) -> None:
    strategy = RLStrategy()
    outcomes = FailingDriver(space, strategy, reward, trials=120, seed=2, fails=fails).run(strategy)
    assert len(outcomes) == 120
    failed = [o.failed for o in outcomes]
    assert sum(failed[-40:]) < sum(failed[:40])


def test_all_failed_search_does_not_crash() -> None:
    strategy = RLStrategy()
    outcomes = FailingDriver(ToySpace(), strategy, toy_reward, trials=20, fails=lambda p: True).run(strategy)
    assert len(outcomes) == 20 and all(o.failed for o in outcomes)


def test_resumed_study_pretrains_on_its_history() -> None:
    space = ToySpace()
    earlier = run(space, toy_reward, trials=48, seed=5)
    junk = [Outcome({"op": "zzz"}, (9.0,), False, 48),  # does not map onto the tokens: skipped
            Outcome(earlier[0].params, None, True, 49)]  # failed: scored below the worst
    strategy = RLStrategy()
    driver = ToyDriver(space, strategy, toy_reward, trials=50 + 16, seed=5)
    driver.outcomes = earlier + junk
    resumed = driver.run(strategy)[50:]
    fresh = run(space, toy_reward, trials=16, seed=5)
    assert len(resumed) == 16
    for outcome in resumed:
        space.check(outcome.params)
    assert mean(resumed) >= mean(fresh) + 0.5, (mean(resumed), mean(fresh))


@pytest.mark.parametrize("dist", [
    IntRange("few", 1, 9, step=2), IntRange("wide", 4, 63), IntRange("stepped", 8, 1000, step=8),
    IntRange("logint", 1, 128, log=True), FloatRange("lin", -1.0, 1.0), FloatRange("log", 1e-5, 1.0, log=True),
    FloatRange("grid", 0.0, 1.0, step=0.25), FloatRange("finegrid", 0.0, 10.0, step=0.01),
])
def test_decision_values_lie_in_their_distribution(dist: Any) -> None:
    values, nearest = decision_values(dist, levels=16, max_choices=32)
    assert all(dist.contains(v) for v in values)
    assert len(set(values)) == len(values) >= 2
    assert min(values) == dist.low and max(values) <= dist.high
    if dist.name == "few":
        assert values == (1, 3, 5, 7, 9) and not nearest
    elif dist.name == "grid":
        assert values == (0.0, 0.25, 0.5, 0.75, 1.0)
    else:
        assert 8 <= len(values) <= 16


def test_every_registered_space_maps_onto_decisions() -> None:
    for name in search_spaces.spaces.names():
        space = get(name)
        assert [d.dist.name for d in decisions(space)] == [d.name for d in space.distributions()]


@pytest.mark.parametrize("options, option", [
    ({"algorithm": "foo"}, "algorithm"), ({"batch": 0}, "batch"), ({"controller_lr": 0}, "controller_lr"),
    ({"controller_lr": math.nan}, "controller_lr"),
    ({"hidden": 0}, "hidden"), ({"entropy": -1.0}, "entropy"), ({"baseline_decay": 1.0}, "baseline_decay"),
    ({"clip": 0.0}, "clip"), ({"ppo_epochs": 0}, "ppo_epochs"), ({"levels": 1}, "levels"), ({"batch": 2.5}, "batch"),
    ({"temperature": 0.0}, "temperature"), ({"tanh_constant": -2.5}, "tanh_constant"),
])
def test_bad_options_raise_naming_the_option(options: dict[str, Any], option: str) -> None:
    with pytest.raises(UserInputError, match=option):
        RLStrategy(**options)


def test_pareto_reward_is_refused() -> None:
    strategy = RLStrategy()
    driver = ToyDriver(ToySpace(), strategy, lambda p: (1.0, 2.0), trials=4, directions=("maximize", "minimize"))
    with pytest.raises(UserInputError, match="one reward"):
        driver.run(strategy)


def test_stop_search_in_the_middle_of_a_batch_propagates() -> None:
    class TimeoutDriver(ToyDriver):
        """No trial budget: ``remaining()`` is large, but a 'timeout' stops the search after ``trials``."""

        def remaining(self) -> int:
            return 1_000

        def evaluate(self, params: Mapping[str, Any]) -> Outcome:
            if len(self.outcomes) >= self.trials:
                raise StopSearch
            self.study.enqueue_trial(dict(params), skip_if_exists=False)
            return self._run(self.study.ask())

    strategy = RLStrategy(batch=8)
    driver = TimeoutDriver(get("mbconv"), strategy, macs_reward, trials=11, seed=0)
    with pytest.raises(StopSearch):
        strategy.run(driver)
    assert len(driver.outcomes) == 11
