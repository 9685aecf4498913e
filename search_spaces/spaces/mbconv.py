"""The MnasNet factorized hierarchical search space (Tan et al. 2019, "MnasNet", sec. 4.1, fig. 4).

The network is split into 7 blocks (stages) over a fixed backbone; each block searches:

- ``ConvOp``: regular conv (``conv``), depthwise-separable conv (``ds``), or MBConv
  with expansion 3 or 6 (``mbconv3``, ``mbconv6``);
- ``KernelSize``: 3 or 5;
- ``SERatio``: 0 or 0.25;
- ``SkipOp``: none or identity residual;
- ``FilterSize``: the backbone width times 0.75, 1.0 or 1.25, rounded as the backbone
  rounds its widths (its ``Quirks.channel_divisor`` and ``round_limit``; for B0 a multiple
  of 8 with the 90% guard);
- ``#Layers``: the backbone depth plus -1, 0 or +1 (at least 1).

The backbone is EfficientNet-B0's (widths 16-24-40-80-112-192-320, depths 1-2-2-3-3-4-1,
strides 1-2-2-2-1-2-1, stem 32, head 1280, swish, TF padding): EfficientNet-B0 was found
by this search (Tan & Le 2019, sec. 4), so ``efficientnet_b0`` is an exact point.

MnasNet-A1 lies *next to* the space: its depths (1-2-3-4-2-3-1) are backbone +-1 and its
ops, kernels, SE and skips are all choices here, but its sixth block is 160 wide, while
this backbone offers 144, 192 or 240 there; it also uses ReLU and PyTorch padding, which
are fixed network settings of this space. So A1 is not a named point.

Deviation: the paper also lists pooling as a ``SkipOp``, but neither its text nor the
released MnasNet code defines that op (the code has only the identity skip), so it is
left out rather than invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search_spaces.genome import Network, Stage
from search_spaces.rounding import round_channels
from search_spaces.spaces.backbone import BackboneSpace
from search_spaces.spaces.base import Categorical, Distribution
from search_spaces.zoo.efficientnet import EFFICIENTNET_B0

__all__ = ["MBConvSpace"]

#: ConvOp choice -> (block type, expansion ratio).
OPS: dict[str, tuple[str, float]] = {"conv": ("conv", 1.0), "ds": ("ds", 1.0), "mbconv3": ("mbconv", 3.0),
                                     "mbconv6": ("mbconv", 6.0)}
_OP_NAME = {op: name for name, op in OPS.items()}


class MBConvSpace(BackboneSpace):
    """MnasNet's per-block factorized space around the EfficientNet-B0 backbone.

    Args:
        num_classes: Classifier outputs of every decoded network.
        resolution: Input size written into every genome (B0: 224).
        in_channels: Input image channels.
    """

    name = "mbconv"
    default_resolution = 224
    backbone: Network = EFFICIENTNET_B0

    def stage_distributions(self, i: int, stage: Stage) -> tuple[Distribution, ...]:
        return (
            Categorical(f"b{i}_op", tuple(OPS)),
            Categorical(f"b{i}_kernel", (3, 5)),
            Categorical(f"b{i}_se", (0.0, 0.25)),
            Categorical(f"b{i}_skip", ("none", "identity")),
            Categorical(f"b{i}_filters", (0.75, 1.0, 1.25)),
            Categorical(f"b{i}_layers", (-1, 0, 1)),
        )

    def decode_stage(self, i: int, stage: Stage, params: Mapping[str, Any]) -> Stage:
        block, expand = OPS[params[f"b{i}_op"]]
        q = self.backbone.quirks  # FilterSize rounds as the backbone rounds its widths
        return Stage(
            block, depth=max(1, stage.depth + params[f"b{i}_layers"]),
            channels=round_channels(stage.channels, params[f"b{i}_filters"], q.channel_divisor, q.round_limit),
            stride=stage.stride, kernel=params[f"b{i}_kernel"], expand=expand, se=params[f"b{i}_se"],
            skip=params[f"b{i}_skip"] == "identity",
        )

    def encode_stage(self, i: int, stage: Stage) -> dict[str, Any]:
        return {f"b{i}_op": _OP_NAME[(stage.block, stage.expand)], f"b{i}_kernel": stage.kernel,
                f"b{i}_se": stage.se, f"b{i}_skip": "identity" if stage.skip else "none", f"b{i}_filters": 1.0,
                f"b{i}_layers": 0}
