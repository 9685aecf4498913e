"""timm's ``nasnetalarge`` and ``pnasnet5large`` (ports of the TF NASNet / PNASNet code).

Key layout (``timm/models/nasnet.py``, ``timm/models/pnasnet.py``): the stem conv is
``conv0`` (NASNet) or ``conv_0`` (PNASNet), each a ``ConvNormAct`` (``.conv``, ``.bn``);
then one module per cell in forward order: ``cell_stem_0``, ``cell_stem_1``, then
``cell_<n>`` for normal cells and, in NASNet, ``reduction_cell_<r>`` for reduction cells
(PNASNet's reduction cells are ``cell_<n>`` too); the classifier is ``last_linear``.

Inside a cell (its plan's layers, :func:`~search_spaces.blocks.cell.cell_plan`), our state 0
branch (``pre_x``) is timm's ``conv_1x1``; our state 1 branch (``pre_prev``) is
``conv_prev_1x1`` (a 1x1 ``ActConvBn``), or the factorized reduction ``path_1.conv`` /
``path_2.conv`` / ``final_path_bn`` (directly in NASNet's cells, under ``conv_prev_1x1`` in
PNASNet's). Our ``ops.<2k>`` / ``ops.<2k + 1>`` are timm's
``comb_iter_<k>_left`` / ``_right`` (both follow the TF op order); a separable op's
``dw1 / pw1 / dw2 / pw2`` are ``separable_1.depthwise_conv2d``, ``separable_1.pointwise_conv2d``
+ ``bn_sep_1``, ``separable_2...`` + ``bn_sep_2``; a pooling or strided identity op's
1x1 conv is ``conv`` + ``bn``.
"""

from __future__ import annotations

from search_spaces.blocks.cell import CellSpec, cell_plan
from search_spaces.interop.base import SOURCES, ModuleMap, Source, StateDict, conv_norm
from search_spaces.resolve import ResolvedNet

__all__ = ["cell_names", "module_map"]

#: Our layer of a separable op -> (timm conv, timm norm or "").
_SEPARABLE = {"dw1": ("separable_1.depthwise_conv2d", ""), "pw1": ("separable_1.pointwise_conv2d", "bn_sep_1"),
              "dw2": ("separable_2.depthwise_conv2d", ""), "pw2": ("separable_2.pointwise_conv2d", "bn_sep_2")}


def cell_names(spec: ResolvedNet, state_dict: StateDict) -> list[str]:
    """timm's module name of every cell of ``spec``, in forward order."""
    nasnet = any(key.startswith("reduction_cell_") for key in state_dict)
    names, normal, reduction = [], 0, 0
    for index, block in enumerate(spec.blocks()):
        if index < 2:
            names.append(f"cell_stem_{index}")
        elif nasnet and block.stride > 1:
            names.append(f"reduction_cell_{reduction}")
            reduction += 1
        else:
            names.append(f"cell_{normal}")
            normal += 1
    return names


def _op(ours: str, theirs: str, layers: tuple) -> ModuleMap:
    entries: ModuleMap = {}
    for name, _ in layers:
        if name in _SEPARABLE:
            conv, norm = _SEPARABLE[name]
            entries[f"{ours}.{name}.conv"] = f"{theirs}.{conv}"
            if norm:
                entries[f"{ours}.{name}.bn"] = f"{theirs}.{norm}"
        elif name == "conv":
            entries.update(conv_norm(f"{ours}.conv", f"{theirs}.conv", f"{theirs}.bn"))
    return entries


def _cell(cell: CellSpec, ours: str, theirs: str, nested_reduce: bool) -> ModuleMap:
    entries = conv_norm(f"{ours}.pre_x.conv", f"{theirs}.conv_1x1.conv", f"{theirs}.conv_1x1.bn")
    for name, layer in cell_plan(cell).layers:
        if name == "pre_prev.reduce":
            at = f"{theirs}.conv_prev_1x1" if nested_reduce else theirs
            entries.update({f"{ours}.pre_prev.reduce.conv_1": f"{at}.path_1.conv",
                            f"{ours}.pre_prev.reduce.conv_2": f"{at}.path_2.conv",
                            f"{ours}.pre_prev.reduce.bn": f"{at}.final_path_bn"})
        elif name == "pre_prev":
            entries.update(conv_norm(f"{ours}.pre_prev.conv", f"{theirs}.conv_prev_1x1.conv",
                                     f"{theirs}.conv_prev_1x1.bn"))
        elif name.startswith("ops."):
            i = int(name[4:])
            side = "left" if i % 2 == 0 else "right"
            entries.update(_op(f"{ours}.{name}", f"{theirs}.comb_iter_{i // 2}_{side}", layer.layers()))
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> timm NASNet / PNASNet module paths, from the spec's cells."""
    stem = "conv0" if any(key.startswith("conv0.") for key in state_dict) else "conv_0"
    nested_reduce = stem == "conv_0"  # PNASNet keeps its factorized reduction inside conv_prev_1x1
    entries = conv_norm("stem", f"{stem}.conv", f"{stem}.bn")
    names = iter(cell_names(spec, state_dict))
    for i, stage in enumerate(spec.stages):
        for j, block in enumerate(stage):
            entries.update(_cell(block, f"stages.{i}.{j}", next(names), nested_reduce))
    entries["head.classifier"] = "last_linear"
    return entries


SOURCES.register("timm_nasnet", Source(library="timm", models=("nasnetalarge", "pnasnet5large"), module_map=module_map))
