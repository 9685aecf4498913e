"""VAN-B0..B3 (Guo et al. 2022, "Visual Attention Network", arXiv:2202.09741, table 2).

Four stages of widths C1..C4, depths L1..L4 and MLP ratios 8, 8, 4, 4; each stage opens
with an overlapping patch embedding (7x7 stride 4 for the first, which is the genome's
stem; 3x3 stride 2 after) and closes with a LayerNorm; then global average pooling and the
classifier. Table 2 / the official ``van_b*`` (``van_tiny/small/base/large``) definitions:

======  ==================  ============  ======================
model   widths              depths        published (params, FLOPs)
======  ==================  ============  ======================
VAN-B0  32, 64, 160, 256    3, 3, 5, 2    4.1M, 0.9G
VAN-B1  64, 128, 320, 512   2, 2, 4, 2    13.9M, 2.5G
VAN-B2  64, 128, 320, 512   3, 3, 12, 3   26.6M, 5.0G
VAN-B3  64, 128, 320, 512   3, 5, 27, 3   44.8M, 9.0G
======  ==================  ============  ======================

The published figures are the paper's ImageNet-1K comparison (params in M, "FLOPs" in G
that count multiply-accumulates, at 224 px), as the official repository's README
(github.com/Visual-Attention-Network/VAN-Classification, "VAN Models") prints them. No
reference implementation is installed, so the zoo test checks these figures instead.
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Stage, Stem
from search_spaces.zoo import register

__all__ = ["VAN_B0", "VAN_B1", "VAN_B2", "VAN_B3", "van"]

PAPER = "Guo et al. 2022, Visual Attention Network"
MLP_RATIOS = (8, 8, 4, 4)


def van(name: str, widths: tuple[int, int, int, int], depths: tuple[int, int, int, int]) -> Network:
    """A VAN with per-stage ``widths`` and ``depths`` (MLP ratios 8, 8, 4, 4)."""
    stages: list[Stage] = []
    for i, (width, depth, ratio) in enumerate(zip(widths, depths, MLP_RATIOS)):
        if i:
            stages.append(Stage("van_embed", depth=1, channels=width, stride=2, kernel=3))
        stages.append(Stage("van", depth=depth, channels=width, expand=ratio))
        stages.append(Stage("van_norm", depth=1, channels=width))
    return Network(
        name=name,
        stem=Stem(channels=widths[0], kernel=7, stride=4, bias=True, act="identity"),
        stages=tuple(stages),
        head=Head(channels=0),
        act="gelu",
    )


#: (name, widths, depths, published (params, MACs)).
_VARIANTS = (
    ("van_b0", (32, 64, 160, 256), (3, 3, 5, 2), (4.1e6, 0.9e9)),
    ("van_b1", (64, 128, 320, 512), (2, 2, 4, 2), (13.9e6, 2.5e9)),
    ("van_b2", (64, 128, 320, 512), (3, 3, 12, 3), (26.6e6, 5.0e9)),
    ("van_b3", (64, 128, 320, 512), (3, 5, 27, 3), (44.8e6, 9.0e9)),
)

VAN_B0, VAN_B1, VAN_B2, VAN_B3 = (
    register(van(name, widths, depths), reference="", space="", paper=PAPER, published=published)
    for name, widths, depths, published in _VARIANTS
)
