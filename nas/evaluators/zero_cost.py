"""``zero-cost``: training-free proxy scores of an untrained network on one real batch.

The genome is built as the ``train`` evaluator builds it, so a score describes the network
that would be trained: its classifier gets the dataset's class count (10 for
Fashion-MNIST), its input the batch's channels and the proxy resolution. The batch comes from
:func:`nas.data.fixed_batch` (deterministic for ``ctx.seed``; gray images are repeated to
the genome's ``in_channels``, so the architecture does not change for the data) and is kept
per process for the next genome. The weights are PyTorch's default initialisation under
``torch.manual_seed(ctx.seed)``. Every proxy scores the same model, which each leaves
exactly as it found it.

Which proxies run (:func:`requested`): those named by the ``zero_cost`` knob; else those the
run reads (``ctx.needs``: the ``zero-cost`` reward reads only ``zc_naswot``); else all of
:data:`nas.zero_cost.PROXIES`.

At what size (:func:`proxy_resolution`): ``zero_cost_resolution`` when it is a number; the
genome's own resolution when it is ``genome``; by default (unset) the run's ``resolution``
setting, the image size the ``train`` evaluator trains at (28 in a search). Proxies then
score the network on the images a proxy training would see, and a 224 px genome costs
what a 28 px forward pass costs. docs/BENCHMARKS.md ("Evaluator fidelity") compares the
rank correlations at both sizes.

With how many threads: ``zero_cost_threads`` torch CPU threads (default 1; 0: the run's
``--threads``). A proxy-resolution batch is a few small tensors per layer, too little work to
share among threads; on a CPU other processes also use, extra threads mostly wait for each
other (docs/BENCHMARKS.md, "Zero-cost evaluator speed", measures both).

Knobs (:class:`ZeroCostSettings`): ``zero_cost``, ``zero_cost_batch`` (images in the batch;
ZiCo splits it into 2 mini-batches), ``zero_cost_resolution``, ``zero_cost_threads``,
``resolution`` (shared with ``train``) and ``channels`` (as ``train``).

Metrics: ``extra["zc_<name>"]`` per proxy run. No score goes into ``accuracy``: proxies are
not accuracies (their scales and signs differ), and a reward or ranking reads the one it
wants from ``extra``. A proxy that raises or returns NaN/infinity records ``nan`` and a
one-line reason while the others still report; the metrics are ``failed`` only when every
proxy run failed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.evaluators.train import MAX_PROXY_RESOLUTION, channels_knob, resolution_knob
from nas.settings import knob
from nas.threads import fixed_threads
from nas.zero_cost import PROXIES
from search_spaces import build
from search_spaces.errors import UserInputError, first_line
from search_spaces.genome import Network

__all__ = ["GENOME_RESOLUTION", "ZeroCostEvaluator", "ZeroCostSettings", "proxy_names", "proxy_resolution",
           "requested"]

#: The ``zero_cost_resolution`` word for "the genome's own resolution".
GENOME_RESOLUTION = "genome"


def proxy_names(value: str | Sequence[str] | None) -> list[str]:
    """The ``zero_cost`` budget value as proxy names, in order; empty or ``None`` means all.

    Raises:
        UserInputError: an unknown name (named, with close matches), a duplicate or a non-string.
    """
    if not value:
        return PROXIES.names()
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else list(value)
    if any(not isinstance(p, str) or not p for p in parts):
        raise UserInputError(f"setting 'zero_cost' must be a comma-separated list of proxy names, got {value!r}")
    if len(set(parts)) != len(parts):
        raise UserInputError(f"setting 'zero_cost' lists a proxy twice: {value!r}")
    for name in parts:
        if name not in PROXIES:
            raise UserInputError(f"setting 'zero_cost': {PROXIES.unknown_message(name)}")
    return parts


@dataclass(frozen=True)
class ZeroCostSettings:
    """Knobs of the ``zero-cost`` evaluator."""

    zero_cost: str = knob("", "proxies to compute, comma-separated (empty: those the run's reward reads, else all)")
    zero_cost_batch: int = knob(64, "images in the scored batch", low=2, high=4096)
    zero_cost_resolution: int | str | None = knob(
        None, f"image size the proxies see ({GENOME_RESOLUTION}: the genome's own resolution)", low=8,
        high=MAX_PROXY_RESOLUTION, special=(GENOME_RESOLUTION,), none="the resolution setting (train's image size)")
    zero_cost_threads: int = knob(1, "torch CPU threads while building and scoring (0: the run's --threads)", low=0,
                                  high=4096)
    resolution: int = resolution_knob()
    channels: int | None = channels_knob()

    def __post_init__(self) -> None:
        proxy_names(self.zero_cost)  # unknown names, duplicates


def requested(s: ZeroCostSettings, needs: frozenset[str] | None) -> list[str]:
    """The proxies to run: named by ``zero_cost``; else those in ``needs`` (``zc_<name>``); else all."""
    if s.zero_cost:
        return proxy_names(s.zero_cost)
    needed = [name for name in PROXIES.names() if needs is not None and f"zc_{name}" in needs]
    return needed or PROXIES.names()


def proxy_resolution(s: ZeroCostSettings, genome: Network) -> int:
    """The image size the proxies see (see the module docstring)."""
    if s.zero_cost_resolution is None:
        return s.resolution
    if s.zero_cost_resolution == GENOME_RESOLUTION:
        return genome.resolution
    return int(s.zero_cost_resolution)


def real_batch(ctx: RunContext, n: int, resolution: int, channels: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(x, y, num_classes)``: ``n`` real training images of ``ctx.data`` and the dataset's class count.

    The same arguments give the same tensors (kept per process; callers must not modify them).
    """
    return _cached_batch(ctx.data, ctx.seed, n, resolution, channels)


