"""The converter contract: a source names our modules in a reference library's terms.

A *source* is a reference family (``timm_efficientnet``, ``torchvision_mobilenet``). Given
our resolved spec it returns a *module map*: our module path (``stages.1.0.dw.conv``) ->
the reference's module path (``blocks.1.0.conv_dw``), one entry per conv, norm, linear or
SE conv, derived from the spec's block kinds and layer names. :func:`convert_state_dict`
then pairs every tensor of our module (``<path>.weight``, ``<path>.running_mean``, ...)
with the same tensor under the reference path, and refuses anything that does not fit:
reference keys it needs but cannot find, reference keys nothing uses, our keys no
reference module stands for, and any shape difference. The one reshape it makes is one a
source declares: a 1x1 conv weight ``(out, in, 1, 1)`` taken as the ``(out, in)`` weight
of one of our linear layers (timm's ``resnetv2`` classifier), as a view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.blocks import BLOCKS, BlockSpec
from search_spaces.build import Net
from search_spaces.errors import UserInputError, listing
from search_spaces.genome import Network
from search_spaces.registry import Registry
from search_spaces.resolve import ResolvedNet, resolve

__all__ = [
    "SOURCES", "ModuleMap", "Source", "StateDict", "block_layers", "conv_norm", "convert_state_dict",
    "load_reference", "source_for", "squeeze_excite", "target_shapes",
]

#: Our module path -> the reference's module path.
ModuleMap = dict[str, str]
StateDict = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Source:
    """A reference family whose weights we can load.

    Attributes:
        library: The library's name as zoo references spell it (``timm``, ``torchvision``).
        models: Model-name prefixes of that library this source handles
            (``tf_efficientnet``, ``mobilenet_v3``).
        module_map: ``(spec, state_dict) -> ModuleMap``; the state dict is passed only so a
            source covering several key layouts can tell which one it was given.
        conv_linears: Our linear layers (module paths, ``head.classifier``) whose reference
            counterpart is a 1x1 conv: its ``(out, in, 1, 1)`` weight is taken as an
            ``(out, in)`` view. Any other shape difference is still refused.
    """

    library: str
    models: tuple[str, ...]
    module_map: Callable[[ResolvedNet, StateDict], ModuleMap]
    conv_linears: tuple[str, ...] = ()

    def handles(self, reference: str) -> bool:
        """Whether ``library:model`` (a zoo reference; a ``.tag`` suffix is ignored) is ours."""
        library, _, model = reference.partition(":")
        return library == self.library and model.split(".")[0].startswith(self.models)


SOURCES: Registry[Source] = Registry("weights source")


def source_for(reference: str) -> str:
    """The registered source that converts weights of ``reference`` (``timm:tf_efficientnet_b0``).

    Raises:
        UserInputError: if no source handles it.
    """
    for name in SOURCES:
        if SOURCES.get(name).handles(reference):
            return name
    raise UserInputError(f"no weights source handles reference {reference!r}; sources: {', '.join(SOURCES)}.")


def conv_norm(ours: str, conv: str, norm: str) -> ModuleMap:
    """The entries of one of our ``ConvNormAct`` layers: its ``conv`` and its ``bn``."""
    return {f"{ours}.conv": conv, f"{ours}.bn": norm}


def squeeze_excite(ours: str, reduce: str, expand: str) -> ModuleMap:
    """The entries of one of our ``SqueezeExcite`` layers: its ``reduce`` and ``expand`` convs."""
    return {f"{ours}.reduce": reduce, f"{ours}.expand": expand}


def block_layers(block: BlockSpec) -> tuple[str, ...]:
    """Our layer names of a resolved block, in forward order (``expand``, ``dw``, ``se``, ``project``)."""
    return tuple(name for name, _ in BLOCKS.get(block.kind).plan(block).layers)


def target_shapes(spec: ResolvedNet) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of the module ``spec`` builds and its shape (built on the meta device: no memory)."""
    with torch.device("meta"):
        net = Net(spec)
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


def convert_state_dict(state_dict: StateDict | nn.Module, genome: Network | ResolvedNet,
                       source: str) -> dict[str, torch.Tensor]:
    """Rename a reference model's state dict to the keys of ``build(genome)``.

    The conversion is strict: every key of our module gets exactly one reference tensor
    of exactly its shape, and every reference key is used. The tensors are not copied (a
    1x1 conv weight the source declares for a linear layer of ours becomes a view of it).

    Args:
        state_dict: The reference model's state dict (or the model itself).
        genome: Our architecture (or its resolved spec) the weights are for.
        source: Registered source name (``timm_efficientnet``, ``torchvision_mobilenet``);
            :func:`source_for` finds it from a zoo reference.

    Returns:
        Our state dict, in our key order, ready for ``load_state_dict(strict=True)``.

    Raises:
        UserInputError: naming the keys, if keys are missing, unused or unmatched, or the
            key and both shapes at the first shape difference; ``UnknownNameError`` (a
            ``UserInputError``) for an unknown source.
    """
    src = SOURCES.get(source)
    if isinstance(state_dict, nn.Module):
        state_dict = state_dict.state_dict()
    spec = genome if isinstance(genome, ResolvedNet) else resolve(genome)
    target = target_shapes(spec)
    modules = src.module_map(spec, state_dict)
    pairs: dict[str, str] = {}
    unmatched: list[str] = []
    for key in target:
        path, _, leaf = key.rpartition(".")
        if path in modules:
            pairs[key] = f"{modules[path]}.{leaf}"
        else:
            unmatched.append(key)
    if len(set(pairs.values())) != len(pairs):
        raise RuntimeError(f"source {source!r} maps two of our modules onto one reference module")
    _check_keys(state_dict, pairs, unmatched, spec.name, source)
    converted: dict[str, torch.Tensor] = {}
    for ours, theirs in pairs.items():
        tensor = state_dict[theirs]
        have, need = tuple(tensor.shape), target[ours]
        if have == (*need, 1, 1) and ours.rpartition(".")[0] in src.conv_linears:
            tensor = tensor.view(need)  # unit spatial dims carry no data: a view, never a copy
        elif have != need:
            raise UserInputError(f"{source} key {theirs} has shape {have} but {spec.name}'s {ours} needs {need}.")
        converted[ours] = tensor
    return converted


def _check_keys(state_dict: StateDict, pairs: dict[str, str], unmatched: list[str], name: str, source: str) -> None:
    """Raise one sentence naming every kind of key mismatch between the two key sets."""
    used = set(pairs.values())
    missing = [theirs for theirs in pairs.values() if theirs not in state_dict]
    unexpected = [key for key in state_dict if key not in used]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} keys ({listing(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({listing(unexpected)})")
    if unmatched:
        problems.append(f"{len(unmatched)} keys of ours with no {source} counterpart ({listing(unmatched)})")
    if problems:
        raise UserInputError(f"the {source} state dict does not fit {name}: {'; '.join(problems)}.")


def load_reference(model: Net, state_dict: StateDict | nn.Module, source: str) -> Net:
    """Load a reference model's weights into our built ``model`` (strictly) and return it.

    Args:
        model: A module from :func:`search_spaces.build`.
        state_dict: The reference model's state dict (or the model itself).
        source: Registered source name, as for :func:`convert_state_dict`.
    """
    model.load_state_dict(convert_state_dict(state_dict, model.spec, source), strict=True)
    return model
