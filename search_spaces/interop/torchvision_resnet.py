"""torchvision's ``resnet18 .. resnet152`` and ``resnext*`` (``torchvision/models/resnet.py``), and
timm's ``seresnet*`` / ``seresnext*`` (``timm/models/resnet.py``, the same layout plus SE).

Key layout: the stem is ``conv1`` / ``bn1`` (the max pooling has no weights); the four
residual stages are ``layer1 .. layer4``, block ``j`` of one is ``layer<n>.<j>``; a block's
convs and norms are ``conv1, bn1, conv2, bn2[, conv3, bn3]`` (``BasicBlock`` /
``Bottleneck``), its projection shortcut ``downsample.0`` (1x1 conv) / ``downsample.1``
(norm); the classifier is ``fc``. timm's ``ResNet`` class keeps these names and adds a
block's squeeze-excitation as ``se.fc1`` / ``se.fc2``, so one map serves both libraries
(registered as ``torchvision_resnet`` and ``timm_resnet``). timm's pre-activation
``resnetv2_*`` is another layout (and a 1x1-conv classifier): :mod:`.timm_resnetv2`.

Ours: ``stem``; ``stages.<i>.<j>`` where the parameter-free ``pool`` stage comes first, so
the ``n``-th residual stage is torchvision's ``layer<n>``; a block's ``conv1`` ..
``conv3`` and ``shortcut`` are ``ConvNormAct`` layers (``.conv`` / ``.bn``); ``head.classifier``.
The map is read from the spec: every stage of ``basic`` or ``bottleneck`` blocks is the next
``layer<n>``; anything else stays unmatched and is reported by
:func:`~search_spaces.interop.base.convert_state_dict` (an SE layer given a torchvision
state dict, for instance).
"""

from __future__ import annotations

from search_spaces.blocks.bottleneck import BottleneckSpec
from search_spaces.interop.base import (
    SOURCES,
    ModuleMap,
    Source,
    StateDict,
    block_layers,
    conv_norm,
    squeeze_excite,
)
from search_spaces.resolve import ResolvedNet

__all__ = ["RESIDUAL_BLOCKS", "module_map"]

#: Our block kinds that are torchvision ``BasicBlock`` / ``Bottleneck`` modules.
RESIDUAL_BLOCKS = ("basic", "bottleneck")


def _block(block: BottleneckSpec, ours: str, theirs: str) -> ModuleMap:
    """One ``basic`` / ``bottleneck`` block: ``convK`` -> ``convK`` + ``bnK``, SE, projection shortcut."""
    entries: ModuleMap = {}
    for name in block_layers(block):  # type: ignore[arg-type]
        if name.startswith("conv"):  # conv1 / conv2 / conv3 pair with bn1 / bn2 / bn3
            entries.update(conv_norm(f"{ours}.{name}", f"{theirs}.{name}", f"{theirs}.bn{name[4:]}"))
        elif name == "se":
            entries.update(squeeze_excite(f"{ours}.se", f"{theirs}.se.fc1", f"{theirs}.se.fc2"))
    if block.projection:
        entries.update(conv_norm(f"{ours}.shortcut", f"{theirs}.downsample.0", f"{theirs}.downsample.1"))
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> torchvision (or timm) ResNet module paths, from the spec's residual stages."""
    del state_dict  # one layout only
    entries = conv_norm("stem", "conv1", "bn1")
    layer = 0
    for i, stage in enumerate(spec.stages):
        if not stage or stage[0].kind not in RESIDUAL_BLOCKS:
            continue
        layer += 1
        for j, block in enumerate(stage):
            entries.update(_block(block, f"stages.{i}.{j}", f"layer{layer}.{j}"))
    entries["head.classifier"] = "fc"
    return entries


SOURCES.register("torchvision_resnet", Source(
    library="torchvision", models=("resnet", "resnext"), module_map=module_map,
))
SOURCES.register("timm_resnet", Source(library="timm", models=("seresnet", "seresnext"), module_map=module_map))
