"""``supernet``: accuracy inherited from a trained weight-sharing supernet, no training per candidate.

``--set supernet=DIR`` names what ``python -m nas.supernet train --out DIR`` wrote. Each
candidate is exported from the supernet (:meth:`nas.supernet.Supernet.subnet`), its batch-norm
statistics re-estimated on ``supernet_calibration`` fixed training images, then validated on
``supernet_val`` of the supernet's held-out images: by default the first 2,000, which are the
``train`` evaluator's held-out images, scored in about half a second per candidate at the proxy
resolution on a 2-core CPU. ``supernet_val=0`` scores on the whole split (5,000 by default):
a score then has 0.28 points of image-sampling noise instead of 0.44, for twice the time; the
accuracy predictor is fitted on such scores (docs/BENCHMARKS.md). A genome the supernet holds no weights
for fails with one sentence naming the stage and field.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nas.evaluators.base import Evaluator, Metrics, RunContext
from nas.evaluators.train import VAL_SIZE
from nas.settings import knob
from nas.supernet.score import CALIBRATION_IMAGES
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.spaces import SearchSpace

if TYPE_CHECKING:
    from nas.supernet.space import Coverage

__all__ = ["SupernetBacked", "SupernetEvaluator", "SupernetSettings", "scorer"]

_SCORERS: dict[tuple[Any, ...], Any] = {}


@dataclass(frozen=True)
class SupernetSettings:
    """Knobs of the ``supernet`` evaluator."""

    supernet: str = knob("", "directory of a trained supernet (python -m nas.supernet train --out DIR)")
    supernet_calibration: int = knob(CALIBRATION_IMAGES,
                                     "training images the batch-norm statistics are re-estimated on",
                                     low=1, high=100_000)
    supernet_val: int = knob(VAL_SIZE, "held-out images validated on: the first N of the supernet's split "
                                        f"({VAL_SIZE:,}: the train evaluator's held-out images; 0: the whole split, "
                                        "less noise, more time)", low=0, high=10_000_000)
    supernet_steady_allocator: bool = knob(True, "keep freed memory in this process instead of page-faulting "
                                                 "every batch's activations in again (glibc; process-wide and "
                                                 "permanent): 0.74 s per candidate instead of 1.01 s on 2 cores")


def scorer(ctx: RunContext) -> Any:
    """The :class:`~nas.supernet.score.SubnetScorer` of the run's settings (loaded once per process).

    Raises:
        UserInputError: no ``supernet`` setting, or no trained supernet there.
    """
    from nas.supernet.score import SubnetScorer

    s = ctx.settings(SupernetSettings)
    if not s.supernet:
        raise UserInputError("the supernet evaluator needs --set supernet=DIR, the directory python -m nas.supernet "
                             "train --out DIR wrote")
    directory = Path(s.supernet).expanduser().resolve()
    weights = directory / "supernet.safetensors"
    stamp = weights.stat().st_mtime_ns if weights.exists() else 0
    key = (str(directory), stamp, s.supernet_calibration, s.supernet_val, str(ctx.torch_device()), ctx.data)
    if s.supernet_steady_allocator:
        from nas.latency.measure import steady_allocator

        steady_allocator()  # idempotent; scoring allocates the same large activations for every candidate
    if key not in _SCORERS:
        _SCORERS.clear()  # one supernet in memory at a time
        _SCORERS[key] = SubnetScorer(directory, s.supernet_calibration, s.supernet_val, ctx.torch_device(), ctx.data)
    return _SCORERS[key]


class SupernetBacked(Evaluator):
    """An evaluator answering from a supernet's files: ``mbconv`` genomes only, its files loaded before any trial.

    Subclasses say what they do with a genome (``doing``, for the refusal of another space) and load
    their files in :meth:`load` (memoised per process).
    """

    provides = ("accuracy",)
    default_reward = "flops"  # accuracy is all it scores; the MACs come free from cost
    doing: ClassVar[str] = "scores"

    @abstractmethod
    def load(self, ctx: RunContext) -> Any:
        """What it answers from (loaded once per process); raises :class:`UserInputError` if it cannot."""

    @abstractmethod
    def coverage(self, ctx: RunContext) -> Coverage:
        """Which configurations the loaded files answer for."""

    def restrict(self, space: SearchSpace, ctx: RunContext) -> SearchSpace:
        """Only the ops the supernet holds weights for: a search proposes no genome it would refuse."""
        return space.restrict(self.coverage(ctx).restriction())

    def check(self, ctx: RunContext) -> None:
        """Refuse a space the supernet does not hold and missing or unreadable files, before any trial."""
        from nas.supernet.space import SUPERNET_SPACE

        super().check(ctx)
        if ctx.space is not None and ctx.space != SUPERNET_SPACE:
            raise UserInputError(f"the {self.name} evaluator {self.doing} {SUPERNET_SPACE} networks; the search's "
                                 f"space is {ctx.space}")
        self.load(ctx)


class SupernetEvaluator(SupernetBacked):
    """Validation accuracy of a configuration with the supernet's weights (BN statistics re-estimated)."""

    name = "supernet"
    settings = SupernetSettings

    def load(self, ctx: RunContext) -> Any:
        return scorer(ctx)

    def coverage(self, ctx: RunContext) -> Coverage:
        return scorer(ctx).supernet.coverage

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        score = scorer(ctx)
        return Metrics(accuracy=score.accuracy(genome), extra={"supernet_val_images": float(score.val_images)})
