"""Inference latency: measured, looked up per block, and corrected by a small learned model.

- :mod:`nas.latency.measure`: :func:`measure` / :func:`measure_genome` (warm-up, median of N,
  fixed threads, inference mode, optional channels_last and ``torch.compile``) and
  :func:`device_fingerprint`.
- :mod:`nas.latency.lut`: :class:`LatencyTable`, per-block times measured once per device,
  saved as JSON; a prediction is the sum of a network's parts.
- :mod:`nas.latency.predictor`: :class:`LatencyPredictor`, the table sum corrected by a
  linear model fitted on measured whole networks, and :func:`accuracy` against measurement.
- :mod:`nas.latency.space_table`: a table and correction for a whole search space
  (:func:`~nas.latency.space_table.build_predictor`), and the sampling and whole-network
  timing the latency benchmark shares.
- :mod:`nas.latency.cache`: this device's tables cached on disk, built once (in a child
  process, under a file lock) when ``latency-lut`` first needs one.
- :mod:`nas.latency.cli`: ``python -m nas.latency table --space mbconv --out FILE``.
"""

from nas.latency.lut import LatencyTable, MissingEntryError
from nas.latency.measure import LatencyStats, device_fingerprint, measure, measure_genome, steady_allocator
from nas.latency.predictor import Accuracy, Correction, LatencyPredictor, accuracy, fit_correction

__all__ = [
    "Accuracy", "Correction", "LatencyPredictor", "LatencyStats", "LatencyTable", "MissingEntryError", "accuracy",
    "device_fingerprint", "fit_correction", "measure", "measure_genome", "steady_allocator",
]
