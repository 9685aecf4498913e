"""timm's ``regnetx_*`` / ``regnety_*`` (``timm/models/regnet.py``, a port of pycls).

Key layout: the stem is ``stem.conv`` / ``stem.bn``; the stages are ``s1 .. s4`` and block
``j`` of one is ``b<j + 1>`` (both numbered from 1); a block's ``conv1`` .. ``conv3`` are
``ConvNormAct`` modules (``.conv`` / ``.bn``), its squeeze-excitation (RegNetY) ``se.fc1`` /
``se.fc2`` and its projection shortcut ``downsample.conv`` / ``downsample.bn``; the
classifier is ``head.fc``. timm's ``final_conv`` is an identity for these models (no keys).

Ours: ``stem``; ``stages.<i>.<j>`` of ``bottleneck`` blocks whose layers carry the same
names (``conv1`` .. ``conv3``, ``se``) plus ``shortcut``; ``head.classifier``. Every stage of
``bottleneck`` blocks is the next ``s<n>``; anything else stays unmatched and is reported
by :func:`~search_spaces.interop.base.convert_state_dict`.
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

__all__ = ["module_map"]


def _block(block: BottleneckSpec, ours: str, theirs: str) -> ModuleMap:
    """One ``bottleneck`` block: ``convK`` -> ``convK.conv`` + ``convK.bn``, SE, projection shortcut."""
    entries: ModuleMap = {}
    for name in block_layers(block):  # type: ignore[arg-type]
        if name.startswith("conv"):
            entries.update(conv_norm(f"{ours}.{name}", f"{theirs}.{name}.conv", f"{theirs}.{name}.bn"))
        elif name == "se":
            entries.update(squeeze_excite(f"{ours}.se", f"{theirs}.se.fc1", f"{theirs}.se.fc2"))
    if block.projection:
        entries.update(conv_norm(f"{ours}.shortcut", f"{theirs}.downsample.conv", f"{theirs}.downsample.bn"))
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> timm RegNet module paths, from the spec's ``bottleneck`` stages."""
    del state_dict  # one layout only
    entries = conv_norm("stem", "stem.conv", "stem.bn")
    n = 0
    for i, stage in enumerate(spec.stages):
        if not stage or stage[0].kind != "bottleneck":
            continue
        n += 1
        for j, block in enumerate(stage):
            entries.update(_block(block, f"stages.{i}.{j}", f"s{n}.b{j + 1}"))  # type: ignore[arg-type]
    entries["head.classifier"] = "head.fc"
    return entries


SOURCES.register("timm_regnet", Source(library="timm", models=("regnetx_", "regnety_"), module_map=module_map))
