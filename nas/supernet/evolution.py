"""Evolutionary search over parameter assignments under a latency limit: Once-for-All's specialisation search.

Once-for-All specialises a trained supernet with an evolutionary search that ranks candidates
by an accuracy predictor and keeps only those a latency predictor puts under the target
(Cai et al. 2020, "Once-for-All", sec. 3.4). The defaults are those of its released
``EvolutionFinder``: a population of 100; each generation keeps the best 25% as parents and
makes 100 children, half by mutation (each gene redrawn with probability 0.1) and half by
uniform crossover of two parents, a child being redrawn until it meets the limit. The first
population is drawn at random among assignments under the limit; ``seeds`` (the smallest
configuration, say) join it, so a limit random draws rarely meet still has members.

Candidates are parameter assignments (dicts) and are never decoded here: ``accuracy`` gets a
batch of them (a predictor answers for all in one pass), ``latency`` one at a time and returns
``inf`` for one it cannot predict, which is then infeasible and counted. Both are asked once
per distinct assignment. The search ends after ``generations``, or once ``seconds`` have
passed on ``clock`` (read before every draw, so it overshoots by one candidate at most).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from search_spaces.errors import UserInputError

__all__ = ["Candidate", "EvolutionSettings", "SearchResult", "evolve"]

#: A parameter assignment: name -> value.
Params = dict[str, Any]
#: A searched parameter and the values it takes.
Gene = tuple[str, Sequence[Any]]


@dataclass(frozen=True)
class EvolutionSettings:
    """How the search runs (defaults: OFA's ``EvolutionFinder``).

    Attributes:
        population: Candidates per generation.
        parents: Share of the population kept as parents.
        mutation_share: Share of the children made by mutation (the others by crossover).
        mutate_prob: Probability that a mutation redraws each gene.
        generations: Most generations.
        seconds: Most seconds of search.
        tries: Draws per wanted candidate before giving up on one under the limit.
        seed: Seed of every random choice.
    """

    population: int = 100
    parents: float = 0.25
    mutation_share: float = 0.5
    mutate_prob: float = 0.1
    generations: int = 500
    seconds: float = 60.0
    tries: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("population", "generations", "tries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserInputError(f"evolution {name} must be a positive integer, got {value!r}")
        for name in ("parents", "mutation_share", "mutate_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise UserInputError(f"evolution {name} must be a share from 0 to 1, got {getattr(self, name)!r}")
        if not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise UserInputError(f"evolution seconds must be a positive number, got {self.seconds!r}")

    @property
    def kept(self) -> int:
        """Parents kept per generation (at least one)."""
        return max(1, round(self.parents * self.population))

    @property
    def mutants(self) -> int:
        """Children made by mutation per generation."""
        return round(self.mutation_share * self.population)


@dataclass(frozen=True)
class Candidate:
    """One evaluated assignment: its predicted accuracy and latency."""

    params: Params
    accuracy: float
    latency_ms: float


@dataclass(frozen=True)
class SearchResult:
    """What a search found and did.

    Attributes:
        ranked: Every distinct candidate under the limit it evaluated, the most accurate first.
        evaluated: Candidates evaluated (first population and children, repeats included).
        distinct: Distinct assignments whose latency was predicted (those over the limit included).
        generations: Generations run.
        seconds: Seconds it took on its clock.
        over: Distinct assignments drawn whose latency was over the limit.
        unknown: Distinct assignments drawn whose latency could not be predicted.
        history: The best accuracy after each generation.
    """

    ranked: tuple[Candidate, ...]
    evaluated: int
    distinct: int
    generations: int
    seconds: float
    over: int
    unknown: int
    history: tuple[float, ...]

    @property
    def best(self) -> Candidate | None:
        """The most accurate candidate under the limit (``None``: none was found)."""
        return self.ranked[0] if self.ranked else None

    def best_under(self, limit_ms: float, exclude: Callable[[Candidate], bool] = lambda c: False) -> Candidate | None:
        """The most accurate candidate predicted at ``limit_ms`` or less, ``exclude`` left out."""
        return next((c for c in self.ranked if c.latency_ms <= limit_ms and not exclude(c)), None)


class _Evolution:
    """One search's state: its random source, its caches and its counts."""

    def __init__(self, genes: Sequence[Gene], accuracy: Callable[[list[Params]], Sequence[float]],
                 latency: Callable[[Params], float], limit_ms: float, settings: EvolutionSettings,
                 clock: Callable[[], float]) -> None:
        self.genes = [(name, tuple(choices)) for name, choices in genes]
        self.accuracy, self.latency, self.limit, self.s, self.clock = accuracy, latency, limit_ms, settings, clock
        self.rng = random.Random(settings.seed)
        self.start = clock()
        self.latencies: dict[tuple[Any, ...], float] = {}
        self.accuracies: dict[tuple[Any, ...], float] = {}
        self.evaluated = 0

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(params[name] for name, _ in self.genes)

    def late(self) -> bool:
        return self.clock() - self.start >= self.s.seconds

    def feasible(self, params: Params) -> bool:
        key = self.key(params)
        if key not in self.latencies:
            self.latencies[key] = float(self.latency(params))
        return self.latencies[key] <= self.limit

    def draw(self, make: Callable[[], Params]) -> Params | None:
        """A candidate of ``make`` under the limit, or ``None`` after ``tries`` draws or when time is up."""
        for _ in range(self.s.tries):
            if self.late():
                return None
            params = make()
            if self.feasible(params):
                return params
        return None

    def random(self) -> Params:
        return {name: self.rng.choice(choices) for name, choices in self.genes}

    def mutate(self, parent: Params) -> Params:
        return {name: self.rng.choice(choices) if self.rng.random() < self.s.mutate_prob else parent[name]
                for name, choices in self.genes}

    def crossover(self, a: Params, b: Params) -> Params:
        return {name: (a if self.rng.random() < 0.5 else b)[name] for name, _ in self.genes}

    def score(self, batch: list[Params]) -> list[Candidate]:
        """Candidates of ``batch``, the accuracy asked once for the assignments not seen before."""
        new = {self.key(p): p for p in batch if self.key(p) not in self.accuracies}
        if new:
            for key, value in zip(new, self.accuracy(list(new.values()))):
                self.accuracies[key] = float(value)
        self.evaluated += len(batch)
        return [Candidate(p, self.accuracies[self.key(p)], self.latencies[self.key(p)]) for p in batch]

    def result(self, generations: int, history: list[float]) -> SearchResult:
        ranked: dict[tuple[Any, ...], Candidate] = {}
        for key, acc in self.accuracies.items():
            ranked[key] = Candidate(dict(zip((name for name, _ in self.genes), key)), acc, self.latencies[key])
        order = sorted(ranked.values(), key=lambda c: -c.accuracy)  # stable: ties keep their first-seen order
        known = [v for v in self.latencies.values() if math.isfinite(v)]
        return SearchResult(tuple(order), self.evaluated, len(self.latencies), generations, self.clock() - self.start,
                            sum(v > self.limit for v in known), len(self.latencies) - len(known), tuple(history))


def evolve(genes: Sequence[Gene], accuracy: Callable[[list[Params]], Sequence[float]],
           latency: Callable[[Params], float], limit_ms: float, settings: EvolutionSettings = EvolutionSettings(), *,
           seeds: Sequence[Params] = (), clock: Callable[[], float] = time.monotonic) -> SearchResult:
    """Search for the most accurate assignment predicted at ``limit_ms`` or less (see the module docstring).

    Args:
        genes: The parameters searched and the values each takes (assignments hold exactly these names).
        accuracy: Predicted accuracies of a batch of assignments.
        latency: Predicted milliseconds of one assignment (``inf``: unknown, so infeasible).
        limit_ms: The constraint.
        settings: Population, shares, budget and seed.
        seeds: Assignments put into the first population when under the limit.
        clock: Seconds (monotonic); tests pass a fake one.
    """
    s = settings
    run = _Evolution(genes, accuracy, latency, limit_ms, s, clock)
    first = [dict(p) for p in seeds if run.feasible(dict(p))][:s.population]
    while len(first) < s.population:
        params = run.draw(run.random)
        if params is None:
            break
        first.append(params)
    if not first:
        return run.result(0, [])
    population, history, generation = run.score(first), [], 0
    while generation < s.generations and not run.late():
        parents = sorted(population, key=lambda c: -c.accuracy)[:s.kept]
        children = []
        for i in range(s.population):
            mutant = i < s.mutants
            child = run.draw(lambda: run.mutate(run.rng.choice(parents).params) if mutant else
                             run.crossover(run.rng.choice(parents).params, run.rng.choice(parents).params))
            if child is not None:
                children.append(child)
            elif run.late():
                break
        if not children:
            break
        population = parents + run.score(children)
        generation += 1
        history.append(max(c.accuracy for c in population))
    return run.result(generation, history)
