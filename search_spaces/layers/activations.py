"""Activation functions by name.

The MobileNetV3 paper's hard-swish ``x * relu6(x + 3) / 6`` and hard-sigmoid
``relu6(x + 3) / 6`` are PyTorch's ``Hardswish`` / ``Hardsigmoid``; EfficientNet's swish
(Ramachandran et al. 2017, beta = 1) is ``SiLU``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from search_spaces.registry import Registry

__all__ = ["ACTIVATIONS", "make_act"]

ActFactory = Callable[[bool], nn.Module]

ACTIVATIONS: Registry[ActFactory] = Registry("activation")

ACTIVATIONS.register("relu", lambda inplace: nn.ReLU(inplace=inplace))
ACTIVATIONS.register("relu6", lambda inplace: nn.ReLU6(inplace=inplace))
ACTIVATIONS.register("swish", lambda inplace: nn.SiLU(inplace=inplace))
ACTIVATIONS.register("silu", lambda inplace: nn.SiLU(inplace=inplace))
ACTIVATIONS.register("hard_swish", lambda inplace: nn.Hardswish(inplace=inplace))
ACTIVATIONS.register("hard_sigmoid", lambda inplace: nn.Hardsigmoid(inplace=inplace))
ACTIVATIONS.register("sigmoid", lambda inplace: nn.Sigmoid())
ACTIVATIONS.register("gelu", lambda inplace: nn.GELU())
ACTIVATIONS.register("identity", lambda inplace: nn.Identity())


def make_act(name: str, inplace: bool = False) -> nn.Module:
    """Build the activation registered as ``name`` (empty name: identity)."""
    if not name:
        return nn.Identity()
    return ACTIVATIONS.get(name)(inplace)
