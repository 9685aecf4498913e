"""EfficientNetV2-S/M/L (Tan & Le 2021, "EfficientNetV2: Smaller Models and Faster Training").

Stage tables of the official ``effnetv2_configs.py`` (paper table 4 for S); exact to
timm's ``tf_efficientnetv2_s/m/l``. Fused-MBConv in the early stages (the first with
expansion 1: a single 3x3 conv with a shortcut), no SE in fused stages, channel rounding
without the 90% guard, BN eps 1e-3 and momentum 0.1 (TF decay 0.9), TF "same" padding.
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem
from search_spaces.zoo import register

__all__ = ["EFFICIENTNETV2_L", "EFFICIENTNETV2_M", "EFFICIENTNETV2_S"]

_V2 = dict(act="silu", drop_path=0.2, norm=Norm(eps=1e-3, momentum=0.1), quirks=Quirks(padding="same", round_limit=0.0))
_PAPER = "Tan & Le 2021, EfficientNetV2"


def _v2(name: str, stem: int, rows: tuple[tuple[str, int, int, int, float, float], ...], resolution: int,
        dropout: float) -> Network:
    """One V2 model from rows of (block, depth, channels, stride, expand, se), all 3x3."""
    stages = tuple(Stage(b, depth=d, channels=c, stride=s, kernel=3, expand=e, se=se) for b, d, c, s, e, se in rows)
    return Network(name=name, stem=Stem(channels=stem), stages=stages, head=Head(channels=1280, dropout=dropout),
                   resolution=resolution, **_V2)


EFFICIENTNETV2_S = register(_v2("efficientnetv2_s", 24, (
    ("fused", 2, 24, 1, 1, 0),
    ("fused", 4, 48, 2, 4, 0),
    ("fused", 4, 64, 2, 4, 0),
    ("mbconv", 6, 128, 2, 4, 0.25),
    ("mbconv", 9, 160, 1, 6, 0.25),
    ("mbconv", 15, 256, 2, 6, 0.25),
), resolution=384, dropout=0.2), reference="timm:tf_efficientnetv2_s", space="fused", paper=_PAPER)

EFFICIENTNETV2_M = register(_v2("efficientnetv2_m", 24, (
    ("fused", 3, 24, 1, 1, 0),
    ("fused", 5, 48, 2, 4, 0),
    ("fused", 5, 80, 2, 4, 0),
    ("mbconv", 7, 160, 2, 4, 0.25),
    ("mbconv", 14, 176, 1, 6, 0.25),
    ("mbconv", 18, 304, 2, 6, 0.25),
    ("mbconv", 5, 512, 1, 6, 0.25),
), resolution=480, dropout=0.3), reference="timm:tf_efficientnetv2_m", space="fused", paper=_PAPER)

EFFICIENTNETV2_L = register(_v2("efficientnetv2_l", 32, (
    ("fused", 4, 32, 1, 1, 0),
    ("fused", 7, 64, 2, 4, 0),
    ("fused", 7, 96, 2, 4, 0),
    ("mbconv", 10, 192, 2, 4, 0.25),
    ("mbconv", 19, 224, 1, 6, 0.25),
    ("mbconv", 25, 384, 2, 6, 0.25),
    ("mbconv", 7, 640, 1, 6, 0.25),
), resolution=480, dropout=0.4), reference="timm:tf_efficientnetv2_l", space="fused", paper=_PAPER)
