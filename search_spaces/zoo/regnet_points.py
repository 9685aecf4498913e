"""The published RegNetX / RegNetY models as points of the RegNet design space (data only).

Radosavovic et al. 2020, "Designing Network Design Spaces", table 7 / appendix; the values
are those of pycls's model zoo configs, as timm's ``model_cfgs`` lists them. The trailing
digits of a name are its MACs in units of 10^8 (``regnetx_032``: 3.2 GMACs, which the paper
calls 3.2GF).

Both the design space (:meth:`search_spaces.spaces.regnet.RegNetSpace.points`) and the zoo
(:mod:`search_spaces.zoo.regnet`) read this table; it imports nothing, so neither import
waits on the other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["POINTS"]

#: name -> RegNet parameters (depth d, initial width w0, slope wa, multiplier wm, group width g,
#: bottleneck ratio b, variant X = no SE / Y = SE 0.25).
POINTS: dict[str, dict[str, Any]] = {
    "regnetx_002": dict(d=13, w0=24, wa=36.44, wm=2.49, g=8, b=1.0, variant="X"),
    "regnetx_004": dict(d=22, w0=24, wa=24.48, wm=2.54, g=16, b=1.0, variant="X"),
    "regnetx_032": dict(d=25, w0=88, wa=26.31, wm=2.25, g=48, b=1.0, variant="X"),
    "regnetx_160": dict(d=22, w0=216, wa=55.59, wm=2.1, g=128, b=1.0, variant="X"),
    "regnety_004": dict(d=16, w0=48, wa=27.89, wm=2.09, g=8, b=1.0, variant="Y"),
    "regnety_040": dict(d=22, w0=96, wa=31.41, wm=2.24, g=64, b=1.0, variant="Y"),
    "regnety_080": dict(d=17, w0=192, wa=76.82, wm=2.19, g=56, b=1.0, variant="Y"),
}
