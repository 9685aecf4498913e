"""Accuracy against compute, per strategy: train the members, fit the law, check it by extrapolation.

Every strategy's member at every compute level (real MACs closest to ``s`` times the base's,
:func:`scaling.strategies.at_macs`) is trained by the ``train`` evaluator. The training is a
search run by the same machinery as ``nas.search`` and the compound grid
(:class:`nas.search.session.SearchSession`): a space whose parameters are the strategy and
the level (:class:`MemberSpace`), a strategy that proposes each member once, smallest first
(:class:`EveryMember`), the ``accuracy`` reward, and an Optuna study as the system of
record. So ``--resume`` trains only what the study lacks, a member two strategies share
(the base, at s = 1) is trained once, and failures are recorded with their reason.

Proxy training sees the resolution: ``reference_resolution`` is the base's, so a member at
1.4x the base's resolution trains on images 1.4x the proxy size.

Then :func:`fit_members` fits ``error(C) = E + A C^(-c)`` per strategy (:mod:`.powerlaw`) to all
levels, with bootstrap intervals, and validates it: refitted without the largest level, it
predicts each strategy's largest member, and the prediction is compared with the measured
accuracy (the absolute error, its mean over strategies, and whether the strategies' order
at that budget comes out right).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import optuna

from nas import rewards
from nas.stats import kendall
from nas.search.session import SearchInterrupted, SearchPlan, SearchSession, StudyPlace, StudyRun, plan_search
from nas.strategies.base import Driver, Strategy
from scaling.laws.powerlaw import Fit, bootstrap
from scaling.strategies import ScalingStrategy, at_macs
from search_spaces import cost
from search_spaces.codec import genome_key
from search_spaces.errors import ParameterError, UserInputError
from search_spaces.files import atomic_write_text
from search_spaces.genome import Network
from search_spaces.spaces.base import Categorical, Distribution, SearchSpace

__all__ = ["FIT_BUDGET", "FIT_LEVELS", "FIT_STRATEGIES", "NO_TARGETS", "RESOLVING_SE", "write_fit", "EveryMember",
           "FitReport", "FitSettings", "MemberSpace", "Point", "fit_members", "mean_points", "replica_sd",
           "resolved_pairs", "replicas_to_resolve", "plan_fit", "points_from_study", "run_fit"]

#: Compute levels trained by default (multiples of the base's MACs); the largest is held out, 2x beyond the
#: largest fitted. Five levels below it, the cheap ones close together, give each strategy's law two points
#: more than its parameters within the 90 CPU-minutes of the default on a 2-core CPU (docs/SCALING.md).
FIT_LEVELS = (1.0, 1.5, 2.0, 3.0, 4.0, 8.0)

#: Strategies a fit trains unless told otherwise: EfficientNet's rule, each single dimension and Dollár et
#: al.'s dWr (the comparisons of EfficientNet's Figure 8 and Dollár et al.'s Figure 5).
FIT_STRATEGIES = ("compound", "width", "depth", "resolution", "dwr")

#: Standard errors apart two held-out members' mean accuracies must be for their measured order to count
#: (about a 95% two-sided test with the ~30 degrees of freedom of a default fit's replicas).
RESOLVING_SE = 2.0

#: The fit's reward has no MACs or latency target.
NO_TARGETS = rewards.Targets(None, None)

#: Evaluator settings unless ``--set`` overrides them: the ``train`` proxy on Fashion-MNIST at
#: 28 px (the base's resolution maps to 28), on more images and a larger validation split than a
#: search's quick proxy, and with every residual branch zero-initialised: with the reference
#: initialisation a 2-epoch proxy of B0 deepened 8x did not train at all (10%), and every strategy
#: that deepens fell with compute (docs/SCALING.md, first attempt).
FIT_BUDGET: dict[str, Any] = {"epochs": 2, "subset": 6000, "val_size": 5000, "resolution": 28,
                              "zero_init_residual": True}


class MemberSpace(SearchSpace):
    """The members as a search space: parameters ``strategy`` (a label) and ``s`` (a level)."""

    name = "laws"

    def __init__(self, base: Network, strategies: Sequence[ScalingStrategy], levels: Sequence[float]) -> None:
        self.base, self.levels = base, tuple(float(s) for s in levels)
        self.strategies = {s.label: s for s in strategies}
        self.default_resolution = base.resolution
        self._distributions = (Categorical("strategy", tuple(self.strategies)), Categorical("s", self.levels))
        self._members: dict[tuple[str, float], Network] = {}  # at_macs bisects: plan, training and report share one

    def distributions(self) -> tuple[Distribution, ...]:
        return self._distributions

    def decode(self, params: Mapping[str, Any]) -> Network:
        label, s = str(params["strategy"]), float(params["s"])
        if s == 1:
            return self.base
        if (label, s) not in self._members:
            self._members[label, s] = at_macs(self.strategies[label], self.base, s)
        return self._members[label, s]

    def points(self) -> dict[str, dict[str, Any]]:
        return {}


class EveryMember(Strategy):
    """Proposes every (strategy, level) once, the smallest level first: an interrupted fit has its cheap points."""

    name: ClassVar[str] = "members"
    summary: ClassVar[str] = "every strategy's member at every level, smallest first"

    def run(self, driver: Driver) -> None:
        assert isinstance(driver.space, MemberSpace)
        for s in sorted(driver.space.levels):
            for label in driver.space.strategies:
                params = {"strategy": label, "s": s}
                if not driver.taken(params):
                    driver.evaluate(params)


@dataclass
class FitSettings(StudyRun):
    """How to run a fit (the CLI's options): :class:`~nas.search.session.StudyRun`'s, and

    Attributes:
        strategies: The strategies fitted.
        levels: Compute levels (multiples of the base's MACs); the largest is held out.
        replicas: Trainings of each member, with seeds ``seed``, ``seed + 1``, ...: the law is fitted
            to their mean accuracy, whose noise falls as 1/sqrt(replicas). Replica ``r`` > 1 is its
            own study (directory ``study-replicaR``, name ``...-replicaR``), so ``--resume`` with more
            replicas trains only the new ones.

    ``evaluator`` ``None`` runs ``train,cost``; ``out`` defaults to ``runs/laws`` and ``study_name``
    to ``{base}-laws``.
    """

    strategies: Sequence[ScalingStrategy] = ()
    levels: Sequence[float] = FIT_LEVELS
    out: Path = Path("runs/laws")
    replicas: int = 1


def plan_fit(base: Network, settings: FitSettings) -> SearchPlan:
    """Check a fit request before any training (the search's own checks, and at least four levels).

    Raises:
        UserInputError: one sentence for the first problem.
    """
    if len(set(settings.levels)) < 4:
        raise UserInputError(f"--levels needs at least 4 compute levels (3 to fit a law with 3 parameters, 1 held out "
                             f"to check it), got {len(set(settings.levels))}")
    space = MemberSpace(base, settings.strategies, settings.levels)
    for label in space.strategies:  # every member can be made before anything trains
        for s in space.levels:
            try:
                space.decode({"strategy": label, "s": s})
            except ParameterError as err:
                raise UserInputError(f"--levels {s:g}: {err.problem}") from None
    return plan_search(space, EveryMember, "accuracy",
                       NO_TARGETS, settings.evaluator or "train,cost", settings.knobs, data=settings.data,
                       device=settings.device, defaults={**FIT_BUDGET, "reference_resolution": base.resolution},
                       single_objective="a fit records one accuracy per member")


def run_fit(base: Network, settings: FitSettings, plan: SearchPlan | None = None) -> list[Point]:
    """Train every member the studies lack (every replica's); the members, replicas averaged (:func:`mean_points`).

    Raises:
        UserInputError: bad settings, unreachable storage, a resume with no study.
        SearchInterrupted: Ctrl-C or SIGTERM stopped it (every finished member is in its study).
    """
    plan = plan or plan_fit(base, settings)
    assert isinstance(plan.space, MemberSpace)
    config = {"space": "laws", "base": genome_key(base), "strategies": [s.label for s in settings.strategies],
              "levels": [float(s) for s in settings.levels], "evaluators": list(plan.evaluator_names),
              "budget": plan.knobs}
    trials = len(settings.strategies) * len(settings.levels)
    replicas = []
    for r in range(1, settings.replicas + 1):
        suffix = "" if r == 1 else f"-replica{r}"
        added = r > 1 and settings.resume  # a resumed fit may have fewer replicas: join theirs, or start them
        place = StudyPlace(settings.out / f"study{suffix}", (settings.study_name or f"{base.name}-laws") + suffix,
                           settings.storage, settings.resume and not added, settings.heartbeat)
        session = SearchSession(plan, place, config, trials=trials, seed=settings.seed + r - 1, data=settings.data,
                                device=settings.device, threads=settings.threads, quiet=settings.quiet,
                                join=settings.storage is not None or added)
        try:
            session.run()
        finally:
            session.write({}, plots=settings.plots)
        if session.interrupted:
            raise SearchInterrupted(session.signum)
        replicas.append(points_from_study(session.study, base, plan.space))
    return mean_points(replicas)


@dataclass(frozen=True)
class Point:
    """One trained member: its strategy, level, real compute (x the base's MACs) and accuracy.

    With replicas, ``accuracy`` is their mean, ``spread`` their sample standard deviation and
    ``replicas`` how many finished; ``trial`` is the first replica's trial. ``key`` is the genome's
    key: strategies that share a member (the base, at s = 1) share its trainings.
    """

    strategy: str
    s: float
    compute: float
    accuracy: float
    resolution: int
    trial: int
    replicas: int = 1
    spread: float = 0.0
    key: str = ""


def mean_points(replicas: Sequence[Sequence[Point]]) -> list[Point]:
    """One point per member: the mean accuracy of the replicas that finished it (in the first's order)."""
    members: dict[tuple[str, float], list[Point]] = {}
    for points in replicas:
        for p in points:
            members.setdefault((p.strategy, p.s), []).append(p)
    out = []
    for same in members.values():
        accuracies = [p.accuracy for p in same]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        out.append(dataclasses.replace(same[0], accuracy=statistics.fmean(accuracies), replicas=len(same),
                                       spread=spread))
    return out


def points_from_study(study: optuna.Study, base: Network, space: MemberSpace) -> list[Point]:
    """The finished members of ``study`` (a failed one is left out)."""
    base_macs = cost(base).macs
    points = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.params.get("strategy") not in space.strategies or t.value is None:
            continue
        genome = space.decode(t.params)
        points.append(Point(t.params["strategy"], float(t.params["s"]), cost(genome).macs / base_macs,
                            float(t.value), genome.resolution, t.number, key=genome_key(genome)))
    return sorted(points, key=lambda p: (list(space.strategies).index(p.strategy), p.s))


@dataclass(frozen=True)
class FitReport:
    """The law on every level, and its check on the largest.

    Attributes:
        fit: Laws fitted to every level, with bootstrap draws (what ``recommend`` predicts with).
        held_out: Laws fitted without the largest level.
        points: The measured members.
        holdout_level: The level held out.
        holdout: Strategy -> (compute, measured accuracy, predicted accuracy, 90% interval) at that level.
        mean_abs_error: Mean over strategies of |predicted - measured| accuracy at the held-out level.
        order_measured: Strategies from best to worst measured accuracy at the held-out level.
        order_predicted: The same by the held-out law's prediction.
        kendall: Kendall's tau between the two orders.
        replica_sd: The replicas' pooled standard deviation of one training's accuracy (every member with two
            or more; ``None`` without replicas): the noise that decides which measured differences are real.
        resolved: Pairs ``(better, worse)`` at the held-out level whose measured difference exceeds
            :data:`RESOLVING_SE` standard errors of a difference of replica means; empty without replicas.
    """

    fit: Fit
    held_out: Fit
    points: list[Point]
    holdout_level: float
    holdout: dict[str, tuple[float, float, float, tuple[float, float]]]
    mean_abs_error: float
    order_measured: list[str]
    order_predicted: list[str]
    kendall: float
    replica_sd: float | None = None
    resolved: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def order_correct(self) -> bool:
        return self.order_measured == self.order_predicted

    @property
    def resolved_right(self) -> list[tuple[str, str]]:
        """The resolved pairs the held-out law puts in the measured order."""
        return [(a, b) for a, b in self.resolved if self.holdout[a][2] > self.holdout[b][2]]


def replica_sd(points: Sequence[Point]) -> float | None:
    """Pooled sample standard deviation of one training's accuracy, over the members with two or more replicas.

    Each member's variance is weighted by its degrees of freedom (replicas - 1), a member several strategies
    share counted once; ``None`` when no member has two.
    """
    members = [p for p in {(p.key or id(p)): p for p in points}.values() if p.replicas > 1]
    dof = sum(p.replicas - 1 for p in members)
    if dof == 0:
        return None
    return math.sqrt(sum((p.replicas - 1) * p.spread ** 2 for p in members) / dof)


def resolved_pairs(members: Mapping[str, Point], sd: float | None, z: float = RESOLVING_SE) -> list[tuple[str, str]]:
    """Pairs ``(better, worse)`` whose mean accuracies differ by more than ``z`` standard errors.

    The standard error of a difference of two replica means is ``sd * sqrt(1/n_a + 1/n_b)``, with ``sd``
    pooled over every member (:func:`replica_sd`): a pair closer than that is a tie the measurement
    cannot order, so no prediction can be scored on it.
    """
    if sd is None:
        return []
    names = sorted(members, key=lambda s: -members[s].accuracy)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if members[a].accuracy - members[b].accuracy
            > z * sd * math.sqrt(1 / members[a].replicas + 1 / members[b].replicas)]


def replicas_to_resolve(gap: float, sd: float, z: float = RESOLVING_SE) -> int | None:
    """Replicas per member for two means ``gap`` apart to lie more than ``z`` standard errors apart.

    A difference of two means of ``n`` replicas each has standard error ``sd * sqrt(2 / n)``, so ``n`` must
    exceed ``2 * (z * sd / gap)^2``. ``None`` for a gap of zero (two equal means): no count is enough.
    """
    if gap <= 0:
        return None
    return math.floor(2 * (z * sd / gap) ** 2) + 1


def _groups(points: Sequence[Point], keep: Any) -> dict[str, tuple[list[float], list[float]]]:
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for p in points:
        if keep(p):
            x, y = groups.setdefault(p.strategy, ([], []))
            x.append(p.compute)
            y.append(1.0 - p.accuracy)
    return groups


def fit_members(points: Sequence[Point], shared_floor: bool = True, draws: int = 300, seed: int = 0) -> FitReport:
    """Fit every strategy's law to ``points`` and check it on the largest level (see the module docstring).

    Raises:
        UserInputError: a strategy with fewer than three measured levels below the largest.
    """
    levels = sorted({p.s for p in points})
    if len(levels) < 4:
        raise UserInputError(f"a fit needs members at 4 or more levels, the study has {len(levels)} "
                             f"({', '.join(f'{s:g}' for s in levels)}); train more (--resume)")
    top = levels[-1]
    strategies = list(dict.fromkeys(p.strategy for p in points))
    lacking = [s for s in strategies if sum(1 for p in points if p.strategy == s and p.s < top) < 3
               or not any(p.strategy == s and p.s == top for p in points)]
    if lacking:
        raise UserInputError(f"strategies {', '.join(lacking)} lack measured members (3 below the largest level and "
                             f"the largest); see trials.csv for failures, or --resume to train them")
    full = bootstrap(_groups(points, lambda p: True), shared_floor, draws, seed)
    held = bootstrap(_groups(points, lambda p: p.s < top), shared_floor, draws, seed)
    holdout: dict[str, tuple[float, float, float, tuple[float, float]]] = {}
    for s in strategies:
        p = next(p for p in points if p.strategy == s and p.s == top)
        low, high = held.interval(s, p.compute)
        holdout[s] = (p.compute, p.accuracy, 1.0 - held.predict(s, p.compute), (1.0 - high, 1.0 - low))
    errors = [abs(pred - meas) for _, meas, pred, _ in holdout.values()]
    measured = sorted(strategies, key=lambda s: -holdout[s][1])
    predicted = sorted(strategies, key=lambda s: -holdout[s][2])
    sd = replica_sd(points)
    tops = {p.strategy: p for p in points if p.s == top}
    return FitReport(full, held, list(points), top, holdout, sum(errors) / len(errors), measured, predicted,
                     kendall([holdout[s][1] for s in strategies], [holdout[s][2] for s in strategies]),
                     sd, resolved_pairs(tops, sd))


def fit_json(base: Network, source: str, result: FitReport, budget: Mapping[str, Any]) -> dict[str, Any]:
    """What ``laws.json`` holds: the base, the training budget, the points, both fits with their draws, the check."""
    def laws(fit: Fit) -> dict[str, Any]:
        return {k: {"floor": law.floor, "scale": law.scale, "exponent": law.exponent,
                    "draws": [[d.floor, d.scale, d.exponent] for d in fit.draws.get(k, [])]}
                for k, law in fit.laws.items()}

    return {"base": base.name, "base_key": genome_key(base), "source": source, "budget": dict(budget),
            "compute": "MACs / the base's MACs", "error": "1 - validation accuracy",
            "shared_floor": result.fit.shared_floor, "residual_sd": result.fit.residual_sd,
            "strategies": list(result.fit.laws), "levels": sorted({p.s for p in result.points}),
            "points": [dataclasses.asdict(p) for p in result.points],
            "fit": laws(result.fit), "held_out_fit": laws(result.held_out),
            "check": {"level": result.holdout_level, "mean_abs_error": result.mean_abs_error,
                      "kendall": result.kendall, "order_measured": result.order_measured,
                      "order_predicted": result.order_predicted, "replica_sd": result.replica_sd,
                      "resolved_pairs": [list(p) for p in result.resolved],
                      "resolved_right": [list(p) for p in result.resolved_right],
                      "members": {k: {"compute": v[0], "measured": v[1], "predicted": v[2], "interval": list(v[3])}
                                  for k, v in result.holdout.items()}}}


def _resolution_line(result: FitReport) -> str:
    """The report's line on which measured differences the replicas resolve, and how many the law orders right."""
    if result.replica_sd is None:
        return ("- one training per member: no replica spread to tell real differences from noise (--replicas 2 "
                "gives one)\n")
    pairs = len(result.order_measured) * (len(result.order_measured) - 1) // 2
    wrong = [f"{a} > {b}" for a, b in result.resolved if (a, b) not in result.resolved_right]
    return (f"- pairs the replicas resolve (more than {RESOLVING_SE:g} standard errors apart; one training's sd "
            f"{100 * result.replica_sd:.2f} points): {len(result.resolved)} of {pairs}, "
            f"{len(result.resolved_right)} predicted in that order"
            + (f" (wrong: {', '.join(wrong)})" if wrong else "") + "\n" + _unresolved_line(result))


def _unresolved_line(result: FitReport) -> str:
    """What resolving the remaining held-out pairs would cost: replicas per member at their measured gaps."""
    assert result.replica_sd is not None
    measured = {s: result.holdout[s][1] for s in result.order_measured}
    names = result.order_measured
    open_pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if (a, b) not in result.resolved]
    if not open_pairs:
        return ""
    sd = result.replica_sd

    def cost(pair: tuple[str, str], which: str) -> str:
        a, b = pair
        gap = measured[a] - measured[b]
        need = replicas_to_resolve(gap, sd)
        if need is None:
            return f"{a} and {b} measured the same, a tie no number of replicas is sure to order"
        return f"the {which}, {a} and {b} ({100 * gap:.2f} points apart), needs {need} replicas per member"

    by_gap = sorted(open_pairs, key=lambda p: measured[p[0]] - measured[p[1]])
    parts = [cost(by_gap[0], "closest")] + ([cost(by_gap[-1], "widest")] if len(by_gap) > 1 else [])
    return f"- to order the other {len(open_pairs)} at their measured gaps: {'; '.join(parts)}\n"


def write_fit(out: Path, base: Network, source: str, result: FitReport, budget: Mapping[str, Any],
              plot: bool = True) -> str:
    """Write ``laws.json``, ``points.csv``, ``laws.md`` (returned) and ``laws.png`` into ``out``."""
    from scaling.laws import report

    atomic_write_text(out / "laws.json", json.dumps(fit_json(base, source, result, budget), indent=1) + "\n")
    report.write_csv(out / "points.csv", ["strategy", "s", "compute", "accuracy", "resolution", "trial", "replicas",
                                          "accuracy_sd"],
                     [[p.strategy, p.s, round(p.compute, 4), p.accuracy, p.resolution, p.trial, p.replicas,
                       round(p.spread, 6)] for p in result.points])
    header, rows = report.fit_table(result)
    floor = "one floor E shared by every strategy" if result.fit.shared_floor else "a floor E per strategy"
    text = (f"# {base.name}: error(C) = E + A * C^(-c), C in units of the base's MACs ({floor})\n\n"
            f"Trained with the train evaluator: {', '.join(f'{k}={v}' for k, v in budget.items())}. Fitted to every "
            f"level below x{result.holdout_level:g}, checked on x{result.holdout_level:g}; E, A, c are the fit to "
            f"every level (residual sd {100 * result.fit.residual_sd:.2f} points).\n\n" + report.markdown(header, rows)
            + f"\n- held-out x{result.holdout_level:g}: mean |predicted - measured| accuracy "
              f"{100 * result.mean_abs_error:.2f} points\n"
              f"- order measured: {' > '.join(result.order_measured)}\n"
              f"- order predicted: {' > '.join(result.order_predicted)} "
              f"({'correct' if result.order_correct else 'not the same'}; Kendall tau {result.kendall:.2f})\n"
              + _resolution_line(result))
    atomic_write_text(out / "laws.md", text)
    if plot:
        report.plot_fit(out / "laws.png", result, base.name)
    return text
