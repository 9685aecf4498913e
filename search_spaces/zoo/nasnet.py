"""NASNet-A, AmoebaNet-A and PNASNet-5, large and mobile (Zoph et al. 2018; Real et al. 2019; Liu et al. 2018).

Each is a named point of its cell space (:mod:`search_spaces.spaces.cells`, where the
genotypes and the network template live). The large models equal timm's ``nasnetalarge``
and ``pnasnet5large`` (ports of the TF reference) to the parameter, and their outputs match
timm's once weights are copied over. The mobile settings have no reference implementation
here; they are checked against the papers' tables (NASNet table 2: "NASNet-A (4 @ 1056)",
5.3M params, 564M mult-adds; PNAS table 3: PNASNet-5 mobile, 5.1M, 588M; AmoebaNet table 2:
(N=4, F=50) 5.1M, 555M and (N=6, F=190) 86.7M, 23.1B). AmoebaNet-A's (N=6, F=448) is left out:
its params match (468.2M vs 469M) but its MACs do not (127B here vs the paper's 104B), and the
cause is not known.

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
_AMOEBA = "Real et al. 2019, Regularized Evolution for Image Classifier Architecture Search (AmoebaNet-A)"
register(NASNetSpace().point("amoebanet_a_mobile"), reference="", space="nasnet", paper=_AMOEBA,
         published=(5.1e6, 555e6))
register(NASNetSpace().point("amoebanet_a_n6_f190"), reference="", space="nasnet", paper=_AMOEBA,
         published=(86.7e6, 23.1e9))
register(PNASSpace().point("pnasnet5large"), reference="timm:pnasnet5large", space="pnas", paper=_PNAS)
register(PNASSpace().point("pnasnet5_mobile"), reference="", space="pnas", paper=_PNAS, published=(5.1e6, 588e6))
