"""``latency`` (measured) and ``latency-lut`` (predicted from a per-block table) inference latency.

``latency`` builds the genome (seeded weights) and times batch-1 inference with
:func:`nas.latency.measure.measure_genome`: eval mode, ``torch.inference_mode()``, warm-up
calls, the median of N timed calls, a fixed thread count (restored afterwards). Knobs:
:class:`LatencySettings`. Metrics: ``latency_ms`` (batch 1 median); extra
``latency_iqr_ms`` and, for a larger ``latency_batch``, ``latency_batch``,
``latency_batch_ms`` and ``latency_batch_iqr_ms``.

``latency-lut`` answers from a saved table (and its learned correction when the file has
one) in microseconds. Knobs: :class:`LatencyLUTSettings` (``latency_table``, the table's
path, required; create one with ``python benchmarks/latency_predictor.py --save PATH``).
Metrics: ``latency_ms`` at the table's batch; extra ``latency_predicted_ms`` (the same,
kept when ``latency`` runs too and takes ``latency_ms``) and ``latency_table_sum_ms``
(uncorrected sum). Loaded tables are kept per process (reloaded when the file changes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.latency.lut import MissingEntryError
from nas.latency.measure import measure_genome
from nas.latency.predictor import LatencyPredictor
from nas.settings import knob
from search_spaces.errors import UserInputError
from search_spaces.genome import MAX_RESOLUTION, Network

__all__ = ["LatencyEvaluator", "LatencyLUTEvaluator", "LatencyLUTSettings", "LatencySettings", "clear_table_cache"]


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
    latency_steady_allocator: bool = knob(True, "keep freed memory in the process so timed calls do not page-fault "
                                                "(glibc's allocator thresholds; process-wide once set)")


@dataclass(frozen=True)
class LatencyLUTSettings:
    """Knobs of the ``latency-lut`` evaluator (latency predicted from a per-block table)."""

    latency_table: str = knob("", "path of a saved latency table")
    latency_missing: str = knob("raise", "parts missing from the table: raise (fail the candidate) or measure "
                                         "(time them now and extend the table in memory)",
                                choices=("raise", "measure"))
    latency_resolution: int | None = latency_resolution_knob()
    latency_allow_other_device: bool = knob(False, "use a table measured on another device")

#: (path, modification time, size, allow_other_device, missing) -> loaded predictor.
_TABLES: dict[tuple[Any, ...], LatencyPredictor] = {}


def clear_table_cache() -> None:
    """Forget loaded tables (the next evaluation reads the file again)."""
    _TABLES.clear()




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


def _predictor(s: LatencyLUTSettings) -> LatencyPredictor:
    path, missing, allow = s.latency_table, s.latency_missing, s.latency_allow_other_device
    if not path:
        raise UserInputError("latency-lut needs setting latency_table (the path of a saved latency table); "
                             "create one with `python benchmarks/latency_predictor.py --save PATH`")
    try:
        stat = os.stat(path)
    except OSError:
        raise UserInputError(f"latency_table: no latency table at {str(path)!r}; create one with "
                             f"`python benchmarks/latency_predictor.py --save {path}`") from None
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, allow, missing)
    if key not in _TABLES:
        for stale in [k for k in _TABLES if k[0] == key[0] and k[1:3] != key[1:3]]:  # an older version of the file
            del _TABLES[stale]
        _TABLES[key] = LatencyPredictor.load(path, allow_other_device=allow, on_missing=missing)
    return _TABLES[key]


class LatencyLUTEvaluator(Evaluator):
    """Predicted inference latency from a saved per-block table (see the module docstring)."""

    name = "latency-lut"
    provides = ("latency_ms",)
    settings = LatencyLUTSettings

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        s = ctx.settings(LatencyLUTSettings)
        predictor = _predictor(s)
        resolution = s.latency_resolution
        try:
            total = predictor.table_sum(genome, resolution)
        except MissingEntryError as err:
            raise MissingEntryError(
                f"latency_table {s.latency_table} lacks {len(err.keys)} of the parts of {err.genome!r}; "
                f"set latency_missing=measure to time them now", err.genome, err.keys) from None
        predicted = predictor.predict(genome, resolution)
        # Both under extra too: run beside ``latency``, the measured value takes latency_ms.
        return Metrics(latency_ms=predicted, extra={"latency_predicted_ms": predicted, "latency_table_sum_ms": total})
