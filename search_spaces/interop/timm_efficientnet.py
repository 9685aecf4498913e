"""timm's ``EfficientNet`` class: ``tf_efficientnet_b*``, ``tf_efficientnetv2_*``, ``mnasnet_*``, ...

Key layout (``timm/models/efficientnet.py`` and ``timm/models/_efficientnet_blocks.py``):
``conv_stem``, ``bn1``; ``blocks.<stage>.<block>.<layer>``; ``conv_head``, ``bn2``;
``classifier``. timm's stages are the genome's stages, so our ``stages.i.j`` is timm's
``blocks.i.j``. Each of our blocks is one timm block class, told apart by our layer names:

==========================  ===============================  ===========================
ours                        timm class                       timm layers
==========================  ===============================  ===========================
``ds``; ``mbconv`` without  ``DepthwiseSeparableConv``       ``conv_dw, bn1, se,
``expand`` (timm's ``ds``)                                   conv_pw, bn2``
``mbconv``                  ``InvertedResidual``             ``conv_pw, bn1, conv_dw,
                                                             bn2, se, conv_pwl, bn3``
``fused``                   ``EdgeResidual``                 ``conv_exp, bn1, se,
                                                             conv_pwl, bn2``
``conv``; ``fused`` without ``ConvBnAct``                    ``conv, bn1``
``expand`` (timm's ``cn``)
==========================  ===============================  ===========================

SE is ``se.conv_reduce`` / ``se.conv_expand`` in every class. timm has no hidden head layer.
"""

from __future__ import annotations

from search_spaces.blocks import BlockSpec
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

__all__ = ["TIMM_LAYERS", "module_map", "timm_class"]

#: timm block class -> our layer name -> (timm conv, timm norm).
TIMM_LAYERS: dict[str, dict[str, tuple[str, str]]] = {
    "DepthwiseSeparableConv": {"dw": ("conv_dw", "bn1"), "pw": ("conv_pw", "bn2"), "project": ("conv_pw", "bn2")},
    "InvertedResidual": {"expand": ("conv_pw", "bn1"), "dw": ("conv_dw", "bn2"), "project": ("conv_pwl", "bn3")},
    "EdgeResidual": {"expand": ("conv_exp", "bn1"), "project": ("conv_pwl", "bn2")},
    "ConvBnAct": {"conv": ("conv", "bn1")},
}

_CLASSES = {"ds": "DepthwiseSeparableConv", "mbconv": "InvertedResidual", "fused": "EdgeResidual",
            "conv": "ConvBnAct"}


def timm_class(block: BlockSpec, layers: tuple[str, ...]) -> str | None:
    """The timm block class with the same layers as our ``block`` (``None``: no counterpart).

    An MBConv without expansion conv is timm's depthwise-separable block and a Fused-MBConv
    without one is timm's ``ConvBnAct``, exactly as timm's own architecture strings encode them.
    """
    if block.kind == "mbconv" and "expand" not in layers:
        return "DepthwiseSeparableConv"
    if block.kind == "fused" and "expand" not in layers:
        return "ConvBnAct"
    return _CLASSES.get(block.kind)


def _block(block: BlockSpec, ours: str, theirs: str) -> ModuleMap:
    layers = block_layers(block)
    table = TIMM_LAYERS.get(timm_class(block, layers) or "", {})
    entries: ModuleMap = {}
    for name in layers:
        if name == "se":
            entries.update(squeeze_excite(f"{ours}.se", f"{theirs}.se.conv_reduce", f"{theirs}.se.conv_expand"))
        elif name in table:
            conv, norm = table[name]
            entries.update(conv_norm(f"{ours}.{name}", f"{theirs}.{conv}", f"{theirs}.{norm}"))
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> timm ``EfficientNet`` module paths, from the spec's blocks and head."""
    del state_dict  # one layout only
    entries = conv_norm("stem", "conv_stem", "bn1")
    for i, stage in enumerate(spec.stages):
        for j, block in enumerate(stage):
            entries.update(_block(block, f"stages.{i}.{j}", f"blocks.{i}.{j}"))
    head = {name for name, _ in spec.head.layers}
    if "conv" in head:
        entries.update(conv_norm("head.conv", "conv_head", "bn2"))
    entries["head.classifier"] = "classifier"
    return entries


SOURCES.register("timm_efficientnet", Source(
    library="timm",
    models=("tf_efficientnet", "efficientnet", "mnasnet", "semnasnet", "spnasnet", "mobilenetv2", "tinynet",
            "mobilenetv1"),
    module_map=module_map,
))
