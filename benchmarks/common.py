"""What every benchmark prints about the machine it ran on.

Benchmarks are run as scripts (``python benchmarks/NAME.py``), so they import this module
as ``common`` (the script's directory is first on ``sys.path``).
"""

from __future__ import annotations

import platform

import torch

from nas.latency.measure import available_cores, cpu_model

__all__ = ["available_cores", "cpu_model", "machine"]


def machine() -> str:
    """One line: CPU, cores, Python and torch versions."""
    return f"{cpu_model()}, {available_cores()} cores, Python {platform.python_version()}, torch {torch.__version__}"
