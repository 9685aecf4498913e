"""Training-free ("zero-cost") proxies of a network's trained accuracy.

Each proxy in :data:`PROXIES` is ``(model, x, y, loss_fn) -> float`` on an untrained model
and one real batch, leaves the model exactly as it found it, and cites its paper:

- ``synflow``: Tanaka et al. 2020 (as Abdelfattah et al. 2021 use it for NAS);
- ``naswot``: Mellor et al. 2021, log-determinant of the activation-pattern Hamming kernel;
- ``jacob_cov``: Mellor et al. 2020 (v1), input-Jacobian correlation spectrum;
- ``grad_norm`` and ``snip``: Abdelfattah et al. 2021 (SNIP: Lee et al. 2019);
- ``zico``: Li et al. 2023, inverse coefficient of variation of gradients over mini-batches.

The ``zero-cost`` evaluator (:mod:`nas.evaluators.zero_cost`) runs them on a genome.
"""

from __future__ import annotations

from nas.zero_cost.proxies import (BINARISED_ACTIVATIONS, PROXIES, LossFn, Proxy, grad_norm, jacob_cov, naswot, snip,
                                   synflow, zico)
from nas.zero_cost.state import batch_statistics_mode, preserved, weight_layers

__all__ = ["BINARISED_ACTIVATIONS", "PROXIES", "LossFn", "Proxy", "batch_statistics_mode", "grad_norm", "jacob_cov",
           "names", "naswot", "preserved", "snip", "synflow", "weight_layers", "zico"]


def names() -> list[str]:
    """All registered proxy names, sorted."""
    return PROXIES.names()
