"""Starting weights for ``nas.train --init``: a timm/torchvision state dict file, or one of our checkpoints.

A reference state dict goes through :mod:`search_spaces.interop` (strict: every key mapped, every
shape equal). When the file's classifier has another number of classes than the run (ImageNet's
1000 against Fashion-MNIST's 10), the network is converted with the file's class count and the
classifier is re-made: it keeps its fresh initialisation, and only its keys may differ.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search_spaces.errors import UserInputError, first_line
from search_spaces.genome import Network

__all__ = ["init_from", "read_state_dict"]

#: Wrappers training scripts put around a state dict (timm's and torchvision's own scripts).
_WRAPPERS = ("state_dict", "model", "state_dict_ema", "model_ema")


def read_state_dict(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, safetensors metadata)`` of a ``.safetensors`` file or a ``torch.save`` file (no pickle code run).

    Raises:
        UserInputError: missing, unreadable, or not a mapping of tensors.
    """
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"--init: {file} does not exist")
    try:
        if file.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(file), framework="pt") as handle:
                return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})  # noqa: SIM118
        data: Any = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserInputError(f"--init: cannot read {file}: {type(err).__name__}: "
                             f"{first_line(err)}") from None
    for key in _WRAPPERS:
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise UserInputError(f"--init: {file} is not a state dict (a mapping of names to tensors)")
    return data, {}


def _classes(state: dict[str, torch.Tensor], genome: Network, source: str) -> int:
    """The class count of the reference state dict: the rows of the tensor that maps to our classifier."""
    from search_spaces.interop import SOURCES
    from search_spaces.resolve import resolve

    modules = SOURCES.get(source).module_map(resolve(genome), state)
    for ours in ("head.classifier", "head.classifier.conv"):  # a linear classifier, or a 1x1 conv (SqueezeNet)
        weight = state.get(f"{modules[ours]}.weight") if ours in modules else None
        if weight is not None:
            return int(weight.shape[0])
    return genome.num_classes


def init_from(path: str | os.PathLike[str], genome: Network, source: str | None = None,
              log: Callable[[str], None] = print) -> Callable[[nn.Module], None]:
    """A function that loads ``path``'s weights into ``build(genome)`` (``--init``).

    Args:
        path: A timm/torchvision state dict (``.pth``, ``.pt``, ``.bin``, ``.safetensors``) or a
            ``nas.train`` checkpoint.
        genome: The network being trained.
        source: The interop source (``timm_efficientnet``, ``torchvision_resnet``, ...); ``None``:
            the zoo reference of ``genome.name`` decides (a genome file needs it given).
        log: Where the one-line notice about a re-made classifier goes.

    Raises:
        UserInputError: unreadable file, no source for the genome, or weights that do not fit.
    """
    from search_spaces import zoo
    from search_spaces.interop import convert_state_dict, source_for

    state, meta = read_state_dict(path)
    if meta.get("format", "").startswith("nas.train/"):
        converted = {k: v for k, v in state.items() if not k.startswith("ema.")}
        origin = f"the nas.train checkpoint {path}"
    else:
        if source is None:
            if genome.name not in zoo.names() or not zoo.entry(genome.name).reference:
                raise UserInputError(f"--init: {genome.name} is not a zoo model with a reference implementation, so "
                                     "the weights' layout is unknown; name it with --init-source")
            source = source_for(zoo.entry(genome.name).reference)
        classes = _classes(state, genome, source)
        converted = convert_state_dict(state, dataclasses.replace(genome, num_classes=classes), source)
        origin = f"{path} ({source})"

    def load(model: nn.Module) -> None:
        ours = model.state_dict()
        remade = [k for k, v in converted.items() if k in ours and tuple(v.shape) != tuple(ours[k].shape)]
        if any(not k.startswith("head.classifier") for k in remade):
            bad = next(k for k in remade if not k.startswith("head.classifier"))
            raise UserInputError(f"--init: {origin} does not fit {genome.name}: {bad} has shape "
                                 f"{tuple(converted[bad].shape)}, the network needs {tuple(ours[bad].shape)}")
        kept = {k: v for k, v in converted.items() if k not in remade}
        missing, unexpected = model.load_state_dict(kept, strict=False)
        if set(missing) != set(remade) or unexpected:
            raise UserInputError(f"--init: {origin} does not fit {genome.name}: "
                                 f"{len(set(missing) - set(remade))} missing and {len(unexpected)} unexpected keys "
                                 f"({', '.join((sorted(set(missing) - set(remade)) + list(unexpected))[:3])})")
        if remade:
            log(f"--init: loaded {origin}; the classifier is re-made for {genome.num_classes} classes")

    return load
