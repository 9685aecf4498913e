"""timm's pre-activation ``resnetv2_50`` / ``resnetv2_101`` (``timm/models/resnetv2.py``).

Key layout: the stem is a bare conv ``stem.conv`` (no norm: the first block pre-activates);
the residual stages are ``stages.<k>`` (numbered from 0) with their blocks under
``blocks.<j>``; a ``PreActBottleneck`` holds ``norm1, conv1, norm2, conv2, norm3, conv3``
(bare convs and norms) and its projection shortcut is the bare conv ``downsample.conv``;
the final ``norm -> act`` before pooling is ``norm``. The classifier ``head.fc`` is a 1x1
conv, weight ``(classes, C, 1, 1)``, where ours is a linear layer, weight ``(classes, C)``:
the source declares ``head.classifier`` a conv-backed linear layer, so
:func:`~search_spaces.interop.base.convert_state_dict` takes that weight as a view of shape
``(classes, C)`` (the same numbers; a 1x1 conv on the pooled 1x1 map is that linear map).

Ours (:mod:`search_spaces.blocks.preact`): ``stem.conv``; the parameter-free ``pool`` stage
comes first, then ``stages.<i>.<j>`` of ``preact_bottleneck`` (or ``preact_basic``) blocks
with layers ``norm1``, ``conv1`` (a ``ConvNormAct``: ``.conv``) ... and ``shortcut``; the
``norm_act`` stage's block has ``norm``; ``head.classifier``. The ``n``-th pre-activation
stage is timm's ``stages.<n - 1>``. An SE layer of ours (the natural extension, not in
timm) stays unmatched and is reported.
"""

from __future__ import annotations

from search_spaces.blocks import BlockSpec
from search_spaces.interop.base import SOURCES, ModuleMap, Source, StateDict, block_layers
from search_spaces.resolve import ResolvedNet

__all__ = ["PREACT_BLOCKS", "module_map"]

#: Our block kinds that are timm ``PreActBottleneck`` / ``PreActBasic`` modules.
PREACT_BLOCKS = ("preact_bottleneck", "preact_basic")


def _block(block: BlockSpec, ours: str, theirs: str) -> ModuleMap:
    """One pre-activation block: ``normK`` -> ``normK``, ``convK.conv`` -> ``convK``, shortcut -> ``downsample``."""
    entries: ModuleMap = {}
    for name in block_layers(block):
        if name.startswith("norm"):
            entries[f"{ours}.{name}"] = f"{theirs}.{name}"
        elif name.startswith("conv"):
            entries[f"{ours}.{name}.conv"] = f"{theirs}.{name}"
        elif name == "shortcut":  # a bare strided 1x1 conv (timm's DownsampleConv(preact=True))
            entries[f"{ours}.shortcut.conv"] = f"{theirs}.downsample.conv"
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> timm ResNetV2 module paths, from the spec's stage kinds."""
    del state_dict  # one layout only
    entries: ModuleMap = {"stem.conv": "stem.conv"}
    k = 0
    for i, stage in enumerate(spec.stages):
        kind = stage[0].kind if stage else ""
        if kind in PREACT_BLOCKS:
            for j, block in enumerate(stage):
                entries.update(_block(block, f"stages.{i}.{j}", f"stages.{k}.blocks.{j}"))
            k += 1
        elif kind == "norm_act":
            entries[f"stages.{i}.0.norm"] = "norm"
    entries["head.classifier"] = "head.fc"
    return entries


SOURCES.register("timm_resnetv2", Source(
    library="timm", models=("resnetv2_",), module_map=module_map, conv_linears=("head.classifier",),
))
