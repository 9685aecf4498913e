"""Data-parallel plumbing shared by every training command (``nas.train``, ``nas.supernet train``).

Under ``torchrun`` (``WORLD_SIZE`` > 1) a process joins the process group (NCCL on GPUs, gloo on
CPUs) and trains on its own device; otherwise it is rank 0 of 1 and nothing is started.
"""

from __future__ import annotations

import os

import torch

__all__ = ["device_of", "distributed"]


def distributed() -> tuple[int, int]:
    """``(rank, world size)``; starts the process group when ``torchrun`` launched this process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def device_of(rank: int, requested: str = "auto") -> torch.device:
    """The device of process ``rank``: its GPU (``LOCAL_RANK``) when CUDA is present and wanted, else the CPU."""
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    if requested not in ("auto", "cuda"):
        return torch.device(requested)
    index = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)
