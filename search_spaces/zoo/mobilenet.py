"""MobileNetV2 (Sandler et al. 2018, table 2) and MobileNetV3-Large/Small (Howard et al. 2019, tables 1-2).

Exact to torchvision's ``mobilenet_v2``, ``mobilenet_v3_large`` and ``mobilenet_v3_small``.
MobileNetV3 lists each block's expanded width explicitly (``mid_channels``), mixes ReLU and
hard-swish per block, squeezes SE to ``make_divisible(expanded / 4, 8)`` with ReLU inside and
a hard-sigmoid gate, and ends with a 1x1 conv, pooling, and a hidden linear layer.
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem
from search_spaces.zoo import register

__all__ = ["MOBILENET_V2", "MOBILENET_V3_LARGE", "MOBILENET_V3_SMALL"]

MOBILENET_V2 = register(Network(
    name="mobilenet_v2",
    stem=Stem(channels=32),
    stages=(
        Stage("mbconv", depth=1, channels=16, stride=1, expand=1),
        Stage("mbconv", depth=2, channels=24, stride=2, expand=6),
        Stage("mbconv", depth=3, channels=32, stride=2, expand=6),
        Stage("mbconv", depth=4, channels=64, stride=2, expand=6),
        Stage("mbconv", depth=3, channels=96, stride=1, expand=6),
        Stage("mbconv", depth=3, channels=160, stride=2, expand=6),
        Stage("mbconv", depth=1, channels=320, stride=1, expand=6),
    ),
    head=Head(channels=1280, dropout=0.2),
    act="relu6",
), reference="torchvision:mobilenet_v2", space="mbconv", paper="Sandler et al. 2018, MobileNetV2")

_V3 = dict(act="hard_swish", norm=Norm(eps=1e-3, momentum=0.01),
           quirks=Quirks(se_base="mid", se_divisor=8, se_act="relu", se_gate="hard_sigmoid"))
_V3_PAPER = "Howard et al. 2019, Searching for MobileNetV3"


def _v3(name: str, rows: tuple[tuple[int, int, int, int, bool, str, int], ...], head: Head) -> Network:
    """A MobileNetV3 from rows of (depth, kernel, expanded, out, SE, act, stride), as the paper's tables."""
    stages = tuple(Stage("mbconv", depth=d, channels=c, stride=s, kernel=k, mid_channels=m, se=0.25 if se else 0.0,
                         act=act) for d, k, m, c, se, act, s in rows)
    return Network(name=name, stem=Stem(channels=16), stages=stages, head=head, **_V3)


MOBILENET_V3_LARGE = register(_v3("mobilenet_v3_large", (
    (1, 3, 16, 16, False, "relu", 1),
    (1, 3, 64, 24, False, "relu", 2),
    (1, 3, 72, 24, False, "relu", 1),
    (1, 5, 72, 40, True, "relu", 2),
    (2, 5, 120, 40, True, "relu", 1),
    (1, 3, 240, 80, False, "hard_swish", 2),
    (1, 3, 200, 80, False, "hard_swish", 1),
    (2, 3, 184, 80, False, "hard_swish", 1),
    (1, 3, 480, 112, True, "hard_swish", 1),
    (1, 3, 672, 112, True, "hard_swish", 1),
    (1, 5, 672, 160, True, "hard_swish", 2),
    (2, 5, 960, 160, True, "hard_swish", 1),
), Head(channels=960, hidden=1280, dropout=0.2)), reference="torchvision:mobilenet_v3_large", space="mbconv",
    paper=_V3_PAPER)

MOBILENET_V3_SMALL = register(_v3("mobilenet_v3_small", (
    (1, 3, 16, 16, True, "relu", 2),
    (1, 3, 72, 24, False, "relu", 2),
    (1, 3, 88, 24, False, "relu", 1),
    (1, 5, 96, 40, True, "hard_swish", 2),
    (2, 5, 240, 40, True, "hard_swish", 1),
    (1, 5, 120, 48, True, "hard_swish", 1),
    (1, 5, 144, 48, True, "hard_swish", 1),
    (1, 5, 288, 96, True, "hard_swish", 2),
    (2, 5, 576, 96, True, "hard_swish", 1),
), Head(channels=576, hidden=1024, dropout=0.2)), reference="torchvision:mobilenet_v3_small", space="mbconv",
    paper=_V3_PAPER)
