"""``latency`` (measured) and ``latency-lut`` (predicted from a per-block table) inference latency.

``latency`` builds the genome (seeded weights) and times batch-1 inference with
:func:`nas.latency.measure.measure_genome`: eval mode, ``torch.inference_mode()``, warm-up
calls, the median of N timed calls, a fixed thread count (restored afterwards). Knobs:
:class:`LatencySettings` (``latency_steady_allocator`` opts in to the steady allocator, a
process-wide and permanent switch: :func:`nas.latency.measure.steady_allocator`). Metrics:
``latency_ms`` (batch 1 median); extra ``latency_iqr_ms`` and, for a larger
``latency_batch``, ``latency_batch``, ``latency_batch_ms`` and ``latency_batch_iqr_ms``.

``latency-lut`` answers from a latency table (and its learned correction) in microseconds.
Knobs: :class:`LatencyLUTSettings`. The table is ``latency_table`` when set (a file from
``python -m nas.latency table``); else this device's table for the genome's space, from
the cache (:mod:`nas.latency.cache`), which the first run on a machine builds: it says so
on stderr with the estimated time, other processes asking meanwhile wait for it, and every
later run reuses it. The space is ``latency_space``, else read from the genome's name (a
space names its genomes ``<space>_<digest>``); the table is measured on the run's device
at ``latency_resolution`` (else the genome's), with ``latency_table_batch`` and
``latency_table_threads`` and the steady allocator (in the building child process only).
With ``latency_missing=measure`` a part the table lacks is timed here, in this process, with
the table's settings: for a table measured steady (those built on first use are) that turns
the steady allocator on in this process too.
Metrics: ``latency_ms`` at the table's batch; extra ``latency_predicted_ms`` (the same,
kept when ``latency`` runs too and takes ``latency_ms``) and ``latency_table_sum_ms``
(uncorrected sum). Loaded tables are kept per process (reloaded when the file changes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import search_spaces as ss
from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.latency.lut import MissingEntryError
from nas.latency.measure import measure_genome
from nas.latency.predictor import LatencyPredictor
from nas.settings import knob
from search_spaces.errors import UserInputError
from search_spaces.genome import MAX_RESOLUTION, Network

__all__ = ["LatencyEvaluator", "LatencyLUTEvaluator", "LatencyLUTSettings", "LatencySettings", "clear_table_cache",
           "lut_predictor"]


def latency_resolution_knob() -> Any:
    """The ``latency_resolution`` knob, shared by the measured and the predicted latency."""
    return knob(None, "input size latency is timed or predicted at", low=8, high=MAX_RESOLUTION,
                none="the genome's resolution")


@dataclass(frozen=True)
class LatencySettings:
    """Knobs of the ``latency`` evaluator (measured inference latency)."""

    latency_batch: int = knob(1, "batch size also timed when > 1 (batch 1 is always timed)", low=1, high=4096)
    latency_warmup: int = knob(5, "untimed calls first", low=0, high=100_000)
    latency_repeats: int = knob(20, "timed calls; the median is reported", low=1, high=100_000)
    latency_threads: int | None = knob(None, "CPU threads while timing", low=1, high=4096,
                                       none="the run's --threads, else torch's setting")
    latency_resolution: int | None = latency_resolution_knob()
    channels_last: bool = knob(False, "channels_last memory format")
    compile: bool = knob(False, "torch.compile the model (compiled during the warm-up)")
    latency_steady_allocator: bool = knob(False, "keep freed memory in the process so timed calls do not page-fault "
                                                 "(glibc's allocator thresholds: process-wide, and cannot be undone)")


@dataclass(frozen=True)
class LatencyLUTSettings:
    """Knobs of the ``latency-lut`` evaluator (latency predicted from a per-block table)."""

    latency_table: str = knob("", "path of a latency table from `python -m nas.latency table` (empty: this device's "
                                  "table for the genome's space, from the cache; built on first use)")
    latency_space: str | None = knob(None, "space whose parts a table built on first use covers",
                                     choices=lambda: ss.spaces.names(),
                                     none="the space in the genome's name (<space>_<digest>)")
    latency_table_batch: int = knob(1, "images per timed call of a table built on first use", low=1, high=4096)
    latency_table_threads: int = knob(1, "torch CPU threads of a table built on first use", low=1, high=4096)
    latency_missing: str = knob("raise", "parts missing from the table: raise (fail the candidate) or measure "
                                         "(time them now, with the table's settings, and extend it in memory)",
                                choices=("raise", "measure"))
    latency_resolution: int | None = latency_resolution_knob()
    latency_allow_other_device: bool = knob(False, "use a table measured on another device")


#: (path, modification time, size, allow_other_device, missing) -> loaded predictor.
_TABLES: dict[tuple[Any, ...], LatencyPredictor] = {}
#: Recipe of a table built on first use -> its file in the cache (found or built once per process).
_CACHED: dict[Any, str] = {}


def clear_table_cache() -> None:
    """Forget loaded tables and cache look-ups (the next evaluation reads the files again)."""
    _TABLES.clear()
    _CACHED.clear()




class LatencyEvaluator(Evaluator):
    """Measured inference latency (see the module docstring for budget keys and metrics)."""

    name = "latency"
    provides = ("latency_ms",)
    settings = LatencySettings

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        s = ctx.settings(LatencySettings)
        batch = s.latency_batch
        settings = {
            "resolution": genome.resolution if s.latency_resolution is None else s.latency_resolution,
            "warmup": s.latency_warmup, "repeats": s.latency_repeats,
            "threads": ctx.threads if s.latency_threads is None else s.latency_threads,
            "channels_last": s.channels_last, "compile": s.compile, "device": ctx.torch_device(), "seed": ctx.seed,
            "steady": s.latency_steady_allocator,
        }
        single = measure_genome(genome, 1, **settings)
        extra = {"latency_iqr_ms": single.iqr_ms}
        if batch != 1:
            many = measure_genome(genome, batch, **settings)
            extra.update(latency_batch=float(batch), latency_batch_ms=many.median_ms,
                         latency_batch_iqr_ms=many.iqr_ms)
        return Metrics(latency_ms=single.median_ms, extra=extra)


def _table_path(s: LatencyLUTSettings, genome: Network, ctx: RunContext) -> str:
    """``latency_table``, or this device's cached table for the genome's space (built now if missing)."""
    if s.latency_table:
        return s.latency_table
    from nas.latency.cache import cached_table, space_of  # late: only a table built on first use needs them
    from nas.latency.space_table import TableRecipe

    space = s.latency_space or (ctx.space if ctx.space in ss.spaces.names() else None) or space_of(genome)
    if space is None:
        raise UserInputError(f"latency-lut cannot tell which search space {genome.name!r} comes from, so it cannot "
                             f"build a latency table for it; set latency_space (one of {', '.join(ss.spaces.names())}) "
                             f"or latency_table (a file from `python -m nas.latency table`)")
    recipe = TableRecipe(space=space, resolution=s.latency_resolution or genome.resolution,
                         batch=s.latency_table_batch, threads=s.latency_table_threads, device=str(ctx.torch_device()),
                         num_classes=genome.num_classes, in_channels=genome.in_channels, steady=True)
    if recipe not in _CACHED:
        _CACHED[recipe] = str(cached_table(recipe))
    return _CACHED[recipe]


def _predictor(s: LatencyLUTSettings, path: str) -> LatencyPredictor:
    missing, allow = s.latency_missing, s.latency_allow_other_device
    try:
        stat = os.stat(path)
    except OSError:
        raise UserInputError(f"latency_table: no latency table at {str(path)!r}; create one with "
                             f"`python -m nas.latency table --space SPACE --out {path}`") from None
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, allow, missing)
    if key not in _TABLES:
        for stale in [k for k in _TABLES if k[0] == key[0] and k[1:3] != key[1:3]]:  # an older version of the file
            del _TABLES[stale]
        _TABLES[key] = LatencyPredictor.load(path, allow_other_device=allow, on_missing=missing)
    return _TABLES[key]


def lut_predictor(s: LatencyLUTSettings, genome: Network, ctx: RunContext) -> tuple[str, LatencyPredictor]:
    """The table ``latency-lut`` answers ``genome`` from under settings ``s``: its path and loaded predictor.

    ``latency_table`` when set, else this device's cached table for the genome's space (built on
    first use, see the module docstring); loaded once per process and file version.
    """
    path = _table_path(s, genome, ctx)
    return path, _predictor(s, path)


class LatencyLUTEvaluator(Evaluator):
    """Predicted inference latency from a saved per-block table (see the module docstring)."""

    name = "latency-lut"
    provides = ("latency_ms",)
    settings = LatencyLUTSettings

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        s = ctx.settings(LatencyLUTSettings)
        path, predictor = lut_predictor(s, genome, ctx)
        resolution = s.latency_resolution
        try:
            total = predictor.table_sum(genome, resolution)
        except MissingEntryError as err:
            raise MissingEntryError(
                f"latency_table {path} lacks {len(err.keys)} of the parts of {err.genome!r}; "
                f"set latency_missing=measure to time them now", err.genome, err.keys) from None
        predicted = predictor.predict(genome, resolution)
        # Both under extra too: run beside ``latency``, the measured value takes latency_ms.
        return Metrics(latency_ms=predicted, extra={"latency_predicted_ms": predicted, "latency_table_sum_ms": total})
