"""torchvision's ``googlenet`` and ``inception_v3`` (``torchvision/models/googlenet.py``, ``inception.py``).

Both are built the way :func:`search_spaces.reference.reference_model` builds them, which
is the architecture the zoo equals:

- ``aux_logits=False``: no auxiliary classifiers. They are training-only heads (their
  outputs are returned only in training mode and never feed the main logits), and our
  genomes have no counterpart, so their weights (``aux1.*`` / ``aux2.*``, ``AuxLogits.*``)
  are never silently dropped: a state dict holding them is refused with a
  ``UserInputError`` saying to build the model with ``aux_logits=False``. (torchvision's
  pretrained builders already drop them when asked for ``aux_logits=False``.)
- ``transform_input`` is a forward-time re-scaling of the input (to the [-1, 1] range the
  ported Google weights expect), not a weight: it has no state-dict key. It is ``False``
  unless pretrained weights are asked for; a converted model with such weights must be
  given inputs scaled the way ``transform_input`` would scale them.

Key layouts. Every conv is a ``BasicConv2d`` (``.conv`` / ``.bn``), as each of ours is a
``ConvNormAct``; both classifiers are ``fc``.

- GoogLeNet (the paper's table 1 names): ``conv1`` (the stem), ``conv2``, ``conv3`` (our
  ``inception_conv`` stages, numbered on), and ``inception<level><letter>`` for the
  ``inception_v1`` modules, where the level counts the grid reductions so far (stem and
  max pools: ``3a``, ``3b``, ``4a`` .. ``4e``, ``5a``, ``5b``) and the letter the modules
  within it. A module's ``branch1`` is one conv; ``branch2`` .. ``branch4`` are
  ``Sequential``\\ s indexed like our branch plans (``branch4.0`` is the max pool).
- Inception v3 (TF-slim names): every layer in forward order has a slot ``<level><letter>``,
  where a layer that shrinks the grid (stride 2, or an unpadded conv larger than 1x1)
  opens the next level; the convs outside modules are ``Conv2d_<slot>_<k>x<k>``
  (``Conv2d_1a_3x3`` .. ``Conv2d_4a_3x3``; the pools take slots ``3a``, ``5a`` but have no
  weights) and the modules ``Mixed_<slot>`` (``5b`` .. ``7c``). Inside a module each branch
  has a name (:data:`V3_BRANCHES`, by our module kind and branch); a branch with one conv
  is that name, otherwise its convs are ``<name>_1``, ``<name>_2``, ... in forward order,
  and the two convs of a forked pair (``inception_e``) share a number with ``a`` / ``b``.
"""

from __future__ import annotations

from search_spaces.blocks import BLOCKS, BlockSpec
from search_spaces.errors import UserInputError
from search_spaces.interop.base import SOURCES, ModuleMap, Source, StateDict, conv_norm
from search_spaces.layers import ConvSpec, Plan
from search_spaces.resolve import ResolvedNet

__all__ = ["AUX_PREFIXES", "V3_BRANCHES", "module_map"]

#: Key prefixes of torchvision's auxiliary classifiers (GoogLeNet, Inception v3).
AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")

#: Inception v3 module kind -> torchvision's name of each of our branches holding convs, in order
#: (``inception_b`` / ``inception_d``'s last branch is a max pool).
V3_BRANCHES: dict[str, tuple[str, ...]] = {
    "inception_a": ("branch1x1", "branch5x5", "branch3x3dbl", "branch_pool"),
    "inception_b": ("branch3x3", "branch3x3dbl"),
    "inception_c": ("branch1x1", "branch7x7", "branch7x7dbl", "branch_pool"),
    "inception_d": ("branch3x3", "branch7x7x3"),
    "inception_e": ("branch1x1", "branch3x3", "branch3x3dbl", "branch_pool"),
}

#: Our plain conv stages outside the modules.
CONV_STAGES = ("inception_conv", "inception_conv_valid")


def _shrinks(stride: int | tuple[int, int], kernel: int | tuple[int, int], padding: str) -> bool:
    """Whether a layer makes the grid smaller: a stride, or an unpadded kernel larger than 1."""
    return stride not in (1, (1, 1)) or (padding == "valid" and kernel not in (1, (1, 1)))


def _branches(block: BlockSpec) -> list[tuple[str, Plan]]:
    """A module's branches (``branch1``, ``branch2`` ...), each its plan."""
    return [(name, layer) for name, layer in BLOCKS.get(block.kind).plan(block).layers if isinstance(layer, Plan)]


