"""Measured inference latency: warm-up, median of N, fixed threads, inference mode.

Every timed call runs in ``torch.inference_mode()`` on a module in eval mode, on one fixed
random input (seeded, so two measurements of one model feed it the same values). On CUDA
the device is synchronised before and after each call, so a sample is the whole call.
The thread count is set for the measurement and put back afterwards, whatever happens.

The *steady allocator* (:func:`steady_allocator`) is opt-in (``steady=True``): with glibc's
defaults, tensors above its mmap threshold are mapped fresh from the kernel and handed back
after each call, so every call of a large network page-faults its activations back in, and
how much of that a model pays depends on the allocator's history, which no latency model
can know. Made steady, the process keeps freed memory and repeated calls reuse it. It is a
process-wide switch that cannot be undone, so a library call never flips it by default;
the commands that want stable timings (``python -m nas.latency table``, the latency
benchmarks) ask for it, as does the ``latency`` evaluator when its ``latency_steady_allocator``
knob is set. docs/BENCHMARKS.md ("Latency") has the measurements behind this. PyTorch's CPU
performance guide recommends a caching allocator (jemalloc, TCMalloc) for the same reason.

:func:`device_fingerprint` names the machine and settings a measurement belongs to;
latency tables (:mod:`nas.latency.lut`) refuse to mix fingerprints.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nas.threads import fixed_threads
from search_spaces.build import build
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

__all__ = ["LatencyStats", "Shape", "available_cores", "cpu_model", "device_fingerprint", "fixed_threads", "measure",
           "measure_genome", "steady_allocator", "time_calls"]

#: A tensor shape, e.g. ``(1, 3, 224, 224)``.
Shape = tuple[int, ...]


@dataclass(frozen=True)
class LatencyStats:
    """Timings of one model at one input, in milliseconds.

    Attributes:
        median_ms: Median of the timed calls.
        iqr_ms: Interquartile range of the timed calls (0 for fewer than two).
        samples_ms: Every timed call, in the order they ran.
    """

    median_ms: float
    iqr_ms: float
    samples_ms: tuple[float, ...]

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> LatencyStats:
        """Summarise timed calls (at least one)."""
        if not samples_ms:
            raise ValueError("need at least one timed call")
        samples = tuple(float(s) for s in samples_ms)
        iqr = 0.0
        if len(samples) >= 2:
            q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
            iqr = q3 - q1
        return cls(statistics.median(samples), iqr, samples)

    @property
    def min_ms(self) -> float:
        """Fastest timed call."""
        return min(self.samples_ms)

    @property
    def max_ms(self) -> float:
        """Slowest timed call."""
        return max(self.samples_ms)


_STEADY: bool | None = None  # None: not tried yet; then whether it took effect


def steady_allocator() -> bool:
    """Keep freed memory in this process, so repeated calls stop page-faulting (glibc only; opt-in).

    Sets glibc's ``M_MMAP_THRESHOLD`` high (large blocks come from the heap, not fresh
    mappings) and ``M_TRIM_THRESHOLD`` to its maximum (freed memory is not handed back to
    the kernel). Effects: the process keeps its peak memory for the rest of its life, and
    every later allocation anywhere in it (training, data loading, other libraries) follows
    the new thresholds. Process-wide and cannot be undone: glibc has no way back to its
    adaptive defaults. Call it only in a process that exists to measure (a table build, a
    benchmark), or run the measurement in a subprocess. Idempotent.

    Returns:
        Whether it is in effect (``False`` where the C library is not glibc).
    """
    global _STEADY
    if _STEADY is None:
        _STEADY = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        # Older glibc caps the mmap threshold at 32 MiB (64-bit); ask for 1 GiB first.
        mapped = mallopt(m_mmap_threshold, 1 << 30) or mallopt(m_mmap_threshold, 32 << 20)
        _STEADY = bool(mapped and mallopt(m_trim_threshold, (1 << 31) - 1))
    return _STEADY


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or "unknown CPU"


def available_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def device_fingerprint(device: str | torch.device = "cpu", threads: int | None = None) -> str:
    """One line naming where latencies were measured: CPU model, cores, threads, torch, CUDA device.

    Args:
        device: The measuring device (``cpu``, ``cuda``, ``cuda:1``).
        threads: torch CPU threads used; ``None`` reads the current setting.
    """
    device = torch.device(device)
    threads = torch.get_num_threads() if threads is None else threads
    text = f"{cpu_model()}; {available_cores()} cores; {threads} threads; torch {torch.__version__}"
    if device.type == "cuda":
        text += f"; CUDA {torch.cuda.get_device_name(device)}"
    return text


def time_calls(call: Callable[[], object], *, warmup: int, repeats: int, device: torch.device) -> LatencyStats:
    """Time ``call`` ``repeats`` times after ``warmup`` untimed calls (CUDA synchronised around each)."""
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise UserInputError(f"warmup must be an integer >= 0, got {warmup!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise UserInputError(f"repeats must be an integer >= 1, got {repeats!r}")
    cuda = device.type == "cuda"
    samples: list[float] = []
    for i in range(warmup + repeats):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        call()
        if cuda:
            torch.cuda.synchronize(device)
        if i >= warmup:
            samples.append((time.perf_counter() - start) * 1e3)
    return LatencyStats.from_samples(samples)


def _inputs(shapes: Shape | Sequence[Shape | None], device: torch.device, channels_last: bool,
            seed: int) -> list[torch.Tensor | None]:
    """Seeded random inputs; a bare shape is one input, a sequence of shapes (``None``: no tensor) several."""
    many = len(shapes) > 0 and not isinstance(shapes[0], int)
    gen = torch.Generator().manual_seed(seed)
    out: list[torch.Tensor | None] = []
    for shape in (shapes if many else [shapes]):
        if shape is None:
            out.append(None)
            continue
        x = torch.randn(*shape, generator=gen).to(device)
        out.append(x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x)
    return out


def measure(model: nn.Module, input_shape: Shape | Sequence[Shape | None], *, warmup: int = 5, repeats: int = 20,
            threads: int | None = None, channels_last: bool = False, compile: bool = False,
            device: str | torch.device = "cpu", seed: int = 0, steady: bool = False) -> LatencyStats:
    """Inference latency of ``model`` on a random input of ``input_shape``.

    The model is moved to ``device`` and put in eval mode (it stays there). Timed calls run
    in ``torch.inference_mode()``.

    Args:
        model: The module to time.
        input_shape: One input's shape, or a tuple of shapes for a module taking several
            positional inputs (``None`` passes ``None``, as a cell's absent ``prev``).
        warmup: Untimed calls first (allocator, kernel selection, compilation).
        repeats: Timed calls; the median is the latency.
        threads: torch CPU threads during the measurement (restored afterwards); ``None`` keeps the current setting.
        channels_last: Use the channels_last memory format for the model and 4-d inputs.
        compile: Wrap the model in ``torch.compile`` (compilation happens during warm-up;
            give it at least one warm-up call).
        device: ``cpu``, ``cuda``, ``cuda:1``...
        seed: Seed of the random input.
        steady: Call :func:`steady_allocator` first: process-wide and permanent (see the
            module docstring), so off by default. ``False`` leaves the allocator as it is,
            which is steady anyway once anything made it so.

    Returns:
        Median, interquartile range and every timed call, in milliseconds.
    """
    device = torch.device(device)
    if steady:
        steady_allocator()
    with fixed_threads(threads):
        model = model.to(device).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        inputs = _inputs(input_shape, device, channels_last, seed)
        runner: Callable[..., object] = torch.compile(model) if compile else model
        with torch.inference_mode():
            return time_calls(lambda: runner(*inputs), warmup=warmup, repeats=repeats, device=device)


def measure_genome(genome: Network, batch: int = 1, resolution: int | None = None, *, warmup: int = 5,
                   repeats: int = 20, threads: int | None = None, channels_last: bool = False,
                   compile: bool = False, device: str | torch.device = "cpu", seed: int = 0,
                   steady: bool = False) -> LatencyStats:
    """Build ``genome`` (seeded initialisation) and :func:`measure` it on ``batch`` images.

    Args:
        genome: The network.
        batch: Images per call.
        resolution: Square input size; ``None`` uses the genome's.
        warmup, repeats, threads, channels_last, compile, device, steady: As in :func:`measure`.
        seed: Seed of the weights and of the input.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserInputError(f"batch must be a positive integer, got {batch!r}")
    side = genome.resolution if resolution is None else resolution
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise UserInputError(f"resolution must be a positive integer, got {side!r}")
    torch.manual_seed(seed)
    model = build(genome)
    try:
        return measure(model, (batch, genome.in_channels, side, side), warmup=warmup, repeats=repeats,
                       threads=threads, channels_last=channels_last, compile=compile, device=device, seed=seed,
                       steady=steady)
    finally:
        del model
        if torch.device(device).type == "cuda":
            torch.cuda.empty_cache()
