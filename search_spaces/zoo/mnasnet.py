"""MnasNet-A1 (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture Search for Mobile", fig. 7).

Exact to timm's ``mnasnet_a1`` (port of the official TPU code): ReLU, PyTorch BN defaults,
symmetric padding, a SepConv first block without shortcut, SE (over a quarter of the block
input width, ReLU inside, sigmoid gate) in three stages.
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Stage, Stem
from search_spaces.zoo import register

__all__ = ["MNASNET_A1"]

MNASNET_A1 = register(Network(
    name="mnasnet_a1",
    stem=Stem(channels=32),
    stages=(
        Stage("ds", depth=1, channels=16, stride=1, kernel=3, skip=False),
        Stage("mbconv", depth=2, channels=24, stride=2, kernel=3, expand=6),
        Stage("mbconv", depth=3, channels=40, stride=2, kernel=5, expand=3, se=0.25),
        Stage("mbconv", depth=4, channels=80, stride=2, kernel=3, expand=6),
        Stage("mbconv", depth=2, channels=112, stride=1, kernel=3, expand=6, se=0.25),
        Stage("mbconv", depth=3, channels=160, stride=2, kernel=5, expand=6, se=0.25),
        Stage("mbconv", depth=1, channels=320, stride=1, kernel=3, expand=6),
    ),
    head=Head(channels=1280, dropout=0.2),
    act="relu",
), reference="timm:mnasnet_a1", space="mbconv", paper="Tan et al. 2019, MnasNet")
