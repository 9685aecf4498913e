"""GoogLeNet (Szegedy et al. 2015, table 1) and Inception v3 (Szegedy et al. 2016, table 1).

Exact to torchvision's ``googlenet`` and ``inception_v3`` built without their auxiliary
classifiers (``aux_logits=False``; see :mod:`search_spaces.reference`). Every conv is a
``BasicConv2d`` (no bias, BatchNorm with eps 1e-3, ReLU); the Inception modules are stages
of the block types in :mod:`search_spaces.blocks.inception`, whose ``branches`` are the
tables' columns. torchvision's ``transform_input`` rescales the input only; it has no
parameters. Neither family is a point of one of our search spaces (``space=""``).

GoogLeNet: 7x7/2 stem, ceil-mode 3x3/2 max pool, 1x1 and 3x3 convs, max pool, inception
3a-3b, max pool, 4a-4e, 2x2/2 max pool, 5a-5b, average pool, dropout 0.2, classifier.
torchvision's "5x5" branch is a 3x3 conv (pytorch/vision#906), so its stages keep kernel 3.

Inception v3 (299 px): unpadded 3x3/2, 3x3 and padded 3x3 convs, 3x3/2 max pool, 1x1 and
unpadded 3x3 convs, max pool; Mixed_5b-5d (``inception_a``), 6a (``inception_b``), 6b-6e
(``inception_c``), 7a (``inception_d``), 7b-7c (``inception_e``); pool, dropout 0.5,
classifier. Its smallest input is 75 px (every unpadded stride leaves at least one pixel).
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Norm, Stage, Stem
from search_spaces.zoo import register

__all__ = ["GOOGLENET", "INCEPTION_V3"]

_NORM = Norm(eps=1e-3)


def _v1(channels: int, *widths: int) -> Stage:
    """An ``inception_v1`` stage from table 1's columns (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)."""
    return Stage("inception_v1", depth=1, channels=channels, branches=widths)


def _pool(kernel: int = 3) -> Stage:
    return Stage("pool_ceil", depth=1, channels=1, stride=2, kernel=kernel)


GOOGLENET = register(Network(
    name="googlenet",
    stem=Stem(channels=64, kernel=7, stride=2),
    stages=(
        _pool(),
        Stage("inception_conv", depth=1, channels=64, kernel=1),
        Stage("inception_conv", depth=1, channels=192, kernel=3),
        _pool(),
        _v1(256, 64, 96, 128, 16, 32, 32),  # 3a
        _v1(480, 128, 128, 192, 32, 96, 64),  # 3b
        _pool(),
        _v1(512, 192, 96, 208, 16, 48, 64),  # 4a
        _v1(512, 160, 112, 224, 24, 64, 64),  # 4b
        _v1(512, 128, 128, 256, 24, 64, 64),  # 4c
        _v1(528, 112, 144, 288, 32, 64, 64),  # 4d
        _v1(832, 256, 160, 320, 32, 128, 128),  # 4e
        _pool(kernel=2),
        _v1(832, 256, 160, 320, 32, 128, 128),  # 5a
        _v1(1024, 384, 192, 384, 48, 128, 128),  # 5b
    ),
    head=Head(channels=0, dropout=0.2),
    norm=_NORM,
), reference="torchvision:googlenet", space="", paper="Szegedy et al. 2015, Going Deeper with Convolutions")


def _a(channels: int, pool: int) -> Stage:
    return Stage("inception_a", depth=1, channels=channels, branches=(64, 48, 64, 64, 96, 96, pool))


def _c(c7: int) -> Stage:
    return Stage("inception_c", depth=1, channels=768, branches=(192, c7, c7, 192, c7, c7, c7, c7, 192, 192))


INCEPTION_V3 = register(Network(
    name="inception_v3",
    stem=Stem(channels=32, kernel=3, stride=2, padding="valid"),
    stages=(
        Stage("inception_conv_valid", depth=1, channels=32, kernel=3),
        Stage("inception_conv", depth=1, channels=64, kernel=3),
        Stage("inception_pool", depth=1, channels=1, stride=2, kernel=3),
        Stage("inception_conv", depth=1, channels=80, kernel=1),
        Stage("inception_conv_valid", depth=1, channels=192, kernel=3),
        Stage("inception_pool", depth=1, channels=1, stride=2, kernel=3),
        _a(256, 32), _a(288, 64), _a(288, 64),  # Mixed_5b-5d
        Stage("inception_b", depth=1, channels=768, stride=2, branches=(384, 64, 96, 96)),  # Mixed_6a
        _c(128), _c(160), _c(160), _c(192),  # Mixed_6b-6e
        Stage("inception_d", depth=1, channels=1280, stride=2, branches=(192, 320, 192, 192, 192, 192)),  # Mixed_7a
        Stage("inception_e", depth=1, channels=2048, branches=(320, 384, 384, 448, 384, 384, 192)),  # Mixed_7b
        Stage("inception_e", depth=1, channels=2048, branches=(320, 384, 384, 448, 384, 384, 192)),  # Mixed_7c
    ),
    head=Head(channels=0, dropout=0.5),
    resolution=299,
    norm=_NORM,
), reference="torchvision:inception_v3", space="",
    paper="Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision")
