"""The RegNet design space (Radosavovic et al. 2020, "Designing Network Design Spaces", sec. 4).

A RegNet is six numbers: depth ``d``, initial width ``w0``, slope ``wa``, width multiplier
``wm``, bottleneck ratio ``b`` and group width ``g``; plus SE on/off (RegNetX vs RegNetY,
sec. 5). Per-block widths follow a quantised linear function (eq. 2-4, :func:`regnet_widths`),
blocks of equal width form a stage, every stage starts with a stride-2 block, and widths are
then made compatible with ``b`` and ``g`` (:func:`adjust_widths_groups`). The network is
the AnyNet template (sec. 3.1, fig. 3): stem 3x3 stride-2 conv with 32 channels, the
stages of X / Y bottleneck blocks (``bottleneck`` block, fig. 4), and a head of global
average pooling and a linear classifier (no 1x1 conv).

Sampling ranges (paper sec. 4 samples d < 64, w0 < 256, 0 < wa < 256, 1.5 <= wm <= 3, with
b and g as in AnyNet; log-uniformly where AnyNet samples log-uniformly, sec. 3.2, as pycls's
RegNet sampler does for w0, wa, wm and g):

- ``d``: integers 4..63 (a 4-stage body needs at least 4 blocks);
- ``w0``: log-uniform in [8, 248], rounded to a multiple of 8 by :meth:`RegNetSpace.decode`
  (pycls quantises the sampled ``w0`` to 8, and ``generate_regnet`` requires it);
- ``wa``: log-uniform in [8, 256]: the paper's bound is ``0 < wa``, a log-uniform draw needs
  a positive floor, and 8 is the floor of pycls's ``REGNET_SAMPLER``;
- ``wm``: log-uniform in [1.5, 3];
- ``b``: {1, 2, 4} (AnyNet, sec. 3.2);
- ``g``: log-uniform integers in [1, 128]. Deviation: the paper's AnyNet set is
  {1, ..., 32}, but its published models use up to 128 (RegNetX-16GF: g = 128) and pycls's
  RegNet sampler draws 8..128, so the range covers both;
- ``variant``: ``X`` (no SE) or ``Y`` (SE with ratio 0.25 of the block input, sec. 5).

Constraints (pycls ``sweep/config.py``: ``CONSTRAINTS.REGNET.NUM_STAGES = [4, 4]``,
``check_regnet_constraints`` and the ``CX`` complexity bounds): :meth:`RegNetSpace.sample`
keeps only parameters giving 4 stages with no empty stage exponent
(``num_stages == max(s_j) + 1``) and at most 16 GMACs at 224 x 224; it redraws with the same
generator otherwise, so a seed still fixes the genome. ``decode`` itself accepts any
in-range parameters (pycls builds any stage count), so define-by-run strategies always get
a network; :meth:`RegNetSpace.feasible` tells them whether it is a 4-stage one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from search_spaces.genome import Head, Network, Quirks, Stage, Stem
from search_spaces.spaces.base import (
    Categorical,
    Distribution,
    FloatRange,
    InfeasibleError,
    IntRange,
    SearchSpace,
    as_rng,
    params_digest,
)
from search_spaces.zoo.regnet_points import POINTS

__all__ = [
    "RegNetSpace",
    "adjust_widths_groups",
    "anynet_stages",
    "decode_regnet",
    "has_stages",
    "regnet_exponents",
    "regnet_network",
    "regnet_stages",
    "regnet_widths",
]

#: SE ratio of the Y variant (paper sec. 5, RegNetY: SE with ratio 1/4; pycls ``SE_R = 0.25``).
SE_RATIO = 0.25
STEM_WIDTH = 32
#: Input size at which the paper states flop regimes (and ``max_macs`` is checked).
REGIME_RESOLUTION = 224
VARIANTS = ("X", "Y")


def _log_wm(d: int, w0: float, wa: float, wm: float) -> float:
    """``log(wm)``, after checking the parameters admit a RegNet."""
    if d < 1 or w0 <= 0 or wa < 0 or wm <= 1:
        raise ValueError(f"RegNet needs d >= 1, w0 > 0, wa >= 0 and wm > 1; got d={d}, w0={w0}, wa={wa}, wm={wm}")
    return math.log(wm)


def _exponent(j: int, w0: float, wa: float, log_wm: float) -> int:
    """``s_j = round(log(u_j / w0) / log(wm))`` with ``u_j = w0 + wa * j`` (paper eq. 2-3)."""
    return round(math.log((w0 + wa * j) / w0) / log_wm)


@lru_cache(maxsize=4096)
def regnet_exponents(d: int, w0: float, wa: float, wm: float) -> tuple[int, ...]:
    """Quantised width exponents ``s_j`` of every block (paper eq. 2-3).

    ``u_j = w0 + wa * j`` for ``0 <= j < d`` (eq. 2), ``s_j`` solves ``u_j = w0 * wm ** s_j``
    and is rounded to the nearest integer (eq. 3; half to even, as NumPy's ``round`` in pycls).
    Memoised: sampling checks feasibility and then decodes the same parameters.
    """
    log_wm = _log_wm(d, w0, wa, wm)
    return tuple(_exponent(j, w0, wa, log_wm) for j in range(d))


def has_stages(d: int, w0: float, wa: float, wm: float, num_stages: int) -> bool:
    """pycls's stage-count constraint: ``num_stages`` distinct widths and no skipped exponent
    (``len(widths) == max(s_j) + 1 == num_stages``, ``check_regnet_constraints``).

    The last block's exponent is a lower bound of ``max(s_j)``, so it rules most draws out
    before the other blocks' exponents and widths are computed.
    """
    if _exponent(d - 1, w0, wa, _log_wm(d, w0, wa, wm)) >= num_stages:
        return False
    widths, _ = regnet_widths(d, w0, wa, wm)
    return len(widths) == max(regnet_exponents(d, w0, wa, wm)) + 1 == num_stages


def regnet_widths(d: int, w0: float, wa: float, wm: float, q: int = 8) -> tuple[list[int], list[int]]:
    """Per-stage widths and depths of a RegNet (Radosavovic et al. 2020, sec. 4, eq. 2-4).

    - eq. 2: continuous block widths ``u_j = w0 + wa * j`` for ``0 <= j < d``;
    - eq. 3: ``s_j = round(log(u_j / w0) / log(wm))``, so ``u_j ~ w0 * wm ** s_j``;
    - eq. 4: quantised block widths ``w_j = w0 * wm ** s_j``, rounded to a multiple of ``q``
      ("we round to multiples of 8", as pycls's ``generate_regnet``);
    - stages are the runs of equal ``w_j``: stage ``i`` has the ``i``-th distinct width and
      as many blocks as share it.

    Float64 arithmetic, as pycls (NumPy). timm repeats it in float32; the two agree on every
    published model (tested), and could differ only where a value lies within float32
    rounding of a half-way point.

    Args:
        d: Depth (number of blocks).
        w0: Initial width.
        wa: Slope.
        wm: Width multiplier (> 1).
        q: Width quantum.

    Returns:
        ``(widths, depths)``: increasing stage widths, and blocks per stage (summing to ``d``).
    """
    exponents = regnet_exponents(d, w0, wa, wm)
    width_of = {s: int(round(w0 * wm ** s / q)) * q for s in set(exponents)}  # eq. 4 depends on s_j alone
    widths_all = [width_of[s] for s in exponents]
    widths = sorted(set(width_of.values()))
    return widths, [widths_all.count(w) for w in widths]


def adjust_widths_groups(widths: list[int], b: float, g: int) -> tuple[list[int], list[int]]:
    """Make stage widths compatible with the bottleneck ratio and group width.

    pycls ``adjust_ws_gs_comp`` (the paper's code; timm ``adjust_widths_groups_comp``): the
    middle width ``int(w / b)`` must be a multiple of the group width, so the group width is
    capped at the middle width, the middle width rounded to the nearest multiple of it, and
    the stage width recomputed as ``int(mid * b)``.

    Returns:
        ``(widths, group_widths)``, one per stage; ``mid = widths[i] / b`` is a positive
        multiple of ``group_widths[i]``.
    """
    mids = [int(w / b) for w in widths]
    groups = [min(g, m) for m in mids]
    mids = [int(round(m / gw)) * gw for m, gw in zip(mids, groups)]
    return [int(m * b) for m in mids], groups


def regnet_stages(d: int, w0: float, wa: float, wm: float, g: int, b: float, se: float,
                  q: int = 8) -> tuple[Stage, ...]:
    """The stages of a RegNet: widths from eq. 2-4, compatibility-adjusted, each stride 2."""
    widths, depths = regnet_widths(d, w0, wa, wm, q)
    widths, groups = adjust_widths_groups(widths, b, g)
    return tuple(Stage("bottleneck", depth=n, channels=w, stride=2, kernel=3, group_width=gw, bottleneck=b, se=se)
                 for w, n, gw in zip(widths, depths, groups))


def anynet_stages(block: str, depths: Sequence[int], widths: Sequence[int], strides: Sequence[int], *,
                  bottleneck: float = 1.0, group_widths: Sequence[int] | None = None,
                  se: float = 0.0) -> tuple[Stage, ...]:
    """An AnyNet body given stage by stage, with no rule tying the stages together.

    The AnyNet design space (paper sec. 3.1, fig. 3; pycls ``anynet.py``) leaves each stage's
    depth ``d_i``, width ``w_i``, bottleneck ratio ``b_i`` and group width ``g_i`` free; RegNet
    (:func:`regnet_stages`) is the subset whose stages follow eq. 2-4. ResNet and ResNeXt are
    AnyNet points (He et al. 2016; Xie et al. 2017): pycls's ``R-50-1x64d`` / ``X-101-32x8d``
    configs are AnyNet with its ``res_stem_in`` stem (7x7 conv + max pool) and strides
    ``1, 2, 2, 2``; the zoo (:mod:`search_spaces.zoo.resnet`) writes them with this function
    and the same ``bottleneck`` block RegNet uses (``basic`` for ResNet-18/34, pycls's
    ``res_basic_block``).

    Args:
        block: Registered residual block type (``bottleneck``, ``basic``, ``preact_bottleneck``).
        depths: Blocks per stage.
        widths: Output width per stage.
        strides: Stride of each stage's first block.
        bottleneck: Bottleneck ratio ``b`` (middle width ``w / b``) of every stage.
        group_widths: Group width per stage; ``None`` (or 0) for ungrouped convs.
        se: SE ratio of every block (0 = none).
    """
    groups = tuple(group_widths) if group_widths is not None else (0,) * len(depths)
    if not len(depths) == len(widths) == len(strides) == len(groups):
        raise ValueError(f"AnyNet needs one depth, width, stride and group width per stage; got {len(depths)}, "
                         f"{len(widths)}, {len(strides)} and {len(groups)}")
    return tuple(Stage(block, depth=d, channels=w, stride=s, kernel=3, group_width=g, bottleneck=bottleneck, se=se)
                 for d, w, s, g in zip(depths, widths, strides, groups))


def regnet_network(name: str, d: int, w0: float, wa: float, wm: float, g: int, b: float, se: float, *,
                   num_classes: int = 1000, resolution: int = 224, in_channels: int = 3) -> Network:
    """A RegNet genome from its parameters: stem 32, X/Y stages, pooling + linear head.

    Widths are exact integers (``channel_divisor=1`` keeps group-width multiples that are not
    multiples of 8); BatchNorm and ReLU with PyTorch defaults, as pycls and timm.
    """
    return Network(
        name=name, stem=Stem(channels=STEM_WIDTH, kernel=3, stride=2),
        stages=regnet_stages(d, w0, wa, wm, g, b, se), head=Head(channels=0), resolution=resolution,
        num_classes=num_classes, in_channels=in_channels, act="relu", quirks=Quirks(channel_divisor=1),
    )


def quantize_w0(w0: float, q: int = 8) -> int:
    """``w0`` rounded to the nearest positive multiple of ``q`` (pycls samples it that way)."""
    return max(q, int(round(w0 / q)) * q)


def decode_regnet(name: str, params: Mapping[str, Any], **settings: Any) -> Network:
    """The genome of one assignment of the space's parameters (used by the space and the zoo).

    Args:
        name: Genome name.
        params: ``d, w0, wa, wm, g, b, variant`` (``w0`` is rounded to a multiple of 8).
        settings: ``num_classes``, ``resolution``, ``in_channels`` for :func:`regnet_network`.
    """
    se = SE_RATIO if params["variant"] == "Y" else 0.0
    return regnet_network(name, params["d"], quantize_w0(params["w0"]), params["wa"], params["wm"], params["g"],
                          params["b"], se, **settings)


class RegNetSpace(SearchSpace):
    """The RegNet design space: ``d, w0, wa, wm, g, b`` and the X / Y variant.

    Args:
        num_classes: Classifier outputs of every decoded network.
        resolution: Input size written into every genome (224, the paper's).
        in_channels: Input image channels.
        variants: The variants to sample (``("X",)`` is the RegNetX space alone).
        num_stages: Stage count :meth:`sample` keeps (pycls's constraint: 4); ``None``
            keeps every stage count.
        max_macs: Largest MACs at 224 x 224 :meth:`sample` keeps; ``None`` keeps all. The
            default, 16e9, is the regime pycls's default sampler ranges are meant for ("fairly
            good performing models up to 16GF"); it contains every named point and keeps
            random samples buildable (unbounded, the paper's ranges reach 2e9 parameters).
    """

    name = "regnet"
    default_resolution = 224

    def __init__(self, num_classes: int = 1000, resolution: int = 224, in_channels: int = 3,
                 variants: tuple[str, ...] = VARIANTS, num_stages: int | None = 4,
                 max_macs: float | None = 16e9) -> None:
        unknown = [v for v in variants if v not in VARIANTS]
        if not variants or unknown:
            raise ValueError(f"variants must be a non-empty subset of {VARIANTS}, got {variants!r}")
        self.settings = {"num_classes": num_classes, "resolution": resolution, "in_channels": in_channels}
        self.default_resolution = resolution
        self.num_stages = num_stages
        self.max_macs = max_macs
        self._dists: tuple[Distribution, ...] = (
            IntRange("d", 4, 63),
            IntRange("w0", 8, 248, log=True),
            FloatRange("wa", 8.0, 256.0, log=True),
            FloatRange("wm", 1.5, 3.0, log=True),
            IntRange("g", 1, 128, log=True),
            Categorical("b", (1.0, 2.0, 4.0)),
            Categorical("variant", tuple(variants)),
        )

    def distributions(self) -> tuple[Distribution, ...]:
        return self._dists

    def decode(self, params: Mapping[str, Any]) -> Network:
        self.check(params)
        return decode_regnet(f"{self.name}_{params_digest(params)}", params, **self.settings)

    def feasible(self, params: Mapping[str, Any]) -> bool:
        """pycls's sweep constraints: ``num_stages`` stages, no skipped width exponent, and
        MACs at 224 x 224 at most ``max_macs``."""
        return self._has_stages(params) and (self.max_macs is None or self._within_macs(self.decode(params)))

    def _has_stages(self, params: Mapping[str, Any]) -> bool:
        return self.num_stages is None or has_stages(params["d"], quantize_w0(params["w0"]), params["wa"],
                                                     params["wm"], self.num_stages)

    def _within_macs(self, genome: Network) -> bool:
        from search_spaces.cost import cost  # late: keeps spaces importable without building anything

        return self.max_macs is None or cost(genome, REGIME_RESOLUTION).macs <= self.max_macs

    def _feasible_draw(self, rng: random.Random, max_tries: int) -> tuple[dict[str, Any], Network]:
        """The first draw from ``rng`` satisfying :meth:`feasible`, and its genome (decoded once)."""
        for _ in range(max_tries):
            params = super().sample_params(rng)
            if self._has_stages(params):
                genome = self.decode(params)
                if self._within_macs(genome):
                    return params, genome
        raise InfeasibleError(f"no {self.num_stages}-stage RegNet with at most {self.max_macs:g} MACs in "
                              f"{max_tries} draws; raise max_macs or max_tries")

    def sample_params(self, seed_or_rng: int | random.Random | None = None, max_tries: int = 10_000) -> dict[str, Any]:
        """A seeded assignment satisfying :meth:`feasible` (redrawn from the same generator)."""
        return self._feasible_draw(as_rng(seed_or_rng), max_tries)[0]

    def draw(self, rng: random.Random) -> Network:
        """The genome of :meth:`sample_params`'s draw, decoded once (its MACs check decoded it)."""
        return self._feasible_draw(rng, 10_000)[1]

    def points(self) -> dict[str, dict[str, Any]]:
        return {name: dict(params) for name, params in POINTS.items()}