def _v1_module(block: BlockSpec, ours: str, theirs: str) -> ModuleMap:
    """GoogLeNet: a one-layer branch is the conv itself, a longer one a ``Sequential`` indexed like our plan."""
    entries: ModuleMap = {}
    for name, branch in _branches(block):
        for index, (layer_name, layer) in enumerate(branch.layers):
            if isinstance(layer, ConvSpec):
                at = f"{theirs}.{name}" if len(branch.layers) == 1 else f"{theirs}.{name}.{index}"
                entries.update(conv_norm(f"{ours}.{name}.{layer_name}", f"{at}.conv", f"{at}.bn"))
    return entries


def _v3_branch(branch: Plan, ours: str, theirs: str) -> ModuleMap:
    """Inception v3: our convs of one branch -> ``<name>`` or ``<name>_<n>[a|b]`` (see the module docstring)."""
    convs: list[tuple[str, str]] = []  # (our ConvNormAct path, its suffix number)
    n, forked = 0, False
    for name, layer in branch.layers:
        if isinstance(layer, ConvSpec):
            n += 1
            convs.append((f"{ours}.{name}", str(n)))
        elif isinstance(layer, Plan):  # one side of a forked pair: both share the next number
            if not forked:
                n, forked = n + 1, True
            side = "ab"[int(name.removeprefix("branch")) - 1]
            convs += [(f"{ours}.{name}.{inner}", f"{n}{side}") for inner, conv in layer.layers
                      if isinstance(conv, ConvSpec)]
    single = len(convs) == 1 and not forked
    entries: ModuleMap = {}
    for path, suffix in convs:
        at = theirs if single else f"{theirs}_{suffix}"
        entries.update(conv_norm(path, f"{at}.conv", f"{at}.bn"))
    return entries


def _v3_module(block: BlockSpec, ours: str, theirs: str) -> ModuleMap:
    entries: ModuleMap = {}
    for (name, branch), torchvision_name in zip(_branches(block), V3_BRANCHES.get(block.kind, ())):
        entries.update(_v3_branch(branch, f"{ours}.{name}", f"{theirs}.{torchvision_name}"))
    return entries


def _googlenet(spec: ResolvedNet) -> ModuleMap:
    entries = conv_norm("stem", "conv1.conv", "conv1.bn")
    level = 1 if spec.stem.stride != 1 else 0
    convs, letter = 1, 0
    for i, stage in enumerate(spec.stages):
        for j, block in enumerate(stage):
            ours = f"stages.{i}.{j}"
            if block.stride != 1:  # a max pool: the next level starts
                level, letter = level + 1, 0
            if block.kind in CONV_STAGES:
                convs += 1
                entries.update(conv_norm(f"{ours}.conv", f"conv{convs}.conv", f"conv{convs}.bn"))
            elif block.kind == "inception_v1":
                entries.update(_v1_module(block, ours, f"inception{level}{chr(ord('a') + letter)}"))
                letter += 1
    return entries


def _inception_v3(spec: ResolvedNet) -> ModuleMap:
    stem = spec.stem
    level, letter = 1, 0  # the stem is slot 1a whether or not it shrinks the grid
    entries = conv_norm("stem", f"Conv2d_1a_{stem.kernel}x{stem.kernel}.conv", f"Conv2d_1a_{stem.kernel}x{stem.kernel}.bn")
    for i, stage in enumerate(spec.stages):
        for j, block in enumerate(stage):
            ours = f"stages.{i}.{j}"
            kernel = getattr(block, "kernel", 1)
            if _shrinks(block.stride, kernel, getattr(block, "padding", "")):
                level, letter = level + 1, 0
            else:
                letter += 1
            slot = f"{level}{chr(ord('a') + letter)}"
            if block.kind in CONV_STAGES:
                at = f"Conv2d_{slot}_{kernel}x{kernel}"
                entries.update(conv_norm(f"{ours}.conv", f"{at}.conv", f"{at}.bn"))
            elif block.kind in V3_BRANCHES:
                entries.update(_v3_module(block, ours, f"Mixed_{slot}"))
    return entries


def module_map(spec: ResolvedNet, state_dict: StateDict) -> ModuleMap:
    """Our module paths -> torchvision GoogLeNet / Inception v3 module paths, from the spec's stages.

    Raises:
        UserInputError: if the state dict holds auxiliary-classifier weights.
    """
    aux = sorted({key.split(".")[0] for key in state_dict if key.startswith(AUX_PREFIXES)})
    if aux:
        raise UserInputError(f"the torchvision_inception state dict holds auxiliary classifiers ({', '.join(aux)}), "
                             "which our networks do not have; build the torchvision model with aux_logits=False "
                             "(as search_spaces.reference.reference_model does) and convert its state dict.")
    googlenet = any(block.kind == "inception_v1" for block in spec.blocks())
    entries = _googlenet(spec) if googlenet else _inception_v3(spec)
    entries["head.classifier"] = "fc"
    return entries


SOURCES.register("torchvision_inception", Source(
    library="torchvision", models=("googlenet", "inception_v3"), module_map=module_map,
))
