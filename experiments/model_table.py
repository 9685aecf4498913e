"""The zoo as a markdown table, measured rather than typed: ``docs/MODELS.md`` is this script's output.

For every zoo entry: family (paper), the design space it is a point of, params and MACs
from the analytic cost engine at its default resolution, the reference it must equal, and
how close it is. For entries with a reference implementation (timm, torchvision), the
reference model is built (random init) and its parameters counted, and with ``--macs``
its MACs counted with FlopCounterMode at the same resolution (slow for the big models).
Entries without one are compared with the paper's printed figures.

Usage:
    python experiments/model_table.py > docs/MODELS.md
    python experiments/model_table.py --macs --only resnet50,convnext_tiny
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

import search_spaces as ss
from search_spaces.units import human
from search_spaces import zoo
from search_spaces.reference import counted_macs, n_params, reference_model


def _closeness(ours: int, theirs: float, exact_possible: bool) -> str:
    if exact_possible and ours == theirs:
        return "exact"
    return f"{100 * (ours / theirs - 1):+.2f}%"


def row(name: str, macs: bool) -> list[str]:
    """One table row for zoo entry ``name``."""
    entry = zoo.entry(name)
    genome = entry.genome
    c = ss.cost(genome)
    if entry.reference:
        model = reference_model(name)
        params = _closeness(c.params, n_params(model), True)
        if macs:
            r = genome.resolution
            macs_cell = _closeness(c.macs, counted_macs(model, (1, genome.in_channels, r, r)), True)
        else:
            macs_cell = "not counted"
        reference = f"`{entry.reference}`"
    elif entry.published:
        p, m = entry.published
        params, macs_cell = _closeness(c.params, p, False), _closeness(c.macs, m, False)
        reference = f"paper ({human(int(p))} params, {human(int(m))} MACs)"
    else:
        params = macs_cell = reference = "none"
    return [f"`{name}`", entry.paper or "", entry.space or "", f"{c.params:,}", human(c.macs),
            str(genome.resolution), reference, params, macs_cell]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--macs", action="store_true", help="also count the references' MACs (slow)")
    parser.add_argument("--only", help="comma-separated zoo names (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else zoo.names()
    header = ["model", "family (paper)", "space", "params", "MACs", "resolution", "reference",
              "params vs reference", "MACs vs reference"]
    print(f"Command: `python experiments/model_table.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
    print("Params: every parameter of the built module; MACs: multiply-accumulates of convolutions and linear "
          "layers at the default resolution (the papers' FLOPs). 'exact' means equal to the integer.\n")
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" if i < 3 or i == 6 else "---:" for i in range(len(header))) + " |")
    for name in names:
        print("| " + " | ".join(row(name, args.macs)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
