"""What every benchmark prints about the machine it ran on, and how busy that machine was.

Benchmarks are run as scripts (``python benchmarks/NAME.py``), so they import this module
as ``common`` (the script's directory is first on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time

import torch

from nas.latency.measure import available_cores, cpu_model

__all__ = ["LoadMeter", "available_cores", "cpu_model", "genomes_near", "machine", "revision"]


def genomes_near(space_name: str, n: int, first_seed: int, low: float = 200e6, high: float = 600e6) -> list[tuple]:
    """``n`` ``(seed, genome)`` pairs of a space's seeded sampler from ``first_seed`` on, kept when their MACs lie in
    ``[low, high]`` (the README search's neighbourhood by default)."""
    from search_spaces import cost, spaces

    space, found, seed = spaces.get(space_name), [], first_seed
    while len(found) < n:
        genome = space.sample(seed)
        if low <= cost(genome).macs <= high:
            found.append((seed, genome))
        seed += 1
    return found


def machine() -> str:
    """One line: CPU, cores, Python and torch versions."""
    return f"{cpu_model()}, {available_cores()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def revision() -> str:
    """The repository's git commit, marked when the work tree has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


class LoadMeter:
    """How busy the machine was apart from us: other processes' CPU time and hypervisor steal."""

    def __init__(self) -> None:
        self.start = (self._stat(), self._ours(), time.monotonic())

    @staticmethod
    def _stat() -> tuple[float, float] | None:
        """Busy seconds (user, nice, system, irq, softirq) and steal seconds of all CPUs, from /proc/stat."""
        try:
            with open("/proc/stat") as handle:
                f = [int(v) for v in handle.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        return (f[0] + f[1] + f[2] + f[5] + f[6]) / tick, f[7] / tick

    @staticmethod
    def _ours() -> float:
        """CPU seconds of this process and of its children that have been waited for (a joined pool's workers)."""
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def report(self) -> str:
        """One sentence: how long the run took and how busy other processes and guests kept the machine."""
        stat0, ours0, wall0 = self.start
        stat1, ours1, wall1 = self._stat(), self._ours(), time.monotonic()
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        wall = wall1 - wall0
        if stat0 is None or stat1 is None:
            return f"run took {wall:.0f} s; load average at the end {load}"
        others = max(0.0, (stat1[0] - stat0[0]) - (ours1 - ours0)) / wall
        steal = (stat1[1] - stat0[1]) / wall
        return (f"run took {wall:.0f} s; other processes on this machine kept on average {others:.2f} cores busy "
                f"and the hypervisor stole {steal:.2f} cores (other guests); load average at the end {load}")
