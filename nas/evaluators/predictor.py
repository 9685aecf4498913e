"""``predictor``: accuracy predicted from a configuration's encoding by a small MLP, in well under a millisecond.

``--set predictor=FILE`` names what ``python -m nas.supernet predictor --supernet DIR --out FILE``
wrote: an accuracy predictor fitted on configurations scored by a trained supernet
(:mod:`nas.supernet.predictor`; Cai et al. 2020, "Once-for-All", sec. 3.4). A candidate is
encoded (its per-stage choices, one-hot) and answered by one forward pass of the MLP, so a
search of thousands of candidates takes seconds; the predicted accuracy is clipped to
[0, 1]. The file is loaded once per process (again when it changes). A genome the
supernet holds no weights for fails with one sentence naming the stage and field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.evaluators.base import Metrics, RunContext
from nas.evaluators.supernet import SupernetBacked
from nas.settings import knob
from search_spaces.errors import UserInputError
from search_spaces.genome import Network

if TYPE_CHECKING:
    from nas.supernet.space import Coverage

__all__ = ["PredictorEvaluator", "PredictorSettings", "accuracy_predictor"]

#: (absolute path, modification time, size) -> loaded predictor; one file in memory at a time.
_LOADED: dict[tuple[str, int, int], Any] = {}


@dataclass(frozen=True)
class PredictorSettings:
    """Knobs of the ``predictor`` evaluator."""

    predictor: str = knob("", "file of an accuracy predictor (python -m nas.supernet predictor --supernet DIR --out "
                              "FILE)")


def accuracy_predictor(ctx: RunContext) -> Any:
    """The :class:`~nas.supernet.predictor.AccuracyPredictor` of the run's ``predictor`` setting (loaded once).

    Raises:
        UserInputError: no ``predictor`` setting, or no readable predictor file there.
    """
    from nas.supernet.predictor import AccuracyPredictor

    path = ctx.settings(PredictorSettings).predictor
    if not path:
        raise UserInputError("the predictor evaluator needs --set predictor=FILE, the file python -m nas.supernet "
                             "predictor --out FILE wrote")
    where = os.path.abspath(os.path.expanduser(path))
    try:
        stat = os.stat(where)
    except OSError:
        stat = None
    key = (where, stat.st_mtime_ns, stat.st_size) if stat is not None else (where, 0, 0)
    if key not in _LOADED:
        predictor = AccuracyPredictor.load(where)  # refuses a missing, foreign or other-encoding file
        _LOADED.clear()
        _LOADED[key] = predictor
    return _LOADED[key]


class PredictorEvaluator(SupernetBacked):
    """Accuracy of a configuration as an accuracy predictor foresees it."""

    name = "predictor"
    settings = PredictorSettings
    doing = "predicts the accuracy of"

    def load(self, ctx: RunContext) -> Any:
        return accuracy_predictor(ctx)

    def coverage(self, ctx: RunContext) -> Coverage:
        return accuracy_predictor(ctx).encoding.coverage

    def run(self, genome: Network, ctx: RunContext) -> Metrics:
        predicted = float(accuracy_predictor(ctx).predict_genomes([genome])[0])
        return Metrics(accuracy=min(1.0, max(0.0, predicted)))  # an accuracy; the MLP's output is unbounded
