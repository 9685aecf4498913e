"""Scoring a configuration from a trained supernet: export it, re-estimate BN statistics, validate.

Batch-norm running statistics accumulated while training many configurations fit none of them
(Yu et al. 2020, "BigNAS", sec. 3.4; Cai et al. 2020, "Once-for-All", sec. 3.3): each
configuration's are re-estimated on a fixed set of training images before it is validated on the
held-out images (the ``train`` evaluator's and more, from the same seeded split). The exported
network is the one a user gets (:meth:`Supernet.subnet`), so what is scored is what is exported.

Scoring runs in channels-last memory format: on a 2-core CPU a candidate of the default supernet took
0.50 s instead of 1.37 s in NCHW (median), with the same predictions (docs/BENCHMARKS.md,
"Weight-sharing supernet").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nas.supernet.model import Supernet
from nas.training.loop import accuracy, recalibrate_bn
from search_spaces import build
from search_spaces.genome import Network

__all__ = ["CALIBRATION_IMAGES", "EVAL_BATCH", "SubnetScorer", "calibrated_model", "exported_model", "subnet_accuracy"]

#: Images per forward pass when scoring: on a 2-core CPU at 28 px, 250 was 30% faster than 1,000 (the
#: activations of a larger batch leave the cache; docs/BENCHMARKS.md, "Weight-sharing supernet").
EVAL_BATCH = 250
#: Training images a configuration's batch-norm statistics are re-estimated on, wherever a supernet scores one
#: (:class:`SubnetScorer`, the ``supernet`` evaluator, ``python -m nas.supernet predictor``).
CALIBRATION_IMAGES = 500


@torch.no_grad()
def subnet_accuracy(supernet: Supernet, genome: Network, calibration: Sequence[tuple[torch.Tensor, Any]],
                    val_batches: Any) -> float:
    """Validation accuracy of configuration ``genome``: exported, BN statistics re-estimated on ``calibration``.

    Raises:
        UserInputError: if the supernet holds no weights for ``genome``.
    """
    return accuracy(calibrated_model(supernet, genome, calibration), val_batches, channels_last=True)


@torch.no_grad()
def calibrated_model(supernet: Supernet, genome: Network,
                     calibration: Sequence[tuple[torch.Tensor, Any]]) -> torch.nn.Module:
    """Configuration ``genome`` exported (channels-last, on the supernet's device), BN statistics re-estimated.

    Raises:
        UserInputError: if the supernet holds no weights for ``genome``.
    """
    proxy, state = supernet.subnet(genome)
    model = exported_model(proxy, state, next(supernet.parameters()).device)
    recalibrate_bn(model, calibration, len(calibration), channels_last=True)
    return model


def exported_model(proxy: Network, state: dict[str, torch.Tensor], device: torch.device | str,
                   channels_last: bool = True) -> torch.nn.Module:
    """``build(proxy)`` holding the exported tensors themselves (built on the meta device: no copy, no init),
    on ``device``, channels-last unless told otherwise (the scoring format, see the module's text)."""
    with torch.device("meta"):
        model = build(proxy)
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)


class SubnetScorer:
    """Scores configurations of one trained supernet on its own data split (loaded once, reused).

    Args:
        directory: What ``python -m nas.supernet train --out`` wrote.
        calibration_images: Training images the BN statistics are re-estimated on (the same ones
            for every configuration).
        val_images: Held-out images validated on (0: all of the supernet's held-out split).
        device: Where to score.
        data: ``--data`` of the caller; must name the supernet's dataset when given.

    Raises:
        UserInputError: no trained supernet in ``directory``; ``data`` differs from its dataset.
    """

    def __init__(self, directory: str | Path, calibration_images: int = CALIBRATION_IMAGES, val_images: int = 0,
                 device: torch.device | str = "cpu", data: str | None = None) -> None:
        from nas.data import DataConfig, loaders
        from nas.supernet.train import load_supernet
        from search_spaces.errors import UserInputError

        self.supernet = load_supernet(directory, device)
        training = self.supernet.meta["training"]  # type: ignore[attr-defined]
        if data is not None and data != training["data"]:
            from nas.data import open_dataset

            if open_dataset(data).name != open_dataset(training["data"]).name:
                raise UserInputError(f"--data {data!r}: the supernet in {directory} was trained on "
                                     f"{open_dataset(training['data']).name}; score it on that dataset")
        config = DataConfig(source=training["data"], resolution=training["resolution"],
                            channels=self.supernet.config.in_channels, batch_size=calibration_images,
                            val_size=training["val_size"], seed=training["seed"], eval_batch_size=EVAL_BATCH)
        train, val, _ = loaders(config, device)
        x, y = next(iter(train))  # the first shuffled pass: the same images every time
        self.calibration = [(_nhwc(x[i:i + EVAL_BATCH]), y[i:i + EVAL_BATCH]) for i in range(0, len(y), EVAL_BATCH)]
        self.val = [(_nhwc(vx), vy) for vx, vy in val]  # converted once: every configuration reads the same tensors
        if val_images:
            self.val = _first(self.val, val_images)
        self.val_images = sum(len(vy) for _, vy in self.val)

    def accuracy(self, genome: Network) -> float:
        """Held-out accuracy of configuration ``genome`` (BN statistics re-estimated first)."""
        return subnet_accuracy(self.supernet, genome, self.calibration, self.val)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _first(batches: list[tuple[torch.Tensor, torch.Tensor]], n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out, left = [], n
    for x, y in batches:
        if left <= 0:
            break
        out.append((x[:left], y[:left]))
        left -= len(y)
    return out
