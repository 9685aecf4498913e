"""The evaluator contract: genome + run context -> metrics, and failures become data.

An evaluator estimates some of a candidate's metrics (accuracy, latency, training step
time, params, MACs). :func:`evaluate` runs several on one genome and merges their
metrics; any exception one of them raises for *this candidate* (a NaN loss, running out
of memory, an invalid network) becomes ``Metrics(failed=True, reason=...)`` instead of
crashing the search that called it. Only the exceptions listed in
``RunContext.propagate`` (pruning signals) and ``BaseException``s such as Ctrl-C pass.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch

from nas.settings import resolve as resolve_settings
from nas.threads import fixed_threads
from search_spaces.errors import first_line
from search_spaces.genome import Network
from search_spaces.spaces import SearchSpace

__all__ = ["Evaluator", "Metrics", "Pruned", "RunContext", "evaluate", "resolve_device"]

S = TypeVar("S")


class Pruned(Exception):
    """Raised through an evaluator by ``RunContext.report`` to stop a candidate early."""


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present else CPU; anything else as ``torch.device`` reads it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class RunContext:
    """Where and how to evaluate.

    Attributes:
        device: ``cpu``, ``cuda``, ``cuda:1`` or ``auto``.
        seed: Seed for every random choice an evaluator makes (init, data order, batches).
        data: Dataset name (``fashion-mnist``, ``cifar10``) or directory; ``None`` uses the
            built-in default, Fashion-MNIST.
        budget: Raw settings (``epochs``, ``subset``, ...; command-line text or typed values)
            shared by the evaluators; each reads its own knobs through :meth:`settings`, and
            :func:`nas.settings.check` refuses keys none of them reads.
        report: Called as ``report(step, value)`` with intermediate values (validation
            accuracy after each epoch, ...) so a pruner can stop the candidate by raising.
        propagate: Exception types an evaluator must not turn into a failed metric.
        threads: CPU threads for torch; ``None`` leaves torch's setting.
        space: The search space the genomes come from, when a search runs (a table of its parts
            can be built for it); ``None`` otherwise.
        needs: The metrics the caller will read (a search: its reward's), so an evaluator may
            skip computing others it could provide (``zero-cost`` computes only the proxies
            needed); ``None``: everything it provides.
    """

    device: str = "cpu"
    seed: int = 0
    data: str | None = None
    budget: dict[str, Any] = field(default_factory=dict)
    report: Callable[[int, float], None] | None = None
    propagate: tuple[type[BaseException], ...] = (Pruned,)
    threads: int | None = None
    needs: frozenset[str] | None = None
    space: str | None = None
    _resolved: dict[type, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def torch_device(self) -> torch.device:
        """The resolved device."""
        return resolve_device(self.device)

    def settings(self, cls: type[S]) -> S:
        """The budget as settings class ``cls`` (its knobs typed and checked, defaults filled; memoised).

        Raises:
            UserInputError: a budget value the class's knobs do not accept (a CLI checks them all
                before the first trial, so a search never gets here with a bad value).
        """
        if cls not in self._resolved:
            self._resolved[cls] = resolve_settings(cls, self.budget)
        return self._resolved[cls]  # type: ignore[return-value]


@dataclass
class Metrics:
    """What evaluators found out about one candidate; ``None`` means not estimated.

    Attributes:
        accuracy: Validation accuracy estimate in [0, 1] (or a proxy score normalised to it).
        latency_ms: Inference latency, measured or predicted, batch 1 unless stated.
        train_step_ms: Time of one training step at the evaluator's batch and resolution.
        params: Parameters.
        macs: Multiply-accumulates at the genome's resolution.
        wall_s: Seconds the evaluators spent.
        failed: Whether an evaluator failed for this candidate.
        reason: One line naming the evaluator and what went wrong.
        extra: Further named values (zero-cost scores, latency spread, ...).
    """

    accuracy: float | None = None
    latency_ms: float | None = None
    train_step_ms: float | None = None
    params: int | None = None
    macs: int | None = None
    wall_s: float = 0.0
    failed: bool = False
    reason: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    #: The named estimates, in the order tables show them (``extra`` holds the others).
    ESTIMATES: ClassVar[tuple[str, ...]] = ("accuracy", "macs", "params", "latency_ms", "train_step_ms")

    def merge(self, other: Metrics) -> Metrics:
        """These metrics overlaid with ``other``'s estimated values; wall times add, failures join."""
        out = dataclasses.replace(self, extra={**self.extra, **other.extra})
        for name in self.ESTIMATES:
            if getattr(other, name) is not None:
                setattr(out, name, getattr(other, name))
        out.wall_s = self.wall_s + other.wall_s
        out.failed = self.failed or other.failed
        out.reason = "; ".join(r for r in (self.reason, other.reason) if r)
        return out

    def flat(self) -> dict[str, float]:
        """Every estimated value by name (``extra`` included) and ``wall_s``, numbers only (a trial's record)."""
        out = {name: float(getattr(self, name)) for name in self.ESTIMATES if getattr(self, name) is not None}
        out.update({k: float(v) for k, v in self.extra.items()})
        out["wall_s"] = float(self.wall_s)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready; non-finite floats become ``None``)."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v
        data = {k: clean(v) for k, v in dataclasses.asdict(self).items() if k != "extra"}
        data["extra"] = {k: clean(v) for k, v in self.extra.items()}
        return data


