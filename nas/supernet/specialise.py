"""Specialisation, Once-for-All's headline: from one trained supernet, a subnet for each latency target.

For each target (Cai et al. 2020, "Once-for-All", sec. 3.4 and 4.2): an evolutionary search
(:mod:`nas.supernet.evolution`) ranks candidates with the accuracy predictor
(:mod:`nas.supernet.predictor`) and keeps those whose predicted latency is at most
``target * margin``; the latency is predicted by the ``latency-lut`` evaluator's table for the
``mbconv`` space on this device (224 px, batch 1, one thread by default;
:func:`nas.evaluators.latency.lut_predictor`, built and cached on first use). No network is
built during the search.

A prediction is not a promise, so the winner is then built and *measured* as the table
measures (its device, batch, threads and allocator). If it misses the target, the predictor
was off by ``measured / predicted``: the limit becomes ``predicted * target / measured`` and the
most accurate searched candidate under it is measured next, up to ``tries`` measurements. A
table can also read slow: when nothing is predicted under the limit, the first seed (the
smallest configuration) is measured, and if it meets the target the limit becomes
``predicted * target / measured`` for it and the search runs again in what is left of its
time; if even the smallest misses, the note says by how much. The search's time budget is
spent once per target; measuring is extra. A target no measured candidate met is reported as
missed, with the closest candidate, never passed off as met.

:func:`find_subnet` takes the accuracy, latency and measuring functions as arguments (tests
give it stand-ins); :func:`specialise` wires in the real ones.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nas.supernet.evolution import Candidate, EvolutionSettings, Gene, Params, SearchResult, evolve
from nas.supernet.predictor import AccuracyPredictor
from search_spaces import cost
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.spaces.base import SearchSpace

__all__ = ["MEASURE_REPEATS", "MEASURE_WARMUP", "Outcome", "find_subnet", "latency_table", "measured_latency",
           "predicted_latency", "specialise"]

#: Untimed and timed calls of a winner's measurement (the latency table's whole-network defaults).
MEASURE_WARMUP, MEASURE_REPEATS = 5, 30


@dataclass(frozen=True)
class Outcome:
    """The subnet found for one latency target.

    Attributes:
        target_ms: The target.
        met: Whether the subnet's measured latency is at most the target.
        params: Its canonical parameters (``None``: no candidate was predicted under the limit).
        predicted_accuracy: The predictor's accuracy for it.
        predicted_ms: Its predicted latency.
        measured_ms: Its measured latency (median).
        margin: Its limit as a share of the target (``margin`` of the first try; tighter after a miss, looser
            when the smallest configuration measured faster than the table predicts).
        measured: Networks measured for this target (the smallest configuration's calibration included).
        search: The search's result and counts.
        note: Why a target was missed, in words (empty when met).
        genome: The decoded subnet (filled by :func:`specialise`).
        macs: Its multiply-adds at 224 px (filled by :func:`specialise`).
        supernet_accuracy: Its accuracy scored with the supernet's weights, when asked for.
    """

    target_ms: float
    met: bool
    params: Params | None
    predicted_accuracy: float | None
    predicted_ms: float | None
    measured_ms: float | None
    margin: float
    measured: int
    search: SearchResult
    note: str = ""
    genome: Network | None = None
    macs: int | None = None
    supernet_accuracy: float | None = None


def _outcome(target: float, candidate: Candidate | None, measured_ms: float | None, margin: float, count: int,
             search: SearchResult, note: str = "") -> Outcome:
    met = candidate is not None and measured_ms is not None and measured_ms <= target
    return Outcome(target, met, None if candidate is None else candidate.params,
                   None if candidate is None else candidate.accuracy,
                   None if candidate is None else candidate.latency_ms, measured_ms, margin, count, search, note)


def find_subnet(target_ms: float, genes: Sequence[Gene], accuracy: Callable[[list[Params]], Sequence[float]],
                latency: Callable[[Params], float], measure: Callable[[Params], float],
                settings: EvolutionSettings = EvolutionSettings(), *, margin: float = 1.0, tries: int = 4,
                seeds: Sequence[Params] = (), clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Search once under ``target_ms * margin``, then measure candidates until one meets the target.

    Args:
        target_ms: The latency target.
        genes: The searched parameters and their values.
        accuracy: Predicted accuracies of a batch of assignments.
        latency: Predicted milliseconds of one assignment (``inf``: unknown).
        measure: Measured milliseconds of one assignment.
        settings: The evolutionary search's settings (its ``seconds`` is this target's search budget).
        margin: The first limit as a share of the target.
        tries: Most candidates measured after the search.
        seeds: Assignments the first population starts from when under the limit; the first is measured
            to rescale the limit when the search finds nothing under it (module docstring).
        clock: Seconds (monotonic), for the search's budget.
    """
    if not (target_ms > 0 and math.isfinite(target_ms)):
        raise UserInputError(f"a latency target must be a positive number of milliseconds, got {target_ms!r}")
    if not 0 < margin <= 10 or isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
        raise UserInputError(f"the latency margin must be in (0, 10] and tries a positive integer, got {margin!r} and "
                             f"{tries!r}")
    limit = target_ms * margin
    search = evolve(genes, accuracy, latency, limit, settings, seeds=seeds, clock=clock)
    calibrations, why = 0, ""
    if search.best is None and seeds and math.isfinite(predicted := latency(seeds[0])):
        calibrations, measured = 1, float(measure(seeds[0]))
        if 0 < measured <= target_ms:  # the table reads slow on this machine: rescale the limit by the seed's reading
            limit = max(limit, predicted * target_ms / measured)
            rest = dataclasses.replace(settings, seconds=max(settings.seconds - search.seconds, 1e-3))
            search = _merged(search, evolve(genes, accuracy, latency, limit, rest, seeds=seeds, clock=clock))
        else:
            why = f"; the smallest configuration measured {measured:.3g} ms"
    if search.best is None:
        if search.unknown:
            why += f"; {search.unknown} drawn configurations had parts missing from the latency table"
        return _outcome(target_ms, None, None, margin, calibrations, search,
                        f"no configuration was predicted at {target_ms * margin:.3g} ms or less{why}")
    tried: list[tuple[Candidate, float, float]] = []
    for _ in range(tries):
        candidate = search.best_under(limit, exclude=lambda c: any(c.params == t[0].params for t in tried))
        if candidate is None:
            break
        measured = float(measure(candidate.params))
        tried.append((candidate, measured, limit / target_ms))
        if measured <= target_ms:
            return _outcome(target_ms, candidate, measured, limit / target_ms, calibrations + len(tried), search)
        limit = candidate.latency_ms * target_ms / measured  # the predictor ran measured / predicted fast: correct
    closest, measured, used = min(tried, key=lambda t: t[1])
    why = (f"no searched configuration is predicted under {limit:.3g} ms" if len(tried) < tries else
           f"{len(tried)} candidates measured")
    return _outcome(target_ms, closest, measured, used, calibrations + len(tried), search,
                    f"missed: the closest measured {measured:.3g} ms ({why})")


def _merged(first: SearchResult, second: SearchResult) -> SearchResult:
    """The second search's candidates with both searches' counts (what a target's search did in all)."""
    return dataclasses.replace(second, evaluated=first.evaluated + second.evaluated,
                               distinct=first.distinct + second.distinct,
                               generations=first.generations + second.generations,
                               seconds=first.seconds + second.seconds, over=first.over + second.over,
                               unknown=first.unknown + second.unknown)


def predicted_latency(predictor: Any, space: SearchSpace) -> Callable[[Params], float]:
    """Milliseconds a :class:`~nas.latency.predictor.LatencyPredictor` predicts for an assignment (``inf``:
    a part missing from its table; nothing is measured during a search)."""
    from nas.latency.lut import MissingEntryError

    def latency(params: Params) -> float:
        try:
            return predictor.predict(space.decode(params), missing="raise")
        except MissingEntryError:
            return math.inf

    return latency


def measured_latency(table: Any, space: SearchSpace, warmup: int = MEASURE_WARMUP,
                     repeats: int = MEASURE_REPEATS) -> Callable[[Params], float]:
    """Median milliseconds of an assignment's network, measured as ``table`` measured (device, batch, threads,
    memory format, allocator, seed)."""
    from nas.latency.measure import measure_genome

    def measure(params: Params) -> float:
        return measure_genome(space.decode(params), table.batch, warmup=warmup, repeats=repeats, threads=table.threads,
                              device=table.device, seed=table.seed, channels_last=table.channels_last,
                              steady=table.steady).median_ms

    return measure


def latency_table(space: SearchSpace, path: str | None = None) -> tuple[str, Any]:
    """The latency table the ``latency-lut`` evaluator would answer ``space``'s genomes from, and its path.

    Args:
        space: The space (its genomes' resolution, classes and channels name the table).
        path: A table file (``python -m nas.latency table``); ``None``: this device's cached table at
            batch 1, one thread, on the CPU, built on first use.
    """
    from nas.evaluators.base import RunContext
    from nas.evaluators.latency import LatencyLUTSettings, lut_predictor

    ctx = RunContext(device="cpu", space=space.name, budget={"latency_table": path or ""})
    any_genome = space.decode(space.sample_params(0))
    return lut_predictor(ctx.settings(LatencyLUTSettings), any_genome, ctx)


def specialise(targets: Sequence[float], predictor: AccuracyPredictor, latency: Any, *,
               settings: EvolutionSettings = EvolutionSettings(), margin: float = 1.0, tries: int = 4,
               measure: Callable[[Params], float] | None = None, score: Callable[[Network], float] | None = None,
               log: Callable[[str], None] | None = None) -> list[Outcome]:
    """A subnet for each latency target (see the module docstring), in the order given.

    Args:
        targets: Latency targets, milliseconds.
        predictor: The accuracy predictor (its encoding names the space and the supernet's coverage).
        latency: A :class:`~nas.latency.predictor.LatencyPredictor` for the space (:func:`latency_table`).
        settings: The search's settings; ``seconds`` is each target's budget.
        margin: The first limit as a share of each target.
        tries: Most candidates measured per target.
        measure: Measured milliseconds of an assignment (default: :func:`measured_latency` of the table).
        score: Accuracy of a subnet with the supernet's weights (``None``: not scored).
        log: Called with one line per target (default: stderr).
    """
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    encoding = predictor.encoding
    space = encoding.coverage.space
    seeds = [encoding.params(encoding.coverage.smallest())]  # a member under any reachable limit
    measure = measure or measured_latency(latency.table, space)
    outcomes = []
    for target in targets:
        found = find_subnet(target, encoding.genes, predictor.predict_params, predicted_latency(latency, space),
                            measure, settings, margin=margin, tries=tries, seeds=seeds)
        if found.params is not None:
            genome = space.decode(found.params)
            found = dataclasses.replace(found, genome=genome, macs=int(cost(genome).macs),
                                        supernet_accuracy=None if score is None else float(score(genome)))
        s = found.search
        say(f"{target:g} ms: " + (f"{'met' if found.met else 'MISSED'}, measured {found.measured_ms:.2f} ms, predicted "
                                  f"{found.predicted_ms:.2f} ms, accuracy {found.predicted_accuracy:.4f}"
                                  if found.params is not None else found.note)
            + f" ({s.evaluated:,} candidates, {s.distinct:,} distinct, {s.generations} generations, {s.seconds:.1f} s)")
        outcomes.append(found)
    return outcomes