@lru_cache(maxsize=4)
def _cached_batch(data: str | None, seed: int, n: int, resolution: int,
                  channels: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    from nas.data import fixed_batch, open_dataset  # late: keeps ``import nas.evaluators`` light

    x, y = fixed_batch(RunContext(data=data, seed=seed), n, resolution, channels)
    return x, y, open_dataset(data).num_classes


def _score(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: RunContext) -> tuple[float, str]:
    """``(score, "")``, or ``(nan, reason)`` when the proxy raises or its score is not finite."""
    try:
        score = PROXIES.get(name)(model, x, y, F.cross_entropy)
    except ctx.propagate:
        raise
    except torch.OutOfMemoryError:
        return math.nan, f"zero-cost {name}: out of memory"
    except Exception as err:  # noqa: BLE001  (one proxy failing must not hide the others)
        text = first_line(err, type(err).__name__)
        return math.nan, f"zero-cost {name}: {text}"
    if not math.isfinite(score):
        return math.nan, f"zero-cost {name}: score is {score} (not finite)"
    return score, ""


class ZeroCostEvaluator(Evaluator):
    """Training-free proxy scores into ``Metrics.extra["zc_<name>"]`` (see the module docstring)."""

    name = "zero-cost"
    provides = tuple(f"zc_{name}" for name in PROXIES)
    settings = ZeroCostSettings

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        s = ctx.settings(ZeroCostSettings)
        names = requested(s, ctx.needs)
        resolution = proxy_resolution(s, genome)
        channels = genome.in_channels if s.channels is None else s.channels
        x, y, num_classes = real_batch(ctx, s.zero_cost_batch, resolution, channels)
        proxy = dataclasses.replace(genome, resolution=resolution, num_classes=num_classes, in_channels=x.shape[1])
        extra: dict[str, float] = {}
        reasons: list[str] = []
        with fixed_threads(s.zero_cost_threads or None):  # 0: the run's setting, already in effect
            torch.manual_seed(ctx.seed)
            model = build(proxy).to(ctx.torch_device())
            for name in names:
                extra[f"zc_{name}"], reason = _score(name, model, x, y, ctx)
                if reason:
                    reasons.append(reason)
        return Metrics(failed=len(reasons) == len(names), reason="; ".join(reasons), extra=extra)
