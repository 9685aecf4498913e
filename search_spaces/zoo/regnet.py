"""RegNetX / RegNetY models (Radosavovic et al. 2020, "Designing Network Design Spaces", table 7 / appendix).

Each model is one line of RegNet parameters in :mod:`search_spaces.zoo.regnet_points`, the
same assignment the ``regnet`` design space decodes
(:func:`search_spaces.spaces.regnet.decode_regnet`). Exact to timm's ``regnetx_*`` /
``regnety_*`` (ports of pycls).
"""

from __future__ import annotations

from search_spaces.spaces.regnet import decode_regnet
from search_spaces.zoo import register
from search_spaces.zoo.regnet_points import POINTS

__all__ = ["POINTS"]

for _name, _p in POINTS.items():
    register(
        decode_regnet(_name, _p), reference=f"timm:{_name}", space="regnet", paper="Radosavovic et al. 2020, RegNet",
    )
