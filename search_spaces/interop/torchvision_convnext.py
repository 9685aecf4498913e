"""torchvision's ``convnext_tiny`` / ``convnext_small`` / ``convnext_base`` / ``convnext_large``.

Key layout (``torchvision/models/convnext.py``): ``features.0`` is the stem (``.0`` conv,
``.1`` LayerNorm2d); then ``features.k`` alternates a stage of ``CNBlock``\\ s and a
downsampling ``Sequential`` (``.0`` LayerNorm2d, ``.1`` conv), one per stage of ours in
order, so our stage ``i`` is ``features.{i + 1}``. A ``CNBlock`` ``features.k.j`` holds
``block.0`` (depthwise conv), ``block.2`` (LayerNorm), ``block.3`` / ``block.5`` (the MLP's
linear layers) and its own ``layer_scale`` parameter; ``classifier`` is ``.0`` LayerNorm2d,
``.1`` flatten, ``.2`` linear.
"""

from __future__ import annotations

from search_spaces.interop.base import SOURCES, ModuleMap, Source, StateDict
from search_spaces.resolve import ResolvedNet

__all__ = ["module_map"]

#: Our ``convnext`` block layer -> its index in torchvision's ``CNBlock.block``.
_BLOCK = {"dw": "block.0", "norm": "block.2", "pw1": "block.3", "pw2": "block.5"}


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> torchvision ConvNeXt module paths, from the spec's block kinds."""
    entries: ModuleMap = {"stem.conv": "features.0.0", "stem.bn": "features.0.1"}
    for i, stage in enumerate(spec.stages):
        theirs = f"features.{i + 1}"
        for j, block in enumerate(stage):
            ours = f"stages.{i}.{j}"
            if block.kind == "convnext":
                entries.update({f"{ours}.{name}{'.conv' if name == 'dw' else ''}": f"{theirs}.{j}.{path}"
                                for name, path in _BLOCK.items()})
                entries[f"{ours}.scale"] = f"{theirs}.{j}"  # CNBlock.layer_scale
            elif block.kind == "convnext_down":
                entries.update({f"{ours}.norm": f"{theirs}.0", f"{ours}.conv.conv": f"{theirs}.1"})
    head = [name for name, _ in spec.head.layers]
    if "pool_norm" in head:
        entries["head.pool_norm"] = "classifier.0"
    entries["head.classifier"] = "classifier.2"
    return entries


SOURCES.register("torchvision_convnext", Source(library="torchvision", models=("convnext",), module_map=module_map))
