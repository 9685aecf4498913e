"""EfficientNet-B0..B7 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for CNNs").

B0 is the MnasNet-style search result (paper table 1); B1..B7 are B0 with the official
coefficient table of ``efficientnet_builder.py`` (width, depth, resolution, dropout).
Exact to timm's ``tf_efficientnet_b*`` (ports of the official TensorFlow code): TF "same"
padding, BN eps 1e-3, momentum 0.01 (TF decay 0.99), channels rounded to multiples of 8
with the 90% guard, depth ``ceil``-ed, SE over a quarter of each block's input width.
"""

from __future__ import annotations

from dataclasses import replace

from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem
from search_spaces.zoo import register

__all__ = ["COEFFICIENTS", "EFFICIENTNET_B0", "PAPER_FIGURES"]

EFFICIENTNET_B0 = Network(
    name="efficientnet_b0",
    stem=Stem(channels=32),
    stages=(
        Stage("ds", depth=1, channels=16, stride=1, kernel=3, se=0.25),
        Stage("mbconv", depth=2, channels=24, stride=2, kernel=3, expand=6, se=0.25),
        Stage("mbconv", depth=2, channels=40, stride=2, kernel=5, expand=6, se=0.25),
        Stage("mbconv", depth=3, channels=80, stride=2, kernel=3, expand=6, se=0.25),
        Stage("mbconv", depth=3, channels=112, stride=1, kernel=5, expand=6, se=0.25),
        Stage("mbconv", depth=4, channels=192, stride=2, kernel=5, expand=6, se=0.25),
        Stage("mbconv", depth=1, channels=320, stride=1, kernel=3, expand=6, se=0.25),
    ),
    head=Head(channels=1280, dropout=0.2),
    resolution=224,
    act="swish",
    drop_path=0.2,
    norm=Norm(eps=1e-3, momentum=0.01),
    quirks=Quirks(padding="same", round_limit=0.9),
)

#: Official table: name -> (width_mult, depth_mult, resolution, dropout).
COEFFICIENTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}

#: The paper's table 2: name -> (params, FLOPs) as printed (FLOPs there are multiply-adds).
#: They are rounded, and B4/B5's FLOPs are 4-5% below what the official models count
#: (4.39G and 10.27G); the reference implementation is what the zoo equals exactly.
PAPER_FIGURES: dict[str, tuple[float, float]] = {
    "efficientnet_b0": (5.3e6, 0.39e9),
    "efficientnet_b1": (7.8e6, 0.70e9),
    "efficientnet_b2": (9.2e6, 1.0e9),
    "efficientnet_b3": (12e6, 1.8e9),
    "efficientnet_b4": (19e6, 4.2e9),
    "efficientnet_b5": (30e6, 9.9e9),
    "efficientnet_b6": (43e6, 19e9),
    "efficientnet_b7": (66e6, 37e9),
}

for _name, (_w, _d, _r, _drop) in COEFFICIENTS.items():
    register(
        replace(EFFICIENTNET_B0, name=_name, width_mult=_w, depth_mult=_d, resolution=_r,
                head=replace(EFFICIENTNET_B0.head, dropout=_drop)),
        reference=f"timm:tf_{_name}", space="mbconv", paper="Tan & Le 2019, EfficientNet",
        published=PAPER_FIGURES[_name],
    )
