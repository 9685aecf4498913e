"""torchvision's ``densenet121`` / ``densenet169`` / ``densenet201`` (and ``densenet161``'s layout).

Key layout (``torchvision/models/densenet.py``): ``features`` is a ``Sequential`` of named
modules: ``conv0`` / ``norm0`` (the stem), ``denseblock<b>.denselayer<l>`` with ``norm1``,
``conv1``, ``norm2``, ``conv2`` (numbered from 1 within each dense block),
``transition<b>`` with ``norm`` and ``conv`` after dense block ``b``, and ``norm5``, the
final norm (named after the block count + 1); ``classifier`` is the linear layer.

Ours (:mod:`search_spaces.blocks.dense`): a ``dense`` stage's blocks are the dense layers
(their bare convs are ``conv1.conv`` / ``conv2.conv``), a ``transition`` stage's one block
has ``norm`` and ``conv.conv``, and the ``norm_act`` stage's block has ``norm``.
"""

from __future__ import annotations

from search_spaces.errors import UserInputError
from search_spaces.interop.base import SOURCES, ModuleMap, Source, StateDict
from search_spaces.resolve import ResolvedNet

__all__ = ["module_map"]


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> torchvision DenseNet module paths, from the spec's stage kinds."""
    if not any(key.startswith("features.denseblock1.") for key in state_dict):
        raise UserInputError("the torchvision_densenet state dict has no features.denseblock1.* keys, "
                             "so it is not a torchvision DenseNet.")
    entries: ModuleMap = {"stem.conv": "features.conv0", "stem.bn": "features.norm0"}
    dense_blocks = 0
    for i, stage in enumerate(spec.stages):
        kind = stage[0].kind
        if kind == "dense":
            dense_blocks += 1
            for j in range(len(stage)):
                ours, theirs = f"stages.{i}.{j}", f"features.denseblock{dense_blocks}.denselayer{j + 1}"
                entries.update({f"{ours}.norm1": f"{theirs}.norm1", f"{ours}.conv1.conv": f"{theirs}.conv1",
                                f"{ours}.norm2": f"{theirs}.norm2", f"{ours}.conv2.conv": f"{theirs}.conv2"})
        elif kind == "transition":
            theirs = f"features.transition{dense_blocks}"
            entries.update({f"stages.{i}.0.norm": f"{theirs}.norm", f"stages.{i}.0.conv.conv": f"{theirs}.conv"})
        elif kind == "norm_act":
            entries[f"stages.{i}.0.norm"] = f"features.norm{dense_blocks + 1}"
    entries["head.classifier"] = "classifier"
    return entries


SOURCES.register("torchvision_densenet", Source(library="torchvision", models=("densenet",), module_map=module_map))
