"""ConvNeXt-T/S/B (Liu et al. 2022, "A ConvNet for the 2020s", sec. 2.6 and appendix A).

Exact to torchvision's ``convnext_tiny``, ``convnext_small`` and ``convnext_base``: a 4x4
stride-4 patchify stem with LayerNorm, four stages of ``convnext`` blocks (depths 3-3-9-3 or
3-3-27-3, widths C, 2C, 4C, 8C) separated by ``convnext_down`` layers (LayerNorm + 2x2
stride-2 conv), global pooling, a final LayerNorm on the pooled features and the
classifier. Every norm is a LayerNorm with eps 1e-6, every activation GELU. No search space
of ours holds them (``space=""``).

Deviation: the stochastic-depth rate of block ``i`` is ``drop_path * i / n`` over every block
of the genome (downsampling layers included, see :func:`search_spaces.resolve`), where
torchvision uses ``p * i / (n - 1)`` over ConvNeXt blocks only; it changes no parameter,
no MAC and nothing in evaluation mode.
"""

from __future__ import annotations

from search_spaces.genome import Head, Network, Stage, Stem
from search_spaces.layers.channel_norm import layer_norm
from search_spaces.zoo import register

__all__ = ["CONVNEXT_BASE", "CONVNEXT_SMALL", "CONVNEXT_TINY", "convnext"]

PAPER = "Liu et al. 2022, A ConvNet for the 2020s"


def convnext(name: str, depths: tuple[int, int, int, int], width: int, drop_path: float) -> Network:
    """A ConvNeXt with per-stage ``depths`` and first-stage ``width`` (doubling per stage)."""
    stages: list[Stage] = []
    for i, depth in enumerate(depths):
        channels = width * 2 ** i
        if i:
            stages.append(Stage("convnext_down", depth=1, channels=channels, stride=2, kernel=2))
        stages.append(Stage("convnext", depth=depth, channels=channels, kernel=7, expand=4))
    return Network(
        name=name,
        stem=Stem(channels=width, kernel=4, stride=4, padding="valid", bias=True, act="identity"),
        stages=tuple(stages),
        head=Head(channels=0, pool_norm=True),
        act="gelu",
        norm=layer_norm(),
        drop_path=drop_path,
    )


#: (name, depths, width, torchvision's stochastic_depth_prob), as the paper's appendix A / torchvision list them.
_VARIANTS = (
    ("convnext_tiny", (3, 3, 9, 3), 96, 0.1),
    ("convnext_small", (3, 3, 27, 3), 96, 0.4),
    ("convnext_base", (3, 3, 27, 3), 128, 0.5),
)

CONVNEXT_TINY, CONVNEXT_SMALL, CONVNEXT_BASE = (
    register(convnext(name, depths, width, rate), reference=f"torchvision:{name}", space="", paper=PAPER)
    for name, depths, width, rate in _VARIANTS
)
