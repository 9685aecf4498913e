"""Training a supernet: the sandwich rule, optional in-place distillation, progressive shrinking, resume, DDP.

Each step trains several configurations on the same batch and sums their losses before one
optimizer step (Yu et al. 2020, "BigNAS", sec. 3.1, the *sandwich rule*): the largest, the
smallest and ``n`` random configurations. Every configuration learns from the labels; with
``distill`` every one but the largest learns from the largest's predictions instead (*in-place
distillation*, Yu & Huang 2019, "Universally Slimmable Networks", sec. 4; BigNAS's rule). It is
off by default because on Fashion-MNIST, one 3-epoch training each, distillation cost the
smallest and random configurations about 2 points of accuracy, halved how well their scores
rank standalone-trained networks, and its supernet's search found a network 0.10 points under
EfficientNet-B0 where the one without found one 0.78 points above, both at under half its MACs
(docs/BENCHMARKS.md). With ``schedule="progressive"`` the elastic
dimensions are opened one after another (Cai et al. 2020, "Once-for-All", sec. 3.2): the
largest alone, then kernel, then depth, then expansion (middle channels sorted by importance
first) with the remaining choices; the steps are shared equally.

A run is a pure function of its settings: configurations and dropout draws are seeded by
``(seed, step)``, the data order by ``(seed, epoch)``. A checkpoint (weights, optimizer, step)
is written atomically at every epoch's end and every ``checkpoint_minutes``; a resumed run
continues to the same final weights as an uninterrupted one (same device and threads). Under
``torchrun`` each process trains on its own share of every epoch's batches with the same
configurations, and ``DistributedDataParallel`` averages the gradients.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn import functional as F

from nas.data import DataConfig, loaders
from nas.supernet.model import Supernet, SupernetConfig
from nas.supernet.space import ELASTIC
from nas.supernet.score import subnet_accuracy
from nas.training.distributed import device_of, distributed
from nas.training.loop import FINITE_CHECK_EVERY, RunningLoss, mixed_precision, warmup_cosine
from search_spaces import cost
from search_spaces.errors import UserInputError, first_line, state_dict_mismatch
from search_spaces.files import atomic_write, atomic_write_text

__all__ = ["CHECKPOINT", "SCHEDULES", "WEIGHTS", "TrainSettings", "load_supernet", "phase_at", "train_supernet"]

CHECKPOINT = "checkpoint.pt"  #: weights, optimizer and step of an unfinished or finished run
WEIGHTS = "supernet.safetensors"  #: the trained weights alone (what the evaluators read)
SUMMARY = "supernet.yaml"  #: what the supernet is and how it was trained
SCHEDULES = ("sandwich", "progressive")

#: Progressive shrinking (OFA sec. 3.2): the elastic dimensions of each phase, in order.
PHASES: tuple[tuple[str, ...], ...] = ((), ("kernel",), ("kernel", "layers"), tuple(ELASTIC))


@dataclass(frozen=True)
class TrainSettings:
    """How a supernet is trained (every field a ``python -m nas.supernet train`` flag).

    Attributes:
        data: ``--data`` source (``None``: Fashion-MNIST).
        resolution: Image size it trains at.
        epochs: Passes over the training images.
        batch_size: Images per step (per process under ``torchrun``).
        lr: Peak learning rate (SGD, Nesterov momentum 0.9, linear warm-up then cosine). The step sums the
            configurations' losses, so the shared weights move by the sum of their gradients: 0.025 with 4
            configurations is a standalone network's 0.1 per configuration. At 0.1 the configurations between
            the largest and the smallest did not learn (docs/BENCHMARKS.md).
        warmup_epochs: Warm-up length.
        weight_decay: Weight decay of weights (not of norms, biases or kernel transforms).
        label_smoothing: Of every cross-entropy with the labels (with ``distill``, the largest's only).
        random_subnets: Random configurations per step besides the largest and the smallest.
        distill: Whether the others learn from the largest's predictions (in-place distillation) instead of
            the labels (module docstring).
        schedule: ``sandwich`` (every dimension elastic from the start) or ``progressive``.
        budget: If > 0, random configurations are drawn among those with 0.5x to 1.5x these MACs (224 px).
        val_size: Held-out training images, which every configuration is scored on. The split is the
            ``train`` evaluator's seeded permutation, validation first, so its 2,000 held-out images are
            among these. 5,000, not 2,000: which images were drawn moves a configuration's score by
            0.44 points on 2,000 images (0.28 on 5,000), while random configurations' scores spread
            by only 0.7-0.8 points (docs/BENCHMARKS.md; OFA holds out 10,000 ImageNet images for
            the same job).
        subset: Training images used (0: all not held out).
        seed: Seed of the weights, the configurations, the data order and dropout.
        checkpoint_minutes: Also checkpoint this often within an epoch (0: at epoch ends only).
        config: What the supernet is (ops, classes filled from the data, kernel rule).
    """

    data: str | None = None
    resolution: int = 28
    epochs: float = 3.0
    batch_size: int = 128
    lr: float = 0.025
    warmup_epochs: float = 0.25
    weight_decay: float = 3e-5
    label_smoothing: float = 0.1
    random_subnets: int = 2
    distill: bool = False
    schedule: str = "sandwich"
    budget: float = 0.0
    val_size: int = 5000
    subset: int = 0
    seed: int = 0
    checkpoint_minutes: float = 5.0
    config: SupernetConfig = SupernetConfig()

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise UserInputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise UserInputError(f"epochs must be a positive number, got {self.epochs!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserInputError(f"lr must be a positive number, got {self.lr!r}")
        if self.random_subnets < 0:
            raise UserInputError(f"random subnets must be >= 0, got {self.random_subnets}")
        if self.budget < 0:
            raise UserInputError(f"budget must be >= 0 MACs, got {self.budget!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint and the summary."""
        return {**dataclasses.asdict(self), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        """The inverse of :meth:`to_dict`."""
        return cls(**{**data, "config": SupernetConfig.from_dict(data["config"])})


def phase_at(step: int, total: int, schedule: str) -> tuple[str, ...]:
    """The elastic dimensions at ``step`` of ``total`` (progressive: equal shares of :data:`PHASES`)."""
    if schedule == "sandwich":
        return tuple(ELASTIC)
    return PHASES[min(len(PHASES) - 1, step * len(PHASES) // max(1, total))]


def _seed(*parts: int) -> int:
    """One 63-bit seed from several integers (a run's seed, a step, a rank), stable across processes."""
    value = 0x9E3779B97F4A7C15
    for p in parts:
        value = (value ^ (p + 0x632BE59BD9B4E019)) * 0xBF58476D1CE4E5B9 % (1 << 63)
    return value


def _optimizer(supernet: Supernet, s: TrainSettings) -> torch.optim.Optimizer:
    decay, plain = [], []
    for name, p in supernet.named_parameters():
        (decay if p.dim() > 1 and not name.startswith("transforms.") else plain).append(p)
    return torch.optim.SGD([{"params": decay, "weight_decay": s.weight_decay}, {"params": plain, "weight_decay": 0.0}],
                           lr=s.lr, momentum=0.9, nesterov=True)


def _save_checkpoint(path: Path, supernet: Supernet, optimizer: torch.optim.Optimizer, step: int,
                     settings: TrainSettings, history: list[dict[str, Any]]) -> None:
    state = {"supernet": supernet.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "settings": settings.to_dict(), "history": history}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged or foreign file: one sentence, never a traceback
        raise UserInputError(f"cannot read the supernet checkpoint {path}: {type(err).__name__}: "
                             f"{first_line(err)}") from None


def save_weights(out: Path, supernet: Supernet, settings: TrainSettings, summary: dict[str, Any]) -> None:
    """Write the weights (safetensors) and the summary (YAML) an evaluator loads, atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in supernet.state_dict().items()}
    data = save(tensors)
    atomic_write(out / WEIGHTS, lambda handle: handle.write(data))
    atomic_write_text(out / SUMMARY, yaml.safe_dump({"supernet": settings.config.to_dict(),
                                                     "training": settings.to_dict(), **summary}, sort_keys=False))


def load_supernet(directory: str | os.PathLike[str], device: torch.device | str = "cpu") -> Supernet:
    """The trained supernet in ``directory`` (what ``python -m nas.supernet train --out`` wrote).

    Raises:
        UserInputError: if the directory holds no finished supernet, or its files cannot be read.
    """
    from safetensors.torch import load_file

    root = Path(directory)
    weights, summary = root / WEIGHTS, root / SUMMARY
    if not weights.is_file() or not summary.is_file():
        unfinished = (root / CHECKPOINT).is_file()
        raise UserInputError(f"{root} holds no trained supernet ({WEIGHTS} and {SUMMARY})"
                             + ("; its training is unfinished: resume it with --resume" if unfinished else
                                "; train one with python -m nas.supernet train --out DIR"))
    try:
        meta = yaml.safe_load(summary.read_text())
        config = SupernetConfig.from_dict(meta["supernet"])
        tensors = load_file(str(weights))
    except Exception as err:
        raise UserInputError(f"cannot read the supernet in {root}: {type(err).__name__}: {first_line(err)}") from None
    supernet = Supernet(config)
    problem = state_dict_mismatch(supernet.state_dict(), tensors)
    if problem:
        raise UserInputError(f"the weights in {weights} do not fit the supernet {summary} describes: {problem}")
    supernet.load_state_dict(tensors, strict=True)
    supernet.meta = meta  # type: ignore[attr-defined]
    return supernet.to(device).eval()


def _batches(train: Any, epoch: int, rank: int, world: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Epoch ``epoch``'s batches of this process (every ``world``-th, from ``rank``)."""
    train._pass = epoch  # Batches shuffles with seed + pass number: set it, so a resumed epoch replays
    for i, batch in enumerate(train):
        if i % world == rank:
            yield batch


def train_supernet(settings: TrainSettings, out: Path, resume: bool = False, stop_after: int = 0,
                   progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train a supernet into ``out`` (checkpoint, then weights and summary); return the summary.

    Args:
        settings: The run.
        out: Its directory.
        resume: Continue the checkpoint in ``out`` (its settings must equal ``settings``).
        stop_after: If > 0, stop after this many steps of this call, leaving a checkpoint (a preempted job).
        progress: Show a progress bar (rank 0).
        log: Where one-line messages go (rank 0).

    Raises:
        UserInputError: a checkpoint exists without ``resume``, or ``resume`` without one, or its
            settings differ; the data cannot be read.
    """
    rank, world = distributed()
    device = device_of(rank)
    out = Path(out)
    ckpt_path = out / CHECKPOINT
    state: dict[str, Any] | None = None
    if resume:
        if not ckpt_path.is_file():
            raise UserInputError(f"--resume: {out} holds no checkpoint to continue ({CHECKPOINT})")
        state = _load_checkpoint(ckpt_path)
        if state.get("settings") != settings.to_dict():
            theirs = TrainSettings.from_dict(state["settings"]).to_dict()
            diff = [k for k in theirs if theirs[k] != settings.to_dict()[k]]
            raise UserInputError(f"--resume: the checkpoint in {out} was trained with other settings "
                                 f"({', '.join(diff)}); resume with the same flags")
    elif ckpt_path.exists():
        raise UserInputError(f"{out} already holds a supernet checkpoint; add --resume to continue it, or choose "
                             "another --out")

    data = DataConfig(source=settings.data, resolution=settings.resolution, channels=settings.config.in_channels,
                      batch_size=settings.batch_size, subset=settings.subset, val_size=settings.val_size,
                      seed=settings.seed)
    train_batches, val_batches, dataset = loaders(data, device)
    config = dataclasses.replace(settings.config, num_classes=dataset.num_classes, resolution=settings.resolution)
    settings = dataclasses.replace(settings, config=config)
    torch.manual_seed(settings.seed)
    supernet = Supernet(config).to(device)
    if device.type == "cuda":
        supernet = supernet.to(memory_format=torch.channels_last)
    optimizer = _optimizer(supernet, settings)
    per_epoch = max(1, len(train_batches) // world)
    total = max(1, round(settings.epochs * per_epoch))
    warmup = round(settings.warmup_epochs * per_epoch)
    step, history = 0, []
    if state is not None:
        supernet.load_state_dict(state["supernet"])
        optimizer.load_state_dict(state["optimizer"])
        step, history = int(state["step"]), list(state["history"])
    model: nn.Module = supernet
    if world > 1:
        model = nn.parallel.DistributedDataParallel(supernet, find_unused_parameters=True)
    macs = (0.5 * settings.budget, 1.5 * settings.budget) if settings.budget else None
    calibration = [b for _, b in zip(range(8), iter(train_batches))]
    autocast, scaler = mixed_precision(device)
    losses = RunningLoss(device, "the supernet's loss", "; lower --lr")  # read every few steps, never inside one

    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc="supernet", unit="step", dynamic_ncols=True)
    last_save, done_here, started = time.monotonic(), 0, time.monotonic()
    phase = phase_at(max(0, step - 1), total, settings.schedule)  # a resumed run reorders where a whole one did
    supernet.train()
    while step < total:
        epoch, offset = divmod(step, per_epoch)
        for i, (x, y) in enumerate(_batches(train_batches, epoch, rank, world)):
            if i < offset:
                continue
            if i >= per_epoch or step >= total:
                break
            now = phase_at(step, total, settings.schedule)
            if now != phase and "op" in now and "op" not in phase:
                supernet.reorder_channels(optimizer)  # OFA: sort middle channels before expansion shrinks
            phase = now
            rng = random.Random(_seed(settings.seed, step))
            torch.manual_seed(_seed(settings.seed, step, rank))
            genomes = [supernet.largest()]
            if phase:
                genomes.append(supernet.proxy(supernet.coverage.smallest(phase)))
                genomes += [supernet.proxy(supernet.coverage.sample(rng, phase, macs))
                            for _ in range(settings.random_subnets)]
            for group in optimizer.param_groups:
                group["lr"] = warmup_cosine(step, total, warmup, settings.lr)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast():
                logits = model(x, genomes)
                loss = F.cross_entropy(logits[0], y, label_smoothing=settings.label_smoothing)
                teacher = F.softmax(logits[0].detach().float(), dim=1)
                for other in logits[1:]:
                    loss = loss + (F.cross_entropy(other.float(), teacher) if settings.distill
                                   else F.cross_entropy(other, y, label_smoothing=settings.label_smoothing))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.add(loss / len(genomes))
            step += 1
            done_here += 1
            end_of_epoch = step % per_epoch == 0 or step == total
            due = settings.checkpoint_minutes > 0 and time.monotonic() - last_save >= 60 * settings.checkpoint_minutes
            stopping = stop_after and done_here >= stop_after
            if step % FINITE_CHECK_EVERY == 0 or end_of_epoch or due or stopping:
                mean = losses.read(step, reset=True)  # before any validation or checkpoint: no NaN weights saved
                if bar is not None:
                    bar.set_postfix(loss=f"{mean:.3f}", epoch=f"{step / per_epoch:.2f}")
            if bar is not None:
                bar.update(1)
            if end_of_epoch and rank == 0:
                record = _validate(supernet, calibration, val_batches, step / per_epoch, macs, settings.seed)
                history.append(record)
                supernet.train()
                log(f"epoch {record['epoch']:.2f}: validation accuracy of the largest {record['largest']:.4f}, "
                    f"the smallest {record['smallest']:.4f}, {PROBES} random configurations {record['random']:.4f}")
            if (end_of_epoch or due or stopping) and rank == 0:
                _save_checkpoint(ckpt_path, supernet, optimizer, step, settings, history)
                last_save = time.monotonic()
            if stopping:
                if bar is not None:
                    bar.close()
                return {"step": step, "total": total, "finished": False}
    if bar is not None:
        bar.close()
    summary = {"steps": total, "epochs": settings.epochs, "wall_s_last_run": round(time.monotonic() - started, 1),
               "history": history,
               "largest": {"macs_224": cost(supernet.coverage.largest()).macs},
               "smallest": {"macs_224": cost(supernet.coverage.smallest()).macs}}
    if rank == 0:
        save_weights(out, supernet, settings, summary)
    return {**summary, "step": step, "total": total, "finished": True}


#: Random configurations validated at every epoch's end beside the largest and smallest: the two fixed
#: members of the sandwich can learn while the configurations between them do not (docs/BENCHMARKS.md).
PROBES = 4


def _validate(supernet: Supernet, calibration: Sequence[Any], val_batches: Any, epoch: float,
              macs: tuple[float, float] | None, seed: int) -> dict[str, float]:
    """Validation accuracy of the largest, the smallest and the mean of :data:`PROBES` fixed random configurations."""
    rng = random.Random(_seed(seed, -1))  # the same probes at every epoch, none of them a training draw
    probes = [supernet.coverage.sample(rng, macs=macs) for _ in range(PROBES)]
    return {"epoch": round(epoch, 4),
            "largest": subnet_accuracy(supernet, supernet.largest(), calibration, val_batches),
            "smallest": subnet_accuracy(supernet, supernet.smallest(), calibration, val_batches),
            "random": sum(subnet_accuracy(supernet, g, calibration, val_batches) for g in probes) / PROBES}
