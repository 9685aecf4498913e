"""Weight sharing: one elastic network trained once, every ``mbconv`` configuration scored from it.

- :mod:`nas.supernet.space`: which configurations a supernet holds (coverage, largest, smallest, sampling);
- :mod:`nas.supernet.model`: the supernet module and the exact export of a configuration;
- :mod:`nas.supernet.train`: sandwich-rule training (in-place distillation optional), checkpoints, resume, DDP;
- :mod:`nas.supernet.encoding`, :mod:`nas.supernet.samples`, :mod:`nas.supernet.predictor`: the one-hot
  encoding of a configuration, resumable collection of supernet scores, and the MLP accuracy predictor;
- :mod:`nas.supernet.evolution`, :mod:`nas.supernet.specialise`, :mod:`nas.supernet.report`: a subnet
  for each latency target (evolutionary search, then measured), and the files that report it;
- ``python -m nas.supernet``: the command line.
"""

from nas.supernet.model import Supernet, SupernetConfig
from nas.supernet.space import Coverage

__all__ = ["Coverage", "Supernet", "SupernetConfig"]
