"""NASNet-A and PNASNet-5, large and mobile (Zoph et al. 2018; Liu et al. 2018).

Each is a named point of its cell space (:mod:`search_spaces.spaces.cells`, where the
genotypes and the network template live). The large models equal timm's ``nasnetalarge``
and ``pnasnet5large`` (ports of the TF reference) to the parameter, and their outputs match
timm's once weights are copied over. The mobile settings have no reference implementation
here; they are checked against the papers' tables (NASNet table 2: "NASNet-A (4 @ 1056)",
5.3M params, 564M mult-adds; PNAS table 3: PNASNet-5 mobile, 5.1M, 588M).
"""

from __future__ import annotations

from search_spaces.spaces.cells import NASNetSpace, PNASSpace
from search_spaces.zoo import register

__all__: list[str] = []

_NASNET = "Zoph et al. 2018, Learning Transferable Architectures (NASNet-A)"
_PNAS = "Liu et al. 2018, Progressive Neural Architecture Search (PNASNet-5)"

register(NASNetSpace().point("nasnetalarge"), reference="timm:nasnetalarge", space="nasnet", paper=_NASNET)
register(NASNetSpace().point("nasnet_a_mobile"), reference="", space="nasnet", paper=_NASNET,
         published=(5.3e6, 564e6))
register(PNASSpace().point("pnasnet5large"), reference="timm:pnasnet5large", space="pnas", paper=_PNAS)
register(PNASSpace().point("pnasnet5_mobile"), reference="", space="pnas", paper=_PNAS, published=(5.1e6, 588e6))
