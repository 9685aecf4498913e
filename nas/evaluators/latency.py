"""``latency`` (measured) and ``latency-lut`` (predicted from a per-block table) inference latency.

``latency`` builds the genome (seeded weights) and times batch-1 inference with
:func:`nas.latency.measure.measure_genome`: eval mode, ``torch.inference_mode()``, warm-up
calls, the median of N timed calls, a fixed thread count (restored afterwards). Budget
keys, with defaults: ``latency_batch`` 1 (when larger, that batch is timed too),
``latency_warmup`` 5, ``latency_repeats`` 20, ``latency_threads`` the context's threads
(else torch's current setting), ``latency_resolution`` the genome's, ``channels_last``
false, ``compile`` false (``torch.compile``; compilation happens during warm-up),
``latency_steady_allocator`` true (keep freed memory in the process so calls do not
page-fault: :func:`nas.latency.measure.steady_allocator`; process-wide once set).
Metrics: ``latency_ms`` (batch 1 median); extra ``latency_iqr_ms`` and, for a larger
batch, ``latency_batch``, ``latency_batch_ms`` and ``latency_batch_iqr_ms``.

``latency-lut`` answers from a saved table (and its learned correction when the file has
one) in microseconds: budget key ``latency_table`` (path, required; create one with
``python benchmarks/latency_predictor.py --save PATH``, or ``LatencyTable.measure_missing``
then ``save``), ``latency_missing`` ``raise`` (default: parts missing from the table fail
the candidate) or ``measure`` (time them now and extend the in-memory table),
``latency_resolution`` the genome's, ``latency_allow_other_device`` false. Metrics:
``latency_ms`` at the table's batch; extra ``latency_predicted_ms`` (the same, kept when
``latency`` runs too and takes ``latency_ms``) and ``latency_table_sum_ms`` (uncorrected sum).
Loaded tables are kept per process (reloaded when the file changes).
"""

from __future__ import annotations

import os
from typing import Any

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.latency.lut import MissingEntryError
from nas.latency.measure import measure_genome
from nas.latency.predictor import LatencyPredictor
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

__all__ = ["LatencyEvaluator", "LatencyLUTEvaluator", "clear_table_cache"]

#: (path, modification time, size, allow_other_device, missing) -> loaded predictor.
_TABLES: dict[tuple[Any, ...], LatencyPredictor] = {}


def clear_table_cache() -> None:
    """Forget loaded tables (the next evaluation reads the file again)."""
    _TABLES.clear()




class LatencyEvaluator(Evaluator):
    """Measured inference latency (see the module docstring for budget keys and metrics)."""

    name = "latency"
    provides = ("latency_ms",)

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        batch = ctx.get_int("latency_batch", 1, 1)
        settings = {
            "resolution": ctx.get_int("latency_resolution", genome.resolution, 1),
            "warmup": ctx.get_int("latency_warmup", 5, 0), "repeats": ctx.get_int("latency_repeats", 20, 1),
            "threads": ctx.get_int("latency_threads", ctx.threads, 1),
            "channels_last": ctx.get_bool("channels_last", False), "compile": ctx.get_bool("compile", False),
            "device": ctx.torch_device(), "seed": ctx.seed,
            "steady": ctx.get_bool("latency_steady_allocator", True),
        }
        single = measure_genome(genome, 1, **settings)
        extra = {"latency_iqr_ms": single.iqr_ms}
        if batch != 1:
            many = measure_genome(genome, batch, **settings)
            extra.update(latency_batch=float(batch), latency_batch_ms=many.median_ms,
                         latency_batch_iqr_ms=many.iqr_ms)
        return Metrics(latency_ms=single.median_ms, extra=extra)


def _predictor(ctx: RunContext) -> LatencyPredictor:
    path = ctx.get("latency_table", None)
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise UserInputError("latency-lut needs budget key latency_table (the path of a saved latency table); "
                             "create one with `python benchmarks/latency_predictor.py --save PATH`")
    missing = ctx.get("latency_missing", "raise")
    if missing not in ("raise", "measure"):
        raise UserInputError(f"latency_missing must be raise or measure, got {missing!r}")
    allow = ctx.get_bool("latency_allow_other_device", False)
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

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        predictor = _predictor(ctx)
        resolution = ctx.get_int("latency_resolution", None, 1)
        try:
            total = predictor.table_sum(genome, resolution)
        except MissingEntryError as err:
            raise MissingEntryError(
                f"latency_table {ctx.get('latency_table', '')} lacks {len(err.keys)} of the parts of {err.genome!r}; "
                f"set latency_missing=measure to time them now", err.genome, err.keys) from None
        predicted = predictor.predict(genome, resolution)
        # Both under extra too: run beside ``latency``, the measured value takes latency_ms.
        return Metrics(latency_ms=predicted, extra={"latency_predicted_ms": predicted, "latency_table_sum_ms": total})
