"""torchvision's ``squeezenet1_0`` / ``squeezenet1_1`` (``torchvision/models/squeezenet.py``).

Key layout: ``features`` is one flat ``Sequential``: the stem conv and its ReLU, then one
entry per max pool or ``Fire`` module in forward order; a ``Fire`` module's convs are
``squeeze``, ``expand1x1`` and ``expand3x3`` (bare convs with bias, each followed by a
separate ReLU module). ``classifier`` is ``[Dropout, conv, ReLU, AdaptiveAvgPool]``: the
classifier is a 1x1 conv with bias.

Ours: the stem (a ``ConvNormAct`` without norm); one block per stage entry (``pool_ceil``
or ``fire``), so block ``k`` of the flattened stages is ``features.<stem entries + k>``; a
``fire`` block's layers carry torchvision's names, each a one-conv plan (``<name>.conv``);
the head's layers are torchvision's classifier in order, its ``classifier`` a conv layer
too (``Head.conv_classifier``), so the weights match without reshaping. Entry indices are
counted from our plans (a conv, its norm if any and its activation if any are separate
torchvision entries; every other layer or block is one), not read from a table.
"""

from __future__ import annotations

from search_spaces.blocks import BLOCKS, BlockSpec
from search_spaces.interop.base import SOURCES, ModuleMap, Source, StateDict
from search_spaces.layers import ConvSpec, Plan
from search_spaces.resolve import ResolvedNet

__all__ = ["entries_of", "module_map"]


def entries_of(layer: object) -> int:
    """How many ``Sequential`` entries torchvision spends on one of our layers: a conv's norm
    and activation are modules of their own, anything else (pool, dropout, block) is one."""
    if isinstance(layer, ConvSpec):
        return 1 + (layer.norm is not None) + bool(layer.act)
    return 1


def _fire(block: BlockSpec, ours: str, theirs: str) -> ModuleMap:
    """A ``fire`` block: each one-conv plan (``squeeze``, ``expand1x1``, ``expand3x3``) is the conv of that name."""
    entries: ModuleMap = {}
    for name, layer in BLOCKS.get(block.kind).plan(block).layers:
        for inner, conv in layer.layers if isinstance(layer, Plan) else ():
            if isinstance(conv, ConvSpec):
                entries[f"{ours}.{name}.{inner}.conv"] = f"{theirs}.{name}"
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> torchvision SqueezeNet module paths, from the spec's stem, blocks and head."""
    del state_dict  # one layout only
    entries: ModuleMap = {"stem.conv": "features.0"}
    k = entries_of(spec.stem)
    for i, stage in enumerate(spec.stages):
        for j, block in enumerate(stage):
            if block.kind == "fire":
                entries.update(_fire(block, f"stages.{i}.{j}", f"features.{k}"))
            k += 1
    k = 0
    for name, layer in spec.head.layers:
        if isinstance(layer, ConvSpec):
            entries[f"head.{name}.conv"] = f"classifier.{k}"
        k += entries_of(layer)
    return entries


SOURCES.register("torchvision_squeezenet", Source(
    library="torchvision", models=("squeezenet",), module_map=module_map,
))