class Evaluator(ABC):
    """Estimates some metrics of a genome. Subclasses set ``name`` and implement :meth:`run`."""

    name: str = ""
    #: Its knobs: a settings class (:mod:`nas.settings`), or ``None`` for an evaluator without any.
    settings: ClassVar[type | None] = None
    #: Metric names it reports when it succeeds (``Metrics`` fields or ``extra`` keys); a search
    #: checks up front that its reward's needs are covered.
    provides: tuple[str, ...] = ()
    #: Whether ``--data`` names one of its tables rather than images (a tabular benchmark): its :meth:`check`
    #: validates the name, and no image dataset is opened for it.
    data_is_table: ClassVar[bool] = False
    #: The reward a search takes with this evaluator when ``--reward`` is not given (empty: the space's own),
    #: for an evaluator that cannot serve the space's default (``supernet`` scores accuracy, not step time).
    default_reward: ClassVar[str] = ""

    @abstractmethod
    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        """Evaluate ``genome``; may raise for this candidate (:func:`evaluate` records it)."""

    def check(self, ctx: RunContext) -> None:
        """Refuse, before any evaluation, what would make every candidate fail: the user's mistake, not a candidate's.

        The default resolves the evaluator's settings (their own cross-checks run); evaluators
        that read data or files check those too.

        Raises:
            UserInputError: one sentence naming the setting, the dataset or the file.
        """
        if self.settings is not None:
            ctx.settings(self.settings)

    def restrict(self, space: SearchSpace, ctx: RunContext) -> SearchSpace:
        """The part of ``space`` it can evaluate, for a search to propose from (called after :meth:`check`).

        The default is the whole space; a supernet holding weights for some ops only narrows the op choices,
        so that no trial is spent on a genome it would refuse.
        """
        return space

    def about(self, genome: Network, ctx: RunContext) -> dict[str, Any]:
        """What it knows of a search's found genome beyond its metrics (a tabular benchmark: the genome's row and
        its regret against the table's best), written into ``found.yaml`` and printed; empty for most evaluators."""
        return {}

    def __call__(self, genome: Network, ctx: RunContext | None = None) -> Metrics:
        """Run safely: see :func:`evaluate`."""
        return evaluate(genome, [self], ctx)


def _reason(name: str, err: BaseException) -> str:
    if isinstance(err, torch.OutOfMemoryError):
        return f"{name}: out of memory"
    text = first_line(err, type(err).__name__)
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" ({type(err).__name__} at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{name}: {text}{at}"


def evaluate(genome: Network, evaluators: Sequence[Evaluator], ctx: RunContext | None = None) -> Metrics:
    """Run ``evaluators`` in order on ``genome`` and merge their metrics.

    A failing evaluator adds ``failed=True`` and its one-line reason; the later ones still
    run (a latency measurement stays useful when training diverged). Exceptions in
    ``ctx.propagate`` are re-raised.
    """
    ctx = ctx or RunContext()
    total = Metrics()
    with fixed_threads(ctx.threads):  # the caller's setting comes back, whatever happens
        for evaluator in evaluators:
            start = time.perf_counter()
            try:
                part = evaluator.run(genome, ctx)
            except ctx.propagate:
                raise
            except Exception as err:  # noqa: BLE001  (any failure of one candidate is data, not a crash)
                part = Metrics(failed=True, reason=_reason(evaluator.name, err))
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            part.wall_s = time.perf_counter() - start
            total = total.merge(part)
    return total
