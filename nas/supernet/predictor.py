"""An accuracy predictor: a small MLP from a configuration's encoding to its supernet accuracy.

Once-for-All searches its trained supernet with an accuracy predictor instead of the
supernet itself (Cai et al. 2020, "Once-for-All", sec. 3.4): a three-layer MLP of 400 ReLU
units per layer over the one-hot encoding of the configuration
(:mod:`nas.supernet.encoding`), fitted on a few thousand configurations scored with the
supernet's weights (:mod:`nas.supernet.samples`). It then answers for a whole batch of
candidates in one matrix product, so an evolutionary search can rank tens of thousands.

Here the target is standardised (mean and standard deviation of the training accuracies
are kept with the weights), training is Adam on mean squared error with early stopping on a
seeded validation slice (the weights of the best validation epoch are kept), and every
random choice (initialisation, the slice, the batch order) comes from the predictor's seed,
so a fit on the CPU with the same threads gives the same weights.

A predictor is an ensemble: ``members`` MLPs fitted alike on one validation slice, each from
its own initialisation and batch order, whose predictions are averaged (Lakshminarayanan et
al. 2017, "Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles").
Averaging removes the part of each MLP's error that comes from its seed and its early stop: on
1,000 supernet-scored configurations, five members lowered the error on 200 held-out ones from
0.43-0.45 to 0.41-0.43 points on each of five splits (docs/BENCHMARKS.md). The first member is
the single MLP a predictor of one member is.

Saved as one safetensors file whose metadata holds a JSON header: the format, the encoding's
columns, the MLP's shape and members, the target's scale, how it was fitted, and where its data came
from (the supernet's directory and a digest of its weights). :meth:`AccuracyPredictor.load`
refuses a file of another format or encoding with one sentence.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.supernet.encoding import Encoding, encode, encode_batch, encode_params, encoding_of
from nas.supernet.samples import collect
from nas.threads import fixed_threads
from search_spaces.errors import UserInputError, first_line, state_dict_mismatch
from search_spaces.files import atomic_write
from search_spaces.genome import Network

__all__ = ["FORMAT", "HIDDEN", "MEMBERS", "AccuracyPredictor", "FitReport", "collect", "encode", "encode_batch",
           "encode_params"]

#: Identifies a predictor file (and its layout version) in its safetensors metadata.
FORMAT = "nas-accuracy-predictor/2"
#: The single-MLP layout before ensembles (its tensors are one MLP's, unprefixed); still read.
FORMAT_V1 = "nas-accuracy-predictor/1"
#: OFA's accuracy predictor: three hidden layers of 400 units.
HIDDEN = (400, 400, 400)
#: MLPs averaged by default (see the module docstring).
MEMBERS = 5


@dataclass(frozen=True)
class FitReport:
    """How a fit went.

    Attributes:
        train: Configurations the weights were fitted on.
        validation: Configurations held out for early stopping.
        epochs: Epochs run.
        best_epoch: The epoch whose weights were kept (lowest validation error).
        validation_rmse: Root mean squared error on the validation slice, in the target's unit (the
            ensemble's, when there are several members).
        members: MLPs averaged; ``epochs`` and ``best_epoch`` are then the longest-trained member's.
    """

    train: int
    validation: int
    epochs: int
    best_epoch: int
    validation_rmse: float
    members: int = 1


def _mlp(width: int, hidden: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, 1))


class AccuracyPredictor:
    """Predicts a configuration's accuracy from its encoding.

    Args:
        encoding: The configuration encoding it reads.
        hidden: Units of each hidden layer (OFA: three of 400).
        seed: Seed of the initialisation and of every random choice of :meth:`fit`.
        meta: Provenance kept in the file (supernet directory, samples, test scores, ...).
        members: MLPs whose predictions are averaged (1: Once-for-All's single MLP).
    """

    def __init__(self, encoding: Encoding, hidden: Sequence[int] = HIDDEN, seed: int = 0,
                 meta: Mapping[str, Any] | None = None, members: int = MEMBERS) -> None:
        if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise UserInputError(f"predictor hidden layers must be positive integers, got {list(hidden)!r}")
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise UserInputError(f"predictor members must be a positive integer, got {members!r}")
        self.encoding, self.hidden, self.seed = encoding, tuple(hidden), seed
        self.meta: dict[str, Any] = dict(meta or {})
        self.mean, self.std = 0.0, 1.0
        self.report: FitReport | None = None
        self.nets = nn.ModuleList()  # its state dict names member i's tensors "i.<name>": the file's layout
        for i in range(members):
            with torch.random.fork_rng(devices=[]):  # seeded without touching the caller's generator
                torch.manual_seed(self._member_seed(i))
                self.nets.append(_mlp(encoding.width, self.hidden).eval())

    @property
    def members(self) -> int:
        """MLPs averaged."""
        return len(self.nets)

    def _member_seed(self, i: int) -> int:
        """Member 0 draws from the predictor's seed; member ``i`` from a 32-bit hash of (seed, i) (torch's CPU
        generator keeps 32 bits of a seed, so an offset of 2**32 would repeat member 0)."""
        if i == 0:
            return self.seed
        return int.from_bytes(hashlib.sha256(f"{self.seed}/{i}".encode()).digest()[:4], "big")

    # -- fitting --------------------------------------------------------------------------------------------

    def fit(self, x: np.ndarray | torch.Tensor, y: Sequence[float] | np.ndarray, *, epochs: int = 500,
            batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-4, validation: float = 0.1,
            patience: int = 50, threads: int | None = 1) -> FitReport:
        """Fit the MLP (from its current weights) to encoded configurations ``x`` and their accuracies ``y``.

        Args:
            x: One encoded configuration per row.
            y: Their accuracies.
            epochs: Most passes over the training rows.
            batch_size: Rows per Adam step.
            lr: Adam's learning rate.
            weight_decay: Adam's L2 penalty.
            validation: Share of the rows held out for early stopping (at least one row).
            patience: Epochs without a better validation error before stopping.
            threads: torch CPU threads while fitting (``None``: torch's setting). One by default: the MLP
                is small, so more threads mostly wait on each other, and the weights depend on the count.

        Raises:
            UserInputError: fewer than 4 rows, rows of another width, non-finite targets, or a setting out of range.
        """
        for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserInputError(f"predictor fit {name} must be a positive integer, got {value!r}")
        if not (0 < validation < 1 and lr > 0 and weight_decay >= 0):
            raise UserInputError(f"predictor fit needs 0 < validation < 1, lr > 0 and weight_decay >= 0, got "
                                 f"{validation!r}, {lr!r} and {weight_decay!r}")
        xs, ys = self._tensor(x), torch.as_tensor(np.asarray(y, dtype=np.float64), dtype=torch.float32).reshape(-1)
        if len(xs) != len(ys):
            raise UserInputError(f"predictor fit: {len(xs)} encoded configurations but {len(ys)} accuracies")
        if len(xs) < 4:
            raise UserInputError(f"predictor fit needs at least 4 scored configurations, got {len(xs)}")
        if not torch.isfinite(ys).all():
            raise UserInputError("predictor fit: the accuracies must be finite numbers")
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(xs), generator=generator)
        held = max(1, round(validation * len(xs)))
        val, train = order[:held], order[held:]
        self.mean = float(ys[train].mean())
        self.std = float(ys[train].std()) if len(train) > 1 and float(ys[train].std()) > 1e-12 else 1.0
        target = (ys - self.mean) / self.std
        runs = []
        with fixed_threads(threads):
            for i, net in enumerate(self.nets):  # one validation slice; each member its own batch order
                batches = generator if i == 0 else torch.Generator().manual_seed(self._member_seed(i))
                runs.append(_train(net, xs, target, train, val, batches, epochs=epochs, batch_size=batch_size,
                                   lr=lr, weight_decay=weight_decay, patience=patience))
            with torch.no_grad():
                error = float(nn.functional.mse_loss(self._forward(xs[val]), target[val]))
        best_epoch, epoch = max(runs, key=lambda run: run[1])
        self.report = FitReport(len(train), len(val), epoch, best_epoch, math.sqrt(error) * self.std, self.members)
        return self.report

    def _forward(self, xs: torch.Tensor) -> torch.Tensor:
        """The members' mean standardised prediction, one value per row."""
        return torch.stack([net(xs).squeeze(1) for net in self.nets]).mean(0)

    def _tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        xs = torch.as_tensor(x, dtype=torch.float32)
        xs = xs.reshape(1, -1) if xs.dim() == 1 else xs
        if xs.dim() != 2 or xs.shape[1] != self.encoding.width:
            raise UserInputError(f"the predictor reads encoded configurations of width {self.encoding.width}, got "
                                 f"an array of shape {tuple(np.shape(x))}")
        return xs

    # -- predicting -----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Predicted accuracies of encoded configurations (one row each, or one vector): one forward pass."""
        return (self._forward(self._tensor(x)).double() * self.std + self.mean).numpy()

    def predict_params(self, batch: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted accuracies of parameter assignments (no decoding: what a search evaluates)."""
        return self.predict(self.encoding.encode_params(batch))

    def predict_genomes(self, genomes: Sequence[Network]) -> np.ndarray:
        """Predicted accuracies of genomes (refusing one the supernet holds no weights for)."""
        return self.predict(self.encoding.encode_genomes(genomes))

    # -- files ----------------------------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """What the file's metadata holds besides the weights (plain data)."""
        return {"format": FORMAT, "space": self.encoding.coverage.space.name, "ops": list(self.encoding.coverage.ops),
                "encoding": self.encoding.spec(), "hidden": list(self.hidden), "members": self.members,
                "seed": self.seed,
                "target": {"mean": self.mean, "std": self.std},
                "fit": asdict(self.report) if self.report is not None else None, "meta": self.meta}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the weights and the header into one safetensors file, atomically."""
        from safetensors.torch import save

        tensors = {k: v.detach().contiguous() for k, v in self.nets.state_dict().items()}
        data = save(tensors, metadata={"format": FORMAT, "header": json.dumps(self.header())})
        return atomic_write(path, lambda handle: handle.write(data))

    @classmethod
    def load(cls, path: str | os.PathLike[str], encoding: Encoding | None = None) -> AccuracyPredictor:
        """Read a file :meth:`save` wrote.

        Args:
            path: The file.
            encoding: If given, the encoding the caller reads configurations with; a file of another is refused.

        Raises:
            UserInputError: one sentence, for a missing or unreadable file, another format, or another encoding.
        """
        from safetensors import safe_open

        where = os.fspath(path)
        if not os.path.isfile(where):
            raise UserInputError(f"no accuracy predictor at {where}; make one with python -m nas.supernet predictor "
                                 "--supernet DIR --out FILE")
        try:
            with safe_open(where, framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        except Exception as err:  # noqa: BLE001  (a damaged or foreign file: one sentence, never a traceback)
            raise UserInputError(f"cannot read the accuracy predictor {where}: {type(err).__name__}: "
                                 f"{first_line(err)}") from None
        if metadata.get("format") not in (FORMAT, FORMAT_V1):
            raise UserInputError(f"{where} is not an accuracy predictor of this toolkit ({FORMAT}); make one with "
                                 "python -m nas.supernet predictor")
        try:
            header = json.loads(metadata["header"])
            own = encoding_of(tuple(header["ops"]))
            predictor = cls(own, tuple(header["hidden"]), int(header["seed"]), header.get("meta"),
                            int(header.get("members", 1)))
            predictor.mean, predictor.std = float(header["target"]["mean"]), float(header["target"]["std"])
            predictor.report = FitReport(**header["fit"]) if header.get("fit") else None
        except (KeyError, TypeError, ValueError) as err:
            raise UserInputError(f"the accuracy predictor {where} has an unusable header ({type(err).__name__}: "
                                 f"{err})") from None
        if header["encoding"] != _plain(own.spec()):
            raise UserInputError(f"{where} encodes configurations differently from this version's "
                                 f"{own.coverage.space.name} space (parameter {_first_difference(header['encoding'], own.spec())}); "
                                 "make it again with python -m nas.supernet predictor")
        if encoding is not None and _plain(encoding.spec()) != header["encoding"]:
            raise UserInputError(f"{where} was made for a supernet of ops {', '.join(header['ops'])}, not of "
                                 f"{', '.join(encoding.coverage.ops)}: its encoding differs")
        if metadata["format"] == FORMAT_V1:
            tensors = {f"0.{k}": v for k, v in tensors.items()}
        problem = state_dict_mismatch(predictor.nets.state_dict(), tensors)
        if problem:
            raise UserInputError(f"the weights in {where} do not fit the MLP its header describes: {problem}")
        predictor.nets.load_state_dict(tensors, strict=True)
        return predictor


def _train(net: nn.Sequential, xs: torch.Tensor, target: torch.Tensor, train: torch.Tensor, val: torch.Tensor,
           generator: torch.Generator, *, epochs: int, batch_size: int, lr: float, weight_decay: float,
           patience: int) -> tuple[int, int]:
    """Adam with early stopping; ``net`` keeps its best validation epoch's weights. Returns (best epoch, epochs)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_epoch, best_state, epoch = math.inf, 0, _state(net), 0
    for epoch in range(1, epochs + 1):
        net.train()
        for batch in train[torch.randperm(len(train), generator=generator)].split(batch_size):
            loss = nn.functional.mse_loss(net(xs[batch]).squeeze(1), target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            error = float(nn.functional.mse_loss(net(xs[val]).squeeze(1), target[val]))
        if error < best:
            best, best_epoch, best_state = error, epoch, _state(net)
        elif epoch - best_epoch >= patience:
            break
    net.load_state_dict(best_state)
    return best_epoch, epoch


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _plain(data: Any) -> Any:
    """``data`` as it reads back from JSON (tuples become lists, floats stay floats)."""
    return json.loads(json.dumps(data))


def _first_difference(theirs: Sequence[Any], ours: Sequence[Any]) -> str:
    mine = _plain(ours)
    for i, (a, b) in enumerate(zip(theirs, mine)):
        if a != b:
            return f"{i}: {a} in the file, {b} here"
    return f"count: {len(theirs)} in the file, {len(mine)} here"
