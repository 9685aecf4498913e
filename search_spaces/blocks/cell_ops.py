"""The op tables of NASNet-style cells: each op maps one hidden state to ``F`` channels.

Ops follow the TensorFlow NASNet / PNASNet reference code (``nasnet_utils.py``), which
timm's ``nasnetalarge`` and ``pnasnet5large`` port layer for layer:

- ``sep_conv_kxk``: ``relu -> kxk depthwise (stride) -> 1x1 -> norm`` twice; the first
  pointwise conv already outputs ``F`` (TF's ``separable_kxk_2``);
- pooling: the pool (stride), then ``1x1 conv -> norm`` only if the input is not ``F`` wide;
- ``identity``: the state itself, or ``relu -> 1x1 conv (stride) -> norm`` when the stride
  or width must change (TF's ``none``);
- the convolutions of the paper's table follow TF's own implementation of the whole
  NASNet op set (``tensorflow/tpu`` ``amoeba_net/network_utils.py``): ``conv_1x1`` is
  ``relu -> 1x1 conv (stride) -> norm``; ``conv_3x3``, ``dil_conv_3x3`` (rate 2) and
  ``conv_1xk_kx1`` run inside a bottleneck, ``relu -> 1x1 to F/4 -> norm -> relu -> op ->
  norm -> relu -> 1x1 to F -> norm`` (``3F/8`` for ``conv_1x3_3x1``; without the bottleneck
  when that width would be 0), and ``conv_1xk_kx1`` itself is ``1xk conv (stride 1, s) ->
  norm -> relu -> kx1 conv (stride s, 1)``.

Every op's first activation must not be in-place: a state feeds several ops.
"""

from __future__ import annotations

from collections.abc import Callable

from search_spaces.genome import Norm
from search_spaces.layers import ActSpec, ConvSpec, NormSpec, PoolSpec, Primitive
from search_spaces.registry import Registry

__all__ = ["CELL_OPS", "NASNET_OPS", "PNAS_OPS", "Layers", "OpFactory", "is_free"]

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


# Specs are frozen, so every op shares its activations (a search makes thousands of ops).
_RELU = ("act", ActSpec("relu", inplace=False))
_RELU_1 = ("act1", ActSpec("relu", inplace=False))
_RELU_2 = ("act2", ActSpec("relu"))
_RELU_K = ("act_k", ActSpec("relu"))
_RELU_POST = ("act_post", ActSpec("relu"))


def is_free(op: str, cin: int, cout: int, stride: int) -> bool:
    """Whether op ``op`` is the state itself: an identity that keeps the shape has no layers (and a
    cell never drops it); every other op has layers."""
    return op == "identity" and stride == 1 and cin == cout


def _identity(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
    if is_free("identity", cin, cout, stride):
        return ()
    return (_RELU, ("conv", ConvSpec(cin, cout, 1, stride, norm=norm, padding=padding)))


def _sep_conv(kernel: int) -> OpFactory:
    def make(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        return (
            _RELU_1,
            ("dw1", ConvSpec(cin, cin, kernel, stride, groups=cin, padding=padding)),
            ("pw1", ConvSpec(cin, cout, 1, norm=norm)),
            _RELU_2,
            ("dw2", ConvSpec(cout, cout, kernel, 1, groups=cout, padding=padding)),
            ("pw2", ConvSpec(cout, cout, 1, norm=norm)),
        )
    return make


def _pool(kind: str, kernel: int) -> OpFactory:
    def make(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        pool: Layers = (("pool", PoolSpec(kind, kernel, stride, padding)),)
        return pool if cin == cout else pool + (("conv", ConvSpec(cin, cout, 1, norm=norm)),)
    return make


def _conv_1x1(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
    return (_RELU, ("conv", ConvSpec(cin, cout, 1, stride, norm=norm, padding=padding)))


#: ``(width, stride, norm, padding) -> layers`` of a bottlenecked op's core, without its final norm.
Core = Callable[[int, int, int, Norm, str], Layers]


def _plain_conv(kernel: int, dilation: int = 1) -> Core:
    def core(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        return (("conv", ConvSpec(cin, cout, kernel, stride, padding=padding, dilation=dilation)),)
    return core


def _spatially_separable(kernel: int) -> Core:
    def core(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        return (
            ("conv_1xk", ConvSpec(cin, cout, (1, kernel), (1, stride), norm=norm, padding=padding)),
            _RELU_K,
            ("conv_kx1", ConvSpec(cout, cout, (kernel, 1), (stride, 1), padding=padding)),
        )
    return core


def _bottlenecked(core: Core, ratio: float) -> OpFactory:
    """TF amoeba_net's wrapping of its conv ops: a 1x1 bottleneck to ``int(ratio * F)`` channels."""
    def make(cin: int, cout: int, stride: int, norm: Norm, padding: str) -> Layers:
        reduced = int(ratio * cout)
        if reduced < 1:
            inner = core(cin, cout, stride, norm, padding)
            return (_RELU, *inner, ("bn", NormSpec(cout, norm)))
        inner = core(reduced, reduced, stride, norm, padding)
        return (
            _RELU, ("pre", ConvSpec(cin, reduced, 1, norm=norm, act="relu")), *inner,
            ("bn", NormSpec(reduced, norm)), _RELU_POST,
            ("post", ConvSpec(reduced, cout, 1, norm=norm)),
        )
    return make


CELL_OPS.register("identity", _identity)
for _k in (3, 5, 7):
    CELL_OPS.register(f"sep_conv_{_k}x{_k}", _sep_conv(_k))
    CELL_OPS.register(f"max_pool_{_k}x{_k}", _pool("max", _k))
CELL_OPS.register("avg_pool_3x3", _pool("avg", 3))
CELL_OPS.register("conv_1x1", _conv_1x1)
CELL_OPS.register("conv_3x3", _bottlenecked(_plain_conv(3), 1 / 4))
CELL_OPS.register("dil_conv_3x3", _bottlenecked(_plain_conv(3, dilation=2), 1 / 4))
CELL_OPS.register("conv_1x3_3x1", _bottlenecked(_spatially_separable(3), 3 / 8))
CELL_OPS.register("conv_1x7_7x1", _bottlenecked(_spatially_separable(7), 1 / 4))
