"""EfficientNetV2-S/M/L (Tan & Le 2021, "EfficientNetV2: Smaller Models and Faster Training").

Stage tables of the official ``effnetv2_configs.py`` (paper table 4 for S); exact to
timm's ``tf_efficientnetv2_s/m/l``. Fused-MBConv in the early stages (the first with
expansion 1: a single 3x3 conv with a shortcut), no SE in fused stages, channel rounding
without the 90% guard, BN eps 1e-3 and momentum 0.1 (TF decay 0.9), TF "same" padding.
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem
from search_spaces.zoo import register

__all__ = ["EFFICIENTNETV2_L", "EFFICIENTNETV2_M", "EFFICIENTNETV2_S", "LAYOUT", "MODELS"]

_V2 = dict(act="silu", drop_path=0.2, norm=Norm(eps=1e-3, momentum=0.1), quirks=Quirks(padding="same", round_limit=0.0))
_PAPER = "Tan & Le 2021, EfficientNetV2"

#: The stage layout all three official configs share: (block, stride, expand, se) per stage, every
#: kernel 3x3. V2-S has the first six stages; V2-M and V2-L add the seventh.
LAYOUT: tuple[tuple[str, int, float, float], ...] = (
    ("fused", 1, 1.0, 0.0),
    ("fused", 2, 4.0, 0.0),
    ("fused", 2, 4.0, 0.0),
    ("mbconv", 2, 4.0, 0.25),
    ("mbconv", 1, 6.0, 0.25),
    ("mbconv", 2, 6.0, 0.25),
    ("mbconv", 1, 6.0, 0.25),
)

#: name -> (stem width, depth per stage, width per stage, resolution, dropout) of ``effnetv2_configs.py``.
MODELS: dict[str, tuple[int, tuple[int, ...], tuple[int, ...], int, float]] = {
    "efficientnetv2_s": (24, (2, 4, 4, 6, 9, 15), (24, 48, 64, 128, 160, 256), 384, 0.2),
    "efficientnetv2_m": (24, (3, 5, 5, 7, 14, 18, 5), (24, 48, 80, 160, 176, 304, 512), 480, 0.3),
    "efficientnetv2_l": (32, (4, 7, 7, 10, 19, 25, 7), (32, 64, 96, 192, 224, 384, 640), 480, 0.4),
}


def _v2(name: str) -> Network:
    """One V2 model: its depths and widths over the shared :data:`LAYOUT`."""
    stem, depths, widths, resolution, dropout = MODELS[name]
    stages = tuple(Stage(block, depth=d, channels=c, stride=s, kernel=3, expand=e, se=se)
                   for (block, s, e, se), d, c in zip(LAYOUT, depths, widths))
    return Network(name=name, stem=Stem(channels=stem), stages=stages, head=Head(channels=1280, dropout=dropout),
                   resolution=resolution, **_V2)


EFFICIENTNETV2_S, EFFICIENTNETV2_M, EFFICIENTNETV2_L = (
    register(_v2(name), reference=f"timm:tf_{name}", space="fused", paper=_PAPER) for name in MODELS)
