"""ShuffleNet v1 (Zhang et al. 2018, table 1) and ShuffleNet V2 (Ma et al. 2018, table 5).

- ``shufflenet_v2_x1_0`` / ``shufflenet_v2_x2_0``: exact to torchvision's models of those
  names: a 3x3/2 stem conv (24), 3x3/2 max pooling, stages of 4 / 8 / 4 units (116 / 232 /
  464 channels at 1x, 244 / 488 / 976 at 2x: not multiples of 8, hence
  ``channel_divisor=1``), and a 1x1 conv to 1024 (2x: 2048) before pooling.
- ``shufflenet_v1_g3``: ShuffleNet 1x with g = 3 as table 1 lays it out (stem 24, stages of
  4 / 8 / 4 units with 240 / 480 / 960 output channels, bottlenecks a quarter of that, the
  first pointwise conv ungrouped), then global pooling and a linear classifier. No reference
  implementation is installed, so it is checked against the published figures.

Family: ShuffleNet (no search space of ours; ``space=""``).
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Quirks, Stage, Stem
from search_spaces.zoo import register

__all__ = ["SHUFFLENET_V1_G3", "SHUFFLENET_V2_X1_0", "SHUFFLENET_V2_X2_0", "shufflenet"]

V1_PAPER = "Zhang et al. 2018, ShuffleNet: An Extremely Efficient CNN for Mobile Devices"
V2_PAPER = "Ma et al. 2018, ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"

#: ShuffleNet 1x, g = 3 (Zhang et al. 2018, CVPR pp. 6848-6856): 140 MFLOPs (multiply-adds, our MACs) in
#: table 8 (sec. 4.5; table 1's complexity row, sec. 3.3, gives 137M); the paper prints no parameter count,
#: the authors' release does: 1.9M (megvii-model/ShuffleNet-Series, ShuffleNetV1/README.md).
V1_G3_PUBLISHED = (1.9e6, 140e6)


def shufflenet(name: str, block: str, widths: tuple[int, int, int], head: int = 0, groups: int = 1,
               depths: tuple[int, int, int] = (4, 8, 4)) -> Network:
    """A ShuffleNet: 3x3/2 stem conv (24), 3x3/2 max pool, three stages of stride-2-first units, [1x1 conv], pool, fc.

    Args:
        name: Model name.
        block: ``shuffle_v1`` or ``shuffle_v2``.
        widths: Output channels of stages 2, 3, 4.
        head: Width of the 1x1 conv before pooling (V2's conv5), 0 for none (v1).
        groups: ``g`` of v1's pointwise group convs.
        depths: Units per stage.
    """
    stages = (Stage("pool", depth=1, channels=24, stride=2, kernel=3),) + tuple(
        Stage(block, depth=d, channels=c, stride=2, groups=groups) for d, c in zip(depths, widths))
    return Network(name=name, stem=Stem(channels=24, kernel=3, stride=2), stages=stages, head=Head(channels=head),
                   quirks=Quirks(channel_divisor=1))


SHUFFLENET_V2_X1_0 = register(shufflenet("shufflenet_v2_x1_0", "shuffle_v2", (116, 232, 464), head=1024),
                              reference="torchvision:shufflenet_v2_x1_0", space="", paper=V2_PAPER)
SHUFFLENET_V2_X2_0 = register(shufflenet("shufflenet_v2_x2_0", "shuffle_v2", (244, 488, 976), head=2048),
                              reference="torchvision:shufflenet_v2_x2_0", space="", paper=V2_PAPER)
SHUFFLENET_V1_G3 = register(shufflenet("shufflenet_v1_g3", "shuffle_v1", (240, 480, 960), groups=3),
                            reference="", space="", paper=V1_PAPER, published=V1_G3_PUBLISHED)
