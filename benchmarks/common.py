"""What every benchmark prints about the machine it ran on.

Benchmarks are run as scripts (``python benchmarks/NAME.py``), so they import this module
as ``common`` (the script's directory is first on ``sys.path``).
"""

from __future__ import annotations

import os
import platform

import torch

__all__ = ["available_cores", "cpu_model", "machine"]


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def available_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """One line: CPU, cores, Python and torch versions."""
    return f"{cpu_model()}, {available_cores()} cores, Python {platform.python_version()}, torch {torch.__version__}"
