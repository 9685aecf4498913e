"""Genomes, blocks, exact cost, design spaces and the zoo of published architectures.

Public API::

    from search_spaces import zoo, build, cost, load, dump
    g = zoo.get("efficientnet_b0")
    model = build(g)                 # torch.nn.Module
    c = cost(g)                      # c.params, c.macs, c.activations (no module built)
    dump(g, "b0.yaml"); assert load("b0.yaml") == g
"""

from search_spaces import zoo
from search_spaces.build import Net, build
from search_spaces.codec import dump, from_dict, from_yaml, load, load_with_meta, to_dict, to_yaml
from search_spaces.cost import Cost, cost
from search_spaces.errors import GenomeError, UnknownNameError, UserInputError
from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem
from search_spaces.resolve import ResolvedNet, resolve

__all__ = [
    "Cost", "GenomeError", "Head", "Net", "Network", "Norm", "Quirks", "ResolvedNet", "Stage", "Stem",
    "UnknownNameError", "UserInputError", "build", "cost", "dump", "from_dict", "from_yaml", "load",
    "load_with_meta", "resolve", "to_dict", "to_yaml", "zoo",
]
