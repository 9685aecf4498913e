"""Checkpoints of ``nas.train``: weights in safetensors, the rest in a small state file, both written atomically.

A checkpoint is two files in the run directory:

- ``KIND.safetensors`` (``last`` or ``best``): the model's weights and, with EMA, the averaged
  weights under ``ema.``; its metadata carries the genome (YAML), the recipe and the data
  settings (JSON), the step and the epoch, so the file alone rebuilds the network (export,
  evaluation, a fine-tuning start). No pickle.
- ``KIND.state-STEP.pt`` (``last`` only): optimizer, scheduler and grad-scaler state and the
  metrics history, read back with ``torch.load(weights_only=True)``.

Both are replaced by atomic renames. The state file of a step is written before the weights of
that step and deleted only after the weights of a later step replaced them, so a kill at any
moment leaves a weights file and the state file of the same step.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from search_spaces.errors import UserInputError, first_line, state_dict_mismatch
from search_spaces.files import atomic_write

__all__ = ["FORMAT", "Checkpoint", "find_checkpoint", "read_checkpoint", "save_checkpoint"]

FORMAT = "nas.train/1"  #: metadata ``format`` of a checkpoint written here


@dataclass
class Checkpoint:
    """A checkpoint read back.

    Attributes:
        path: The weights file.
        meta: Its metadata: ``genome`` (dict), ``recipe`` (dict), ``data`` (dict), ``step``, ``epoch``, ...
        weights: The model's state dict.
        ema: The EMA weights' state dict (empty without EMA).
        state: Optimizer/scheduler state (``None`` unless asked for and present).
    """

    path: Path
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    state: dict[str, Any] | None = None

    def genome(self) -> Any:
        """The network the weights belong to."""
        from search_spaces.codec import from_dict

        return from_dict(self.meta["genome"], source=str(self.path))

    def model(self, weights: str = "auto") -> Any:
        """The network built from its genome with these weights loaded strictly, in eval mode.

        Args:
            weights: ``model`` (the trained weights), ``ema`` (their moving average) or ``auto``
                (the EMA when the file has one, as the recipes evaluate it).
        """
        from search_spaces import build

        if weights not in ("auto", "model", "ema"):
            raise UserInputError(f"weights must be auto, model or ema, got {weights!r}")
        if weights == "ema" and not self.ema:
            raise UserInputError(f"{self.path} holds no EMA weights (its recipe keeps none)")
        chosen = self.ema if (weights == "ema" or weights == "auto" and self.ema) else self.weights
        net = build(self.genome())
        problem = state_dict_mismatch(net.state_dict(), chosen)
        if problem:
            raise UserInputError(f"the weights in {self.path} do not fit its genome: {problem}")
        net.load_state_dict(chosen, strict=True)
        return net.eval()


def _state_files(directory: Path, kind: str) -> list[Path]:
    return sorted(directory.glob(f"{kind}.state-*.pt"))


def save_checkpoint(directory: Path, kind: str, model: dict[str, torch.Tensor], ema: dict[str, torch.Tensor] | None,
                    meta: dict[str, Any], state: dict[str, Any] | None = None) -> Path:
    """Write checkpoint ``kind`` (weights, and ``state`` if given) into ``directory`` atomically; return its path."""
    from safetensors.torch import save

    step = int(meta["step"])
    if state is not None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write(directory / f"{kind}.state-{step:09d}.pt", lambda handle: handle.write(buffer.getbuffer()))
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in (ema or {}).items()})
    text = {"format": FORMAT, **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}}
    data = save(tensors, metadata=text)
    path = atomic_write(directory / f"{kind}.safetensors", lambda handle: handle.write(data))
    for old in _state_files(directory, kind):
        if old.name != f"{kind}.state-{step:09d}.pt":
            old.unlink(missing_ok=True)
    return path


def find_checkpoint(path: str | os.PathLike[str], kind: str = "best") -> Path:
    """The weights file ``path`` names: the file itself, or ``kind`` (then ``last``) in a run directory."""
    target = Path(path)
    if target.is_dir():
        for name in (kind, "last"):
            if (target / f"{name}.safetensors").is_file():
                return target / f"{name}.safetensors"
        raise UserInputError(f"{target} holds no checkpoint ({kind}.safetensors or last.safetensors); "
                             "train one with python -m nas.train ... --out DIR")
    if not target.is_file():
        raise UserInputError(f"checkpoint {target} does not exist")
    return target


def read_checkpoint(path: str | os.PathLike[str], with_state: bool = False) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (``path``: the weights file or the run directory).

    Raises:
        UserInputError: not a checkpoint of ``nas.train``, damaged, or (``with_state``) its state file is gone.
    """
    from safetensors import safe_open

    weights = find_checkpoint(path, "last" if with_state else "best")
    try:
        with safe_open(str(weights), framework="pt") as handle:
            raw_meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except Exception as err:  # damaged or foreign: one sentence
        raise UserInputError(f"cannot read the checkpoint {weights}: {type(err).__name__}: "
                             f"{first_line(err)}") from None
    if raw_meta.get("format") != FORMAT:
        raise UserInputError(f"{weights} is not a checkpoint written by nas.train (no {FORMAT!r} metadata); "
                             "for a timm or torchvision state dict use nas.train --init")
    meta: dict[str, Any] = {}
    for key, value in raw_meta.items():
        try:
            meta[key] = json.loads(value) if key != "format" else value
        except json.JSONDecodeError:
            meta[key] = value
    if isinstance(meta.get("genome"), str):
        meta["genome"] = yaml.safe_load(meta["genome"])
    model = {k: v for k, v in tensors.items() if not k.startswith("ema.")}
    ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
    state = None
    if with_state:
        file = weights.parent / f"{weights.stem}.state-{int(meta['step']):09d}.pt"
        if not file.is_file():
            raise UserInputError(f"{weights.parent} has the weights of step {meta['step']} but not their state file "
                                 f"{file.name}; it cannot be resumed")
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as err:
            raise UserInputError(f"cannot read {file}: {type(err).__name__}: "
                                 f"{first_line(err)}") from None
    return Checkpoint(weights, meta, model, ema, state)
