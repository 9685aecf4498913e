"""torchvision's ``mobilenet_v2`` and ``mobilenet_v3_large`` / ``mobilenet_v3_small``.

Key layout (``torchvision/models/mobilenetv2.py``, ``mobilenetv3.py``): ``features`` is one
flat ``Sequential``: ``features.0`` the stem (``.0`` conv, ``.1`` norm), then one entry per
block numbered across stages, then the head conv; ``classifier`` is a ``Sequential`` of the
head's layers after pooling, in our order ([hidden, act,] dropout, classifier).

Inside a block the two versions differ, and the state dict tells which it is:

- V3 ``features.k.block.<n>``: our layers in order; a conv layer is ``<n>.0`` / ``<n>.1``,
  SE is ``<n>.fc1`` / ``<n>.fc2``.
- V2 ``features.k.conv.<n>``: expansion and depthwise layers are ``<n>.0`` / ``<n>.1``, but
  the projection is a bare conv ``<n>`` followed by its norm ``<n + 1>``; V2 has no SE.

Only our ``mbconv`` blocks have torchvision counterparts.
"""

from __future__ import annotations

from search_spaces.blocks import BlockSpec
from search_spaces.errors import UserInputError
from search_spaces.interop.base import (
    SOURCES, ModuleMap, Source, StateDict, block_layers, conv_norm, squeeze_excite,
)
from search_spaces.resolve import ResolvedNet

__all__ = ["layout", "module_map"]


def layout(state_dict: StateDict) -> str:
    """``v2`` or ``v3``: which torchvision MobileNet block layout the state dict uses.

    Raises:
        UserInputError: if it has neither (it is not a torchvision MobileNet state dict).
    """
    for version, marker in (("v3", "features.1.block."), ("v2", "features.1.conv.")):
        if any(key.startswith(marker) for key in state_dict):
            return version
    raise UserInputError("the torchvision_mobilenet state dict has neither features.1.block.* (MobileNetV3) "
                         "nor features.1.conv.* (MobileNetV2) keys, so it is not a torchvision MobileNet.")


def _v3_block(layers: tuple[str, ...], ours: str, theirs: str) -> ModuleMap:
    entries: ModuleMap = {}
    for n, name in enumerate(layers):
        if name == "se":
            entries.update(squeeze_excite(f"{ours}.se", f"{theirs}.block.{n}.fc1", f"{theirs}.block.{n}.fc2"))
        else:
            entries.update(conv_norm(f"{ours}.{name}", f"{theirs}.block.{n}.0", f"{theirs}.block.{n}.1"))
    return entries


def _v2_block(layers: tuple[str, ...], ours: str, theirs: str) -> ModuleMap:
    entries: ModuleMap = {}
    n = 0
    for name in layers:
        if name in ("expand", "dw"):
            entries.update(conv_norm(f"{ours}.{name}", f"{theirs}.conv.{n}.0", f"{theirs}.conv.{n}.1"))
            n += 1
        elif name == "project":
            entries.update(conv_norm(f"{ours}.{name}", f"{theirs}.conv.{n}", f"{theirs}.conv.{n + 1}"))
            n += 2
    return entries  # an SE layer stays unmatched: V2 has none


def _blocks(spec: ResolvedNet) -> list[tuple[str, BlockSpec]]:
    return [(f"stages.{i}.{j}", block) for i, stage in enumerate(spec.stages) for j, block in enumerate(stage)]


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> torchvision MobileNetV2/V3 module paths, from the spec's blocks and head."""
    block_map = _v3_block if layout(state_dict) == "v3" else _v2_block
    entries = conv_norm("stem", "features.0.0", "features.0.1")
    blocks = _blocks(spec)
    for k, (ours, block) in enumerate(blocks, start=1):
        if block.kind == "mbconv":
            entries.update(block_map(block_layers(block), ours, f"features.{k}"))
    head = [name for name, _ in spec.head.layers]
    if "conv" in head:
        last = f"features.{len(blocks) + 1}"
        entries.update(conv_norm("head.conv", f"{last}.0", f"{last}.1"))
    for n, name in enumerate(head[head.index("pool") + 1:]):
        if name in ("hidden", "classifier"):
            entries[f"head.{name}"] = f"classifier.{n}"
    return entries


SOURCES.register("torchvision_mobilenet", Source(
    library="torchvision", models=("mobilenet_v2", "mobilenet_v3"), module_map=module_map,
))
