"""The op tables of NASNet-style cells: each op maps one hidden state to ``F`` channels.

Ops follow the TensorFlow NASNet / PNASNet reference code (``nasnet_utils.py``), which
timm's ``nasnetalarge`` and ``pnasnet5large`` port layer for layer:

- ``sep_conv_kxk``: ``relu -> kxk depthwise (stride) -> 1x1 -> norm`` twice; the first
  pointwise conv already outputs ``F`` (TF's ``separable_kxk_2``);
- pooling: the pool (stride), then ``1x1 conv -> norm`` only if the input is not ``F`` wide;
- ``identity``: the state itself, or ``relu -> 1x1 conv (stride) -> norm`` when the stride
  or width must change (TF's ``none``);
- ops the TF code does not have (the rest of the NASNet paper's 13-op table) are built as
  ``relu -> conv(s) -> norm`` like the others: ``conv_kxk``, ``dil_conv_3x3`` (a full 3x3
  conv with dilation 2) and ``conv_1xk_kx1`` (a 1xk then a kx1 conv, as in DARTS).

Every op's first activation must not be in-place: a state feeds several ops.
"""

from __future__ import annotations

from collections.abc import Callable

from search_spaces.genome import Norm
from search_spaces.layers import ActSpec, ConvSpec, Primitive, PoolSpec
from search_spaces.registry import Registry

__all__ = ["CELL_OPS", "NASNET_OPS", "PNAS_OPS", "Layers", "OpFactory"]

Layers = tuple[tuple[str, Primitive], ...]
#: ``(cin, cout, stride, norm, padding) -> layers``.
OpFactory = Callable[[int, int, int, Norm, str], Layers]

CELL_OPS: Registry[OpFactory] = Registry("cell op")

#: The NASNet search space's 13 operations (Zoph et al. 2018, sec. 3), in the paper's order.
NASNET_OPS = (
    "identity", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3", "max_pool_5x5",
    "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
)
#: PNAS's 8 operations (Liu et al. 2018, sec. 3.1), in the paper's order.
PNAS_OPS = (
    "identity", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_1x7_7x1", "avg_pool_3x3", "max_pool_3x3",
    "dil_conv_3x3",
)


def _relu() -> tuple[str, Primitive]:
    return ("act", ActSpec("relu", inplace=False))


def _identity(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
    if stride == 1 and cin == cout:
        return ()
    return (_relu(), ("conv", ConvSpec(cin, cout, 1, stride, norm=norm, padding=padding)))


def _sep_conv(kernel: int) -> OpFactory:
    def make(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        return (
            ("act1", ActSpec("relu", inplace=False)),
            ("dw1", ConvSpec(cin, cin, kernel, stride, groups=cin, padding=padding)),
            ("pw1", ConvSpec(cin, cout, 1, norm=norm)),
            ("act2", ActSpec("relu")),
            ("dw2", ConvSpec(cout, cout, kernel, 1, groups=cout, padding=padding)),
            ("pw2", ConvSpec(cout, cout, 1, norm=norm)),
        )
    return make


def _pool(kind: str, kernel: int) -> OpFactory:
    def make(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        pool: Layers = (("pool", PoolSpec(kind, kernel, stride, padding)),)
        return pool if cin == cout else pool + (("conv", ConvSpec(cin, cout, 1, norm=norm)),)
    return make


def _conv(kernel: int, dilation: int = 1) -> OpFactory:
    def make(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        return (_relu(), ("conv", ConvSpec(cin, cout, kernel, stride, norm=norm, padding=padding, dilation=dilation)))
    return make


def _conv_1xk_kx1(kernel: int) -> OpFactory:
    def make(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        return (
            _relu(),
            ("conv_1xk", ConvSpec(cin, cout, (1, kernel), stride, padding=padding)),
            ("conv_kx1", ConvSpec(cout, cout, (kernel, 1), 1, norm=norm, padding=padding)),
        )
    return make


CELL_OPS.register("identity", _identity)
for _k in (3, 5, 7):
    CELL_OPS.register(f"sep_conv_{_k}x{_k}", _sep_conv(_k))
    CELL_OPS.register(f"max_pool_{_k}x{_k}", _pool("max", _k))
CELL_OPS.register("avg_pool_3x3", _pool("avg", 3))
CELL_OPS.register("conv_1x1", _conv(1))
CELL_OPS.register("conv_3x3", _conv(3))
CELL_OPS.register("dil_conv_3x3", _conv(3, dilation=2))
CELL_OPS.register("conv_1x3_3x1", _conv_1xk_kx1(3))
CELL_OPS.register("conv_1x7_7x1", _conv_1xk_kx1(7))
