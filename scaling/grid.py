"""Grid search of the compound coefficients (Tan & Le 2019, sec. 3.3, step 1).

"Fix phi = 1, assuming twice more resources available, and do a small grid search of
alpha, beta, gamma based on Equations 2 and 3": every triple on a grid (``low`` to ``high``
in ``step``) with ``|alpha * beta**2 * gamma**2 - 2| <= tolerance`` scales the base once
(phi = 1), an evaluator scores the scaled network, and the best triple wins.

The grid search *is* a search, run by the same machinery as ``nas.search``
(:class:`nas.search.driver.SearchDriver`): a small space whose parameters are alpha, beta
and gamma (:class:`CoefficientSpace`), a strategy that proposes each feasible triple once
(:class:`FeasibleGrid`), any registered evaluator and reward, and an Optuna study as the
system of record (a SQLite file in the run directory by default). So it is resumable
(``--resume`` evaluates only the triples the study lacks), failures are recorded with their
reason, and two triples that round to the same network are trained once.

Proxy training sees the resolution: the ``train`` evaluator's ``reference_resolution`` knob
is set to the base's resolution, so a triple with gamma = 1.15 trains on images 1.15x the
proxy size, as the scaled network would see them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nas import rewards
from nas.search.session import SEARCH_BUDGET, SearchInterrupted, SearchPlan, SearchSession, StudyPlace, StudyRun, \
    plan_search
from nas.strategies.base import Driver, Strategy
from search_spaces.codec import genome_key
from scaling.compound import PAPER, Coefficients, compound, flops_factor
from search_spaces import cost
from search_spaces.errors import ParameterError, UserInputError, positive
from search_spaces.genome import Network
from search_spaces.spaces.base import Categorical, Distribution, SearchSpace

__all__ = ["MAX_GRID_VALUES", "CoefficientSpace", "FeasibleGrid", "GridResult", "GridSettings", "feasible_triples",
           "grid_search", "plan_grid"]

#: Most grid values per coefficient: 200 values make 8 million triples to enumerate (seconds);
#: a finer step would enumerate for minutes or exhaust memory before any evaluation.
MAX_GRID_VALUES = 200


def feasible_triples(low: float = 1.0, high: float = 1.4, step: float = 0.05, target: float = 2.0,
                     tolerance: float = 0.1) -> list[Coefficients]:
    """Every (alpha, beta, gamma) on the grid with ``|alpha * beta**2 * gamma**2 - target| <= tolerance``.

    Args:
        low: Smallest grid value (>= 1: the paper's constraint alpha, beta, gamma >= 1).
        high: Largest grid value.
        step: Grid spacing.
        target: The MACs growth per unit of phi (2: "twice more resources").
        tolerance: Allowed distance of ``alpha * beta**2 * gamma**2`` from ``target``.

    Returns:
        The feasible triples, closest to ``target`` first (ties in grid order).

    Raises:
        ParameterError: for a non-positive step, tolerance or target, ``low`` below 1 or above ``high``, more
            than :data:`MAX_GRID_VALUES` values per coefficient, or no feasible triple.
    """
    for name, value in (("step", step), ("tolerance", tolerance), ("target", target)):
        positive(value, name)
    if not math.isfinite(low) or low < 1:
        raise ParameterError("low", f"must be a number >= 1 (the paper's alpha, beta, gamma >= 1), got {low!r}")
    if not math.isfinite(high) or high < low:
        raise ParameterError("high", f"must be a number >= low ({low:g}), got {high!r}")
    count = math.floor((high - low) / step + 1e-9) + 1
    if count > MAX_GRID_VALUES:
        raise ParameterError("step", f"{step:g} gives {count} values per coefficient from {low:g} to {high:g}, "
                                     f"{count ** 3:,} triples to enumerate; at most {MAX_GRID_VALUES} values are "
                                     f"supported (a coarser step or a narrower range)")
    values = [round(low + i * step, 10) for i in range(count)]
    triples = [Coefficients(a, b, g) for a in values for b in values for g in values
               if abs(flops_factor(a, b, g) - target) <= tolerance + 1e-12]
    if not triples:
        raise ParameterError("tolerance", f"{tolerance:g} leaves no (alpha, beta, gamma) on the grid {low:g}:{high:g} "
                                          f"step {step:g} with alpha*beta^2*gamma^2 within it of {target:g}; widen "
                                          f"the range or the tolerance")
    return sorted(triples, key=lambda c: abs(c.flops_factor - target))


class CoefficientSpace(SearchSpace):
    """The grid as a search space: parameters alpha, beta, gamma; a point decodes to the base scaled at ``phi``."""

    name = "compound"

    def __init__(self, base: Network, triples: Sequence[Coefficients], phi: float = 1.0) -> None:
        self.base, self.triples, self.phi = base, list(triples), phi
        self.default_resolution = base.resolution
        self._distributions = tuple(
            Categorical(name, tuple(sorted({getattr(t, name) for t in self.triples})))
            for name in ("alpha", "beta", "gamma"))

    def distributions(self) -> tuple[Distribution, ...]:
        return self._distributions

    def decode(self, params: Mapping[str, Any]) -> Network:
        a, b, g = (float(params[k]) for k in ("alpha", "beta", "gamma"))
        return compound(self.base, self.phi, a, b, g, name=f"{self.base.name}_a{a:g}_b{b:g}_g{g:g}")

    def points(self) -> dict[str, dict[str, Any]]:
        a, b, g = PAPER
        return {"paper": {"alpha": a, "beta": b, "gamma": g}} if Coefficients(a, b, g) in self.triples else {}


class FeasibleGrid(Strategy):
    """Proposes every feasible triple once, closest to the target first.

    A triple the study already holds (a resumed study) or another worker is evaluating
    (workers on other machines joined the study) is skipped.
    """

    name: ClassVar[str] = "grid"
    summary: ClassVar[str] = "every feasible (alpha, beta, gamma) once"

    def run(self, driver: Driver) -> None:
        assert isinstance(driver.space, CoefficientSpace)
        for t in driver.space.triples:
            params = {"alpha": t.alpha, "beta": t.beta, "gamma": t.gamma}
            if not driver.taken(params):
                driver.evaluate(params)


@dataclass
class GridSettings(StudyRun):
    """How to run a grid search (the CLI's options): :class:`~nas.search.session.StudyRun`'s, and

    Attributes:
        reward: Registered reward name; its MACs target is ``target`` times the base's MACs.
        target: MACs growth the triples aim at (``alpha*beta^2*gamma^2``), 2 in the paper.

    ``evaluator`` ``None`` runs what the reward needs; ``out`` defaults to ``runs/compound-grid``
    and ``study_name`` to ``{base}-compound-grid``.
    """

    reward: str = "flops"
    target: float = 2.0
    out: Path = Path("runs/compound-grid")


@dataclass(frozen=True)
class GridResult:
    """The winning triple and the study's finished trials."""

    best: Coefficients
    value: float
    trial: int
    evaluated: int
    study: str


def plan_grid(base: Network, triples: Sequence[Coefficients], settings: GridSettings) -> SearchPlan:
    """Check a grid request (reward, evaluators, settings, device, data) before any work: the search's own checks.

    Raises:
        UserInputError: one sentence for the first problem.
    """
    targets = rewards.Targets(settings.target * cost(base).macs, None)
    return plan_search(CoefficientSpace(base, triples), FeasibleGrid, settings.reward, targets,
                       settings.evaluator, settings.knobs, data=settings.data, device=settings.device,
                       defaults={**SEARCH_BUDGET, "reference_resolution": base.resolution},
                       single_objective="the grid search picks one best triple")


def grid_search(base: Network, triples: Sequence[Coefficients], settings: GridSettings,
                plan: SearchPlan | None = None) -> GridResult:
    """Evaluate ``base`` scaled at phi = 1 by every triple (the study keeps each), and return the best.

    Raises:
        UserInputError: bad reward / evaluator / settings, unreachable storage, a resume with no study,
            or no triple that evaluated successfully.
        SearchInterrupted: Ctrl-C or SIGTERM stopped it (every finished triple is in the study).
    """
    plan = plan or plan_grid(base, triples, settings)
    place = StudyPlace(settings.out, settings.study_name or f"{base.name}-compound-grid", settings.storage,
                       settings.resume, settings.heartbeat)
    config = {"space": "compound", "base": genome_key(base), "reward": settings.reward, "target": settings.target,
              "evaluators": list(plan.evaluator_names), "budget": plan.knobs,
              "triples": [[t.alpha, t.beta, t.gamma] for t in triples]}
    session = SearchSession(plan, place, config, trials=len(triples), seed=settings.seed, data=settings.data,
                            device=settings.device, threads=settings.threads, quiet=settings.quiet,
                            join=settings.storage is not None)
    try:
        session.run()
    finally:
        best = session.write({}, plots=settings.plots)
    if session.interrupted:
        raise SearchInterrupted(session.signum)
    if best is None:
        raise UserInputError(f"no (alpha, beta, gamma) evaluated successfully; see {settings.out / 'trials.csv'} "
                             f"for the reasons")
    coefficients = Coefficients(*(float(best.params[k]) for k in ("alpha", "beta", "gamma")))
    return GridResult(coefficients, float(best.value), best.number, len(session.driver.history()), place.name)
