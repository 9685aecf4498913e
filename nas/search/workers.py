"""How many local worker processes a search starts when ``--workers`` is not given (``auto``).

On a CPU, one: a proxy trial already uses every core through torch's threads, and more processes only
split them. On a GPU, several: a 28-px proxy trial leaves an H200 idle most of the time (its host work,
kernel launches and the per-shape set-up of new convolutions, dominates; docs/BENCHMARKS.md, issue 21),
and eight workers sharing one GPU finished a trial every 3.3 s against 7.5-37 s for one. The count is
bounded by the host's cores (each worker keeps two busy: its Python loop and torch's intra-op thread)
and by the GPU's free memory (:data:`GPU_BYTES_PER_WORKER` each).
"""

from __future__ import annotations

import os

import torch

__all__ = ["CORES_PER_WORKER", "GPU_BYTES_PER_WORKER", "MAX_GPU_WORKERS", "auto_workers", "workers_for"]

#: Most workers started on one GPU by default: eight is the count measured on an H200 with 16 host cores
#: (3.3 s a trial); more have not been measured.
MAX_GPU_WORKERS = 8
#: GPU memory set aside per worker: a CUDA context (about 0.5 GiB) and a proxy trial's peak. An allowance,
#: not a measurement: a 28-px proxy at batch 128 keeps a few hundred MB of activations for its backward
#: pass, and 4 GiB leaves room for larger proxies (``--set resolution=...``).
GPU_BYTES_PER_WORKER = 4 * 2**30
#: Host cores each GPU worker keeps busy.
CORES_PER_WORKER = 2


def workers_for(device_type: str, cores: int, free_gpu_bytes: int = 0) -> int:
    """The default worker count for a search on ``device_type`` (``cpu`` or ``cuda``).

    Args:
        device_type: Where trials run.
        cores: The host's CPU cores.
        free_gpu_bytes: Free memory of the GPU the workers share (``cuda`` only).

    Returns:
        1 on a CPU; on a GPU, as many as the cores, the free memory and :data:`MAX_GPU_WORKERS`
        allow, at least 1.
    """
    if device_type != "cuda":
        return 1
    return max(1, min(MAX_GPU_WORKERS, cores // CORES_PER_WORKER, free_gpu_bytes // GPU_BYTES_PER_WORKER))


def auto_workers(device: torch.device) -> int:
    """:func:`workers_for` this machine and ``device`` (reads the GPU's free memory, which starts CUDA)."""
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
    return workers_for(device.type, os.cpu_count() or 1, free)
