"""Our NAS-Bench-201 networks against the reference code itself: xautodl 1.0's ``TinyNetwork``.

For ``--cells`` random cells (and the ResNet cell), on each dataset's classes and input size:
our analytic parameter count and the built module's against xautodl's module, our MACs against
its ``get_model_infos`` FLOPs (which add the classifier's bias additions), and, with our
weights copied into xautodl's network (both register their parameters in the same order), the
outputs of one batch in training and in evaluation mode.

xautodl pins numpy <= 1.19, which this toolkit cannot run with, so it is not a dependency;
install it beside, without its dependencies (the tiny network needs only torch)::

    pip install --no-deps --target /tmp/xautodl xautodl==1.0.0
    PYTHONPATH=/tmp/xautodl:. python experiments/nb201_xautodl_check.py --cells 50
"""

from __future__ import annotations

import argparse
import random
import sys

import torch

import search_spaces as ss
from search_spaces.blocks.nb201 import OP_NAMES
from search_spaces.reference import n_params
from search_spaces.spaces.nb201 import DATASETS, RESNET, nb201_network
from search_spaces.spaces.nb201_arch import format_arch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50)
    args = parser.parse_args()
    try:
        from xautodl.models.cell_infers.tiny_network import TinyNetwork
        from xautodl.models.cell_searchs.genotypes import Structure
        from xautodl.utils.flop_benchmark import get_model_infos
    except ImportError:
        print("xautodl is not importable; see this script's docstring", file=sys.stderr)
        return 2
    rng = random.Random(0)
    cells = [RESNET] + [tuple(rng.choice(OP_NAMES) for _ in range(6)) for _ in range(args.cells)]
    worst, checked = 0.0, 0
    for ops in cells:
        for data in DATASETS.names():
            genome = nb201_network(ops, data)
            side = genome.resolution
            torch.manual_seed(0)
            ours = ss.build(genome)
            theirs = TinyNetwork(16, 5, Structure.str2structure(format_arch(ops)), genome.num_classes)
            cost = ss.cost(genome)
            flops, _ = get_model_infos(theirs, (1, 3, side, side))
            assert cost.params == n_params(ours) == n_params(theirs), (format_arch(ops), data)
            assert round((cost.macs + genome.num_classes) / 1e6, 5) == round(flops, 5), (format_arch(ops), data)
            with torch.no_grad():
                for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
                    a.copy_(torch.randn_like(a))
                    b.copy_(a)
            x = torch.randn(4, 3, side, side)
            for train in (True, False):
                ours.train(train)
                theirs.train(train)
                diff = (ours(x) - theirs(x)[1]).abs().max().item()
                worst = max(worst, diff)
            checked += 1
    print(f"{checked} networks ({len(cells)} cells x {len(DATASETS.names())} datasets): params and MACs equal; "
          f"largest output difference {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
