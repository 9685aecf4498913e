"""A latency table and its learned correction for a whole search space, measured on this device.

A search proposes genomes of one space, so the table it needs holds that space's parts:
:func:`build_predictor` samples ``samples`` genomes of the space (seeded), collects the
distinct stems, blocks and heads they are made of (a part is keyed by its resolved spec and
input size, :func:`nas.latency.lut.profile`), times each in isolation into a
:class:`~nas.latency.lut.LatencyTable`, then times ``fit`` whole sampled networks
(:func:`measure_models`) and fits the linear correction of :mod:`nas.latency.predictor` on
them. Spaces of categorical choices have a finite set of parts, and enough samples cover
it (docs/BENCHMARKS.md counts them for ``mbconv``); a part no sample held is
missing, and the table's ``on_missing`` decides what happens then.

Progress goes to stderr (tqdm bars and, after a few parts are timed, one line with the
estimated total time); nothing here is written to disk (:meth:`LatencyPredictor.save`
writes the result atomically).

This is the package half of ``benchmarks/latency_predictor.py``, which evaluates such a
predictor on held-out networks with :func:`sample_split` and :func:`measure_models`.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm import tqdm

import search_spaces as ss
from nas.latency.lut import LatencyTable
from nas.latency.measure import measure_genome
from nas.latency.predictor import LatencyPredictor
from search_spaces.errors import UserInputError
from search_spaces.genome import MAX_RESOLUTION, Network
from search_spaces.spaces.base import SearchSpace

__all__ = ["TableRecipe", "build_predictor", "measure_models", "sample_split", "space_genomes"]

#: Share of the parts (at least a dozen) timed before the total time is estimated: the first ones are
#: the first sample's, front blocks at the largest sizes; a few samples' worth mixes in every stage.
_CALIBRATION_SHARE, _CALIBRATION_MIN = 0.04, 12


@dataclass(frozen=True)
class TableRecipe:
    """How to measure a latency table and its correction for a search space.

    Attributes:
        space: Registered space name (``mbconv``).
        resolution: Input size of every sampled genome; ``None``: the space's default.
        batch: Images per timed call.
        threads: torch CPU threads while timing.
        device: ``cpu``, ``cuda``, ``cuda:N``.
        samples: Genomes sampled (seeds ``seed`` ...) whose distinct parts are timed.
        seed: First sampling seed; also the seed of weights and inputs.
        fit: Whole sampled networks timed to fit the correction (0: no correction, the table
            sum is the prediction; else at least 7, the correction's minimum).
        passes: Passes over the whole networks, the lowest median of each kept; before every
            pass but the first their parts are timed once more (:func:`measure_models`).
        warmup: Untimed calls before each part's timed ones.
        repeats: Timed calls per part (their median is the entry).
        model_warmup: Untimed calls before each whole network's timed ones.
        model_repeats: Timed calls per whole network.
        num_classes: Classifier outputs of the sampled genomes (the head is a timed part).
        in_channels: Input channels of the sampled genomes (the stem is a timed part).
        steady: Time everything with the steady allocator
            (:func:`~nas.latency.measure.steady_allocator`; process-wide and permanent).
    """

    space: str
    resolution: int | None = None
    batch: int = 1
    threads: int = 1
    device: str = "cpu"
    samples: int = 1000
    seed: int = 0
    fit: int = 40
    passes: int = 1
    warmup: int = 10
    repeats: int = 30
    model_warmup: int = 5
    model_repeats: int = 30
    num_classes: int = 1000
    in_channels: int = 3
    steady: bool = False

    def __post_init__(self) -> None:
        if self.space not in ss.spaces.names():
            raise UserInputError(f"latency table: {ss.spaces.SPACES.unknown_message(self.space)}")
        bounds = {"batch": (1, 4096), "threads": (1, 4096), "samples": (1, 10_000_000), "fit": (0, 100_000),
                  "passes": (1, 100), "warmup": (0, 100_000), "repeats": (1, 100_000), "model_warmup": (0, 100_000),
                  "model_repeats": (1, 100_000), "num_classes": (1, 1_000_000), "in_channels": (1, 4),
                  "seed": (0, 2**63 - 1)}
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise UserInputError(f"latency table {name} must be an integer from {low:,} to {high:,}, "
                                     f"got {value!r}")
        if self.resolution is not None and (isinstance(self.resolution, bool) or not isinstance(self.resolution, int)
                                            or not 8 <= self.resolution <= MAX_RESOLUTION):
            raise UserInputError(f"latency table resolution must be an integer from 8 to {MAX_RESOLUTION}, "
                                 f"got {self.resolution!r}")
        if 0 < self.fit < 7:
            raise UserInputError(f"latency table fit must be 0 (no correction) or at least 7 whole networks, "
                                 f"got {self.fit}")
        if self.fit > self.samples:
            raise UserInputError(f"latency table fit ({self.fit}) cannot exceed samples ({self.samples}): the "
                                 f"correction is fitted on sampled networks")

    def make_space(self) -> SearchSpace:
        """The space, its genomes at this recipe's resolution, classes and input channels."""
        settings = {"num_classes": self.num_classes, "in_channels": self.in_channels}
        if self.resolution is not None:
            settings["resolution"] = self.resolution
        return ss.spaces.get(self.space, **settings)

    def table(self) -> LatencyTable:
        """An empty table with this recipe's measuring settings."""
        return LatencyTable(device=self.device, batch=self.batch, threads=self.threads, warmup=self.warmup,
                            repeats=self.repeats, steady=self.steady, seed=self.seed)


def space_genomes(space: SearchSpace, samples: int, seed: int = 0) -> list[Network]:
    """``samples`` seeded genomes of ``space`` (seeds ``seed``, ``seed + 1``, ...)."""
    return [space.sample(seed + i) for i in range(samples)]


def sample_split(space: SearchSpace, train: int, test: int, train_seed: int,
                 test_seed: int) -> tuple[list[Network], list[Network]]:
    """Fitting and held-out genomes from disjoint seed ranges; held-out duplicates of fitting genomes skipped."""
    fit = space_genomes(space, train, train_seed)
    seen, held, seed = set(fit), [], test_seed
    while len(held) < test:
        genome = space.sample(seed)
        seed += 1
        if genome not in seen:
            seen.add(genome)
            held.append(genome)
    return fit, held


def measure_models(genomes: Sequence[Network], table: LatencyTable, *, resolution: int | None = None,
                   warmup: int = 5, repeats: int = 30, passes: int = 1, quiet: bool = False) -> tuple[list[list[float]],
                                                                                                     list[float]]:
    """Each whole network's median per pass, and each single measurement's wall time (s).

    Networks are timed as the table times parts (device, batch, threads, allocator). Before
    every pass but the first, the table's entries for these networks' parts are timed once
    more (keeping the lower value), so table and whole networks are sampled over the same
    stretch of time and a drift in the machine's load hits both. Each pass visits the
    networks in its own seeded order.
    """
    medians = [[0.0] * len(genomes) for _ in range(passes)]
    walls: list[float] = []
    for p in range(passes):
        if p:
            distinct = len({item.key for g in genomes for item in table.profile(g, resolution).items})
            with _bar(f"pass {p + 1}/{passes}: parts again", distinct, quiet) as bar:
                table.refine(genomes, resolution, progress=_advance(bar))
        order = random.Random(p).sample(range(len(genomes)), len(genomes))
        with _bar(f"pass {p + 1}/{passes}: whole networks", len(genomes), quiet) as bar:
            for i in order:
                start = time.perf_counter()
                stats = measure_genome(genomes[i], table.batch, resolution, warmup=warmup, repeats=repeats,
                                       threads=table.threads, device=table.device, seed=table.seed,
                                       channels_last=table.channels_last, steady=table.steady)
                walls.append(time.perf_counter() - start)
                medians[p][i] = stats.median_ms
                bar.update(1)
    return medians, walls


def build_predictor(recipe: TableRecipe, *, quiet: bool = False,
                    log: Callable[[str], None] | None = None) -> LatencyPredictor:
    """Measure a table of the recipe's space on this device and fit its correction (see the module docstring).

    Args:
        recipe: What to sample and how to time it.
        quiet: No progress bars.
        log: Called with one-line messages (what is measured, the estimated time); default: stderr.
    """
    say = log or (lambda text: tqdm.write(text, file=sys.stderr))  # above any progress bar
    space = recipe.make_space()
    genomes = space_genomes(space, recipe.samples, recipe.seed)
    table = recipe.table()
    parts = {item.key for g in genomes for item in table.profile(g).items}
    fitting = genomes[:recipe.fit]
    side = recipe.resolution or space.default_resolution
    say(f"latency table for space {recipe.space!r} at {side} px: {len(parts):,} distinct parts of {len(genomes):,} "
        f"sampled networks, then {len(fitting)} whole networks x {recipe.passes} pass(es) for the correction; "
        f"on {table.fingerprint}")
    estimate = _Estimate(recipe, len(parts), fitting, table, say)
    start = time.perf_counter()
    with _bar("parts", len(parts), quiet) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(1)
            estimate.after(done, time.perf_counter() - start)

        table.measure_missing(genomes, progress=progress)
    predictor = LatencyPredictor(table)
    if fitting:
        medians, _ = measure_models(fitting, table, warmup=recipe.model_warmup, repeats=recipe.model_repeats,
                                    passes=recipe.passes, quiet=quiet)
        predictor.fit(fitting, [min(m) for m in zip(*medians)], missing="raise")
    return predictor


class _Estimate:
    """Says, once, how long the whole build will take, from the first parts' pace."""

    def __init__(self, recipe: TableRecipe, parts: int, fitting: Sequence[Network], table: LatencyTable,
                 say: Callable[[str], None]) -> None:
        self.recipe, self.parts, self.say = recipe, parts, say
        self.blocks = sum(len(table.profile(g).items) for g in fitting)  # parts timed per pass of whole networks
        self.refined = len({item.key for g in fitting for item in table.profile(g).items})
        self.done = False

    def after(self, measured: int, elapsed_s: float) -> None:
        if self.done or measured < min(max(_CALIBRATION_MIN, round(_CALIBRATION_SHARE * self.parts)), self.parts):
            return
        self.done = True
        r = self.recipe
        per_part = elapsed_s / measured  # build + warm-up + timed calls of one part
        per_call = per_part / (r.warmup + r.repeats)  # a part's call, build overhead included: errs long
        models = r.passes * self.blocks * per_call * (r.model_warmup + r.model_repeats)
        total = self.parts * per_part + models + (r.passes - 1) * self.refined * per_part
        self.say(f"estimated time: {_duration(total)} ({self.parts:,} parts at about {1e3 * per_part:.0f} ms each"
                 + (", then the whole networks" if r.fit else "") + ")")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _bar(label: str, total: int, quiet: bool) -> tqdm:
    return tqdm(total=total, desc=label, unit="part" if "parts" in label else "net", disable=quiet, file=sys.stderr,
                dynamic_ncols=True, leave=False)


def _advance(bar: tqdm) -> Callable[[int, int], None]:
    return lambda _done, _total: bar.update(1)
