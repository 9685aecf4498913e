"""MobileNet v1 (Howard et al. 2017, "MobileNets", table 1), exact to timm's ``mobilenetv1_100``.

A ``3x3/2`` conv with 32 channels, then thirteen depthwise-separable blocks (``ds``: depthwise
3x3 -> BN -> act -> pointwise 1x1 -> BN -> act, no shortcut), global average pooling and a
linear classifier: the paper's table 1 layout. Two details follow the reference code rather
than the paper's text, as timm does (``_gen_mobilenet_v1``, arch ``dsa_r1_k3_s1_c64`` ...):

- the activation is ReLU6, as TF-slim's ``mobilenet_v1.py`` that the released checkpoints
  come from (the paper says "ReLU");
- the thirteenth block has stride 1: table 1 prints "Conv dw / s2" on a 7x7 input that stays
  7x7, a typo every implementation reads as stride 1.

timm's BN uses PyTorch's defaults (eps 1e-5, momentum 0.1) and no dropout. A point of the
``mbconv`` space: every stage is its depthwise-separable conv op with no skip.
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Stage, Stem
from search_spaces.zoo import register

__all__ = ["MOBILENET_V1"]


def _ds(depth: int, channels: int, stride: int) -> Stage:
    """``depth`` depthwise-separable blocks (activation after the pointwise conv, no shortcut)."""
    return Stage("ds", depth=depth, channels=channels, stride=stride, kernel=3, skip=False, pw_act=True)


MOBILENET_V1 = register(Network(
    name="mobilenet_v1",
    stem=Stem(channels=32, kernel=3, stride=2),
    stages=(_ds(1, 64, 1), _ds(2, 128, 2), _ds(2, 256, 2), _ds(6, 512, 2), _ds(2, 1024, 2)),
    head=Head(channels=0),
    act="relu6",
), reference="timm:mobilenetv1_100", space="mbconv", paper="Howard et al. 2017, MobileNets")
