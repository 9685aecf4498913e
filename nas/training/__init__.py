"""Training: the one loop (:mod:`nas.training.loop`) and progressive learning (:mod:`nas.training.progressive`)."""

from __future__ import annotations

from nas.training.progressive import (PRESETS, SIZE_RULES, ProgressiveSchedule, StageAugmentations, StageSettings,
                                      augmentations, fixres_resolution)

__all__ = ["PRESETS", "SIZE_RULES", "ProgressiveSchedule", "StageAugmentations", "StageSettings", "augmentations",
           "fixres_resolution"]
