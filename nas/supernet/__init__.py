"""Weight sharing: one elastic network trained once, every ``mbconv`` configuration scored from it.

- :mod:`nas.supernet.space`: which configurations a supernet holds (coverage, largest, smallest, sampling);
- :mod:`nas.supernet.model`: the supernet module and the exact export of a configuration;
- :mod:`nas.supernet.train`: sandwich-rule training with in-place distillation, checkpoints, resume, DDP;
- ``python -m nas.supernet``: the command line.
"""

from nas.supernet.model import Supernet, SupernetConfig
from nas.supernet.space import Coverage

__all__ = ["Coverage", "Supernet", "SupernetConfig"]
