"""DenseNet-121 / 169 / 201 (Huang et al. 2017, "Densely Connected Convolutional Networks", table 1).

DenseNet-BC with growth rate k = 32, a 4k-wide bottleneck in every dense layer, and
compression 0.5 in the transitions; exact to torchvision's ``densenet121`` / ``169`` /
``201``: a 7x7/2 stem conv with 2k = 64 filters, a 3x3/2 max pooling, four dense blocks
separated by transitions, and a final norm + ReLU (torchvision's ``norm5`` and the ReLU in
``forward``) before the pooling and the linear classifier.

Family: DenseNet (no search space of ours; ``space=""``).
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Stage, Stem
from search_spaces.zoo import register

__all__ = ["DENSENET121", "DENSENET169", "DENSENET201", "densenet"]

PAPER = "Huang et al. 2017, Densely Connected Convolutional Networks"


def densenet(name: str, block_layers: tuple[int, ...], growth: int = 32, stem: int = 64,
             compression: float = 0.5) -> Network:
    """A DenseNet-BC genome from its layers per dense block (table 1's ``x 6``, ``x 12``, ...).

    Args:
        name: Model name.
        block_layers: Dense layers in each dense block.
        growth: Growth rate ``k``.
        stem: Filters of the stem conv (``2k`` in the paper).
        compression: Transition width over its input width (``theta``, floored as torchvision does).
    """
    stages = [Stage("pool", depth=1, channels=stem, stride=2, kernel=3)]
    width = stem
    for i, layers in enumerate(block_layers):
        width += layers * growth
        stages.append(Stage("dense", depth=layers, channels=width, growth=growth, expand=4))  # channels: for reading
        if i < len(block_layers) - 1:
            width = int(width * compression)
            stages.append(Stage("transition", depth=1, channels=width, stride=2))
    stages.append(Stage("norm_act", depth=1, channels=width))
    return Network(name=name, stem=Stem(channels=stem, kernel=7, stride=2), stages=tuple(stages),
                   head=Head(channels=0))


DENSENET121 = register(densenet("densenet121", (6, 12, 24, 16)), reference="torchvision:densenet121", space="",
                       paper=PAPER)
DENSENET169 = register(densenet("densenet169", (6, 12, 32, 32)), reference="torchvision:densenet169", space="",
                       paper=PAPER)
DENSENET201 = register(densenet("densenet201", (6, 12, 48, 32)), reference="torchvision:densenet201", space="",
                       paper=PAPER)
