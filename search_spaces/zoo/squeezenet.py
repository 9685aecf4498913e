"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters and <0.5MB model size", table 1; 1.1 from the authors' SqueezeNet v1.1 release).

Exact to torchvision's ``squeezenet1_0`` / ``squeezenet1_1``: an unpadded stem conv with a
bias and no norm (7x7/2, 96 filters; 1.1: 3x3/2, 64), Fire modules with squeeze ratio 1/8
and half 3x3 expand filters, Caffe-style max poolings (3x3/2, unpadded, ``ceil_mode=True``;
1.1 pools earlier), and a classifier that is dropout 0.5, a 1x1 conv to the classes, ReLU
and global average pooling. No layer has a norm.

Family: SqueezeNet (no search space of ours; ``space=""``).
"""

from __future__ import annotations

from itertools import groupby

from search_spaces.genome import Head, Network, Quirks, Stage, Stem
from search_spaces.zoo import register

__all__ = ["SQUEEZENET1_0", "SQUEEZENET1_1", "squeezenet"]

PAPER = "Iandola et al. 2016, SqueezeNet"


def squeezenet(name: str, stem: Stem, groups: tuple[tuple[int, ...], ...]) -> Network:
    """A SqueezeNet genome: the stem, then groups of Fire output widths, each group after a ceil-mode max pool."""
    stages: list[Stage] = []
    width = stem.channels
    for widths in groups:
        stages.append(Stage("pool_ceil", depth=1, channels=width, stride=2, kernel=3))
        for width, run in groupby(widths):
            stages.append(Stage("fire", depth=len(list(run)), channels=width, bottleneck=8))
    head = Head(channels=0, dropout=0.5, conv_classifier=True)
    return Network(name=name, stem=stem, stages=tuple(stages), head=head, quirks=Quirks(channel_divisor=1))


SQUEEZENET1_0 = register(squeezenet(
    "squeezenet1_0", Stem(channels=96, kernel=7, stride=2, padding="valid", norm=False, bias=True),
    ((128, 128, 256), (256, 384, 384, 512), (512,)),
), reference="torchvision:squeezenet1_0", space="", paper=PAPER)

SQUEEZENET1_1 = register(squeezenet(
    "squeezenet1_1", Stem(channels=64, kernel=3, stride=2, padding="valid", norm=False, bias=True),
    ((128, 128), (256, 256), (384, 384, 512, 512)),
), reference="torchvision:squeezenet1_1", space="", paper=PAPER)
