"""ResNet (He et al. 2016), ResNeXt (Xie et al. 2017), SE-ResNet / SE-ResNeXt (Hu et al. 2018)
and pre-activation ResNet v2 (He et al. 2016, "Identity Mappings").

Every model is one row of data, as timm's ``model_cfgs``. All are points of the AnyNet
template of the ``regnet`` design space (Radosavovic et al. 2020, sec. 3.1; pycls's
``R-50-1x64d`` and ``X-101-32x8d`` configs are AnyNet points): a ``7x7/2`` stem conv and a
``3x3/2`` max pooling (pycls ``res_stem_in``), four residual stages with strides
``1, 2, 2, 2`` written with :func:`~search_spaces.spaces.regnet.anynet_stages`, and a head of
global average pooling and a linear classifier. Only the block type and its ratios change:

- ResNet-18/34: ``basic`` blocks (table 1, "building block");
- ResNet-50/101/152: the RegNet ``bottleneck`` block with ``b = 4``, ungrouped, the stride on
  the 3x3 conv (torchvision's ResNet "v1.5");
- ResNeXt ``CxWd`` (cardinality ``C``, ``W`` channels per group in the first stage): the same
  block with ``C`` groups, i.e. group width ``W * 2^i`` in stage ``i``, and middle width
  ``C * W * 2^i`` (``b = 256 / (C * W)``); torchvision's ``width = planes * W / 64 * C``;
- SE-ResNet / SE-ResNeXt: the same blocks with SE of ratio 1/16 over each block's output,
  after its last conv and norm (``Quirks.se_base = "out"``), the width rounded to a
  multiple of 8 as timm's ``SEModule`` (``se_divisor = 8``);
- ResNet v2: ``preact_bottleneck`` blocks, a stem conv with neither norm nor activation and a
  final ``norm_act`` stage (BN-ReLU) before pooling, as timm's ``resnetv2_*`` (``ResNetV2``
  with ``stem_type=''``, ``preact=True``; its classifier is a 1x1 conv, equal to our linear
  layer in parameters and MACs).

Exact to torchvision's ``resnet18 .. resnet152``, ``resnext50_32x4d``, ``resnext101_32x8d``
and timm's ``resnetv2_50``, ``resnetv2_101``, ``seresnet50``, ``seresnext50_32x4d``.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.genome import Head, Network, Quirks, Stage, Stem
from search_spaces.spaces.regnet import anynet_stages
from search_spaces.zoo import register

__all__ = ["RESNETS", "ResNetRow", "resnet_network"]

#: Output widths of the four stages of a basic-block ResNet; bottleneck blocks are 4x wider.
BASE_WIDTHS = (64, 128, 256, 512)
STRIDES = (1, 2, 2, 2)
STEM_WIDTH = 64
#: SENet's reduction ratio r = 16 (Hu et al. 2018, sec. 6.1).
SE_RATIO = 1 / 16

_RESNET = "He et al. 2016, Deep Residual Learning"
_RESNEXT = "Xie et al. 2017, Aggregated Residual Transformations (ResNeXt)"
_SENET = "Hu et al. 2018, Squeeze-and-Excitation Networks"
_V2 = "He et al. 2016, Identity Mappings in Deep Residual Networks"


@dataclass(frozen=True)
class ResNetRow:
    """One ResNet-family model.

    Attributes:
        block: Residual block type (``basic``, ``bottleneck``, ``preact_bottleneck``).
        depths: Blocks per stage.
        cardinality: Groups of the 3x3 conv (ResNeXt's ``C``; 1 for ResNet).
        base_width: Channels per group of the first stage (ResNeXt's ``d``; 64 for ResNet).
        se: Whether every block has squeeze-excitation (SENet).
        reference: ``library:model`` the genome equals.
        paper: Short citation.
    """

    block: str
    depths: tuple[int, int, int, int]
    cardinality: int = 1
    base_width: int = 64
    se: bool = False
    reference: str = ""
    paper: str = _RESNET


#: name -> row. The first stage of a bottleneck ResNet is 256 wide with middle width
#: ``cardinality * base_width`` (64 for ResNet-50, 128 for ResNeXt-50 32x4d).
RESNETS: dict[str, ResNetRow] = {
    "resnet18": ResNetRow("basic", (2, 2, 2, 2), reference="torchvision:resnet18"),
    "resnet34": ResNetRow("basic", (3, 4, 6, 3), reference="torchvision:resnet34"),
    "resnet50": ResNetRow("bottleneck", (3, 4, 6, 3), reference="torchvision:resnet50"),
    "resnet101": ResNetRow("bottleneck", (3, 4, 23, 3), reference="torchvision:resnet101"),
    "resnet152": ResNetRow("bottleneck", (3, 8, 36, 3), reference="torchvision:resnet152"),
    "resnext50_32x4d": ResNetRow("bottleneck", (3, 4, 6, 3), 32, 4, reference="torchvision:resnext50_32x4d",
                                 paper=_RESNEXT),
    "resnext101_32x8d": ResNetRow("bottleneck", (3, 4, 23, 3), 32, 8, reference="torchvision:resnext101_32x8d",
                                  paper=_RESNEXT),
    "seresnet50": ResNetRow("bottleneck", (3, 4, 6, 3), se=True, reference="timm:seresnet50", paper=_SENET),
    "seresnext50_32x4d": ResNetRow("bottleneck", (3, 4, 6, 3), 32, 4, se=True, reference="timm:seresnext50_32x4d",
                                   paper=_SENET),
    "resnetv2_50": ResNetRow("preact_bottleneck", (3, 4, 6, 3), reference="timm:resnetv2_50", paper=_V2),
    "resnetv2_101": ResNetRow("preact_bottleneck", (3, 4, 23, 3), reference="timm:resnetv2_101", paper=_V2),
}


def resnet_network(name: str, row: ResNetRow) -> Network:
    """The genome of one ResNet-family row: stem, max pool, four AnyNet stages, [final BN-ReLU], head.

    Bottleneck blocks are four times as wide as their middle width at ``cardinality *
    base_width = 64`` (ResNet's expansion 4); the bottleneck ratio ``b = 4 * 64 / (C * d)``
    and the group width ``d * 2^i`` (none for ``C = 1``) reproduce torchvision's
    ``width = int(planes * d / 64) * C``.
    """
    basic = row.block == "basic"
    widths = BASE_WIDTHS if basic else tuple(4 * w for w in BASE_WIDTHS)
    ratio = 1.0 if basic else 4 * 64 / (row.cardinality * row.base_width)
    groups = tuple(row.base_width * 2 ** i for i in range(4)) if row.cardinality > 1 else None
    preact = row.block.startswith("preact")
    stages = (
        (Stage("pool", depth=1, channels=STEM_WIDTH, stride=2, kernel=3),)
        + anynet_stages(row.block, row.depths, widths, STRIDES, bottleneck=ratio, group_widths=groups,
                        se=SE_RATIO if row.se else 0.0)
        + ((Stage("norm_act", depth=1, channels=widths[-1]),) if preact else ())
    )
    stem = Stem(channels=STEM_WIDTH, kernel=7, stride=2, norm=not preact, act="identity" if preact else "")
    quirks = Quirks(channel_divisor=1, se_base="out", se_divisor=8) if row.se else Quirks(channel_divisor=1)
    return Network(name=name, stem=stem, stages=stages, head=Head(channels=0), act="relu", quirks=quirks)


for _name, _row in RESNETS.items():
    register(resnet_network(_name, _row), reference=_row.reference, space="regnet",
             paper=f"{_row.paper} (an AnyNet point of the RegNet design space)")
