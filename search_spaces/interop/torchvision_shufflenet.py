"""torchvision's ``shufflenet_v2_x0_5`` .. ``shufflenet_v2_x2_0`` (``torchvision/models/shufflenetv2.py``).

Key layout: the stem is ``conv1`` (``.0`` conv, ``.1`` norm, then ReLU), the three unit
stages are ``stage2 .. stage4`` (the paper's table 5 numbering) with unit ``j`` at
``stage<n>.<j>``, the last conv is ``conv5`` (``.0`` / ``.1``) and the classifier ``fc``.
A unit (``InvertedResidual``) has ``branch1`` (only when it downsamples) and ``branch2``,
each a flat ``Sequential`` in which every conv is followed by its norm and, when it has
one, its ReLU as separate entries: ``branch1 = [dw, bn, 1x1, bn, relu]``,
``branch2 = [1x1, bn, relu, dw, bn, 1x1, bn, relu]``.

Ours (:mod:`search_spaces.blocks.shuffle`): ``shuffle_v2`` units with a ``left`` branch
(only when downsampling) and a ``right`` one, each a plan of ``ConvNormAct`` layers and
parameter-free combinators (the channel split). ``left`` is ``branch1`` and ``right`` is
``branch2``; a conv layer's index there is counted from our plan as torchvision lays it
out (conv, norm, activation if any), so it follows the plan, not a table.
"""

from __future__ import annotations

from search_spaces.blocks import BLOCKS, BlockSpec
from search_spaces.interop.base import SOURCES, ModuleMap, Source, StateDict, conv_norm
from search_spaces.layers import ConvSpec, Plan
from search_spaces.resolve import ResolvedNet

__all__ = ["BRANCHES", "module_map", "sequential_entries"]

#: Our branch name in a ``shuffle_v2`` unit -> torchvision's.
BRANCHES = {"left": "branch1", "right": "branch2"}


def sequential_entries(plan: Plan, ours: str, theirs: str) -> ModuleMap:
    """Our conv layers of ``plan`` -> their indices in a torchvision ``Sequential`` that lists every
    conv, its norm and its activation (when it has one) as separate entries.

    Combinators (a channel split) have no torchvision entry; a conv without norm has no norm entry.
    """
    entries: ModuleMap = {}
    n = 0
    for name, layer in plan.layers:
        if not isinstance(layer, ConvSpec):
            continue
        entries[f"{ours}.{name}.conv"] = f"{theirs}.{n}"
        n += 1
        if layer.norm is not None:
            entries[f"{ours}.{name}.bn"] = f"{theirs}.{n}"
            n += 1
        n += bool(layer.act)
    return entries


def _unit(block: BlockSpec, ours: str, theirs: str) -> ModuleMap:
    entries: ModuleMap = {}
    for name, layer in BLOCKS.get(block.kind).plan(block).layers:
        if name in BRANCHES and isinstance(layer, Plan):
            entries.update(sequential_entries(layer, f"{ours}.{name}", f"{theirs}.{BRANCHES[name]}"))
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> torchvision ShuffleNetV2 module paths, from the spec's ``shuffle_v2`` stages."""
    del state_dict  # one layout only
    entries = conv_norm("stem", "conv1.0", "conv1.1")
    n = 1  # torchvision numbers the unit stages from 2, after the stem (the paper's conv1)
    for i, stage in enumerate(spec.stages):
        if not stage or stage[0].kind != "shuffle_v2":
            continue
        n += 1
        for j, block in enumerate(stage):
            entries.update(_unit(block, f"stages.{i}.{j}", f"stage{n}.{j}"))
    if "conv" in {name for name, _ in spec.head.layers}:
        entries.update(conv_norm("head.conv", "conv5.0", "conv5.1"))
    entries["head.classifier"] = "fc"
    return entries


SOURCES.register("torchvision_shufflenet", Source(
    library="torchvision", models=("shufflenet_v2",), module_map=module_map,
))
