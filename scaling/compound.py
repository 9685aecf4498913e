"""Compound scaling (Tan & Le 2019, "EfficientNet", sec. 3.3, eq. 3), as pure functions over genomes.

    depth d = alpha ** phi,  width w = beta ** phi,  resolution r = gamma ** phi,
    subject to alpha * beta**2 * gamma**2 ~ 2 (so MACs grow about 2 ** phi), alpha, beta, gamma >= 1.

Which layers are scaled follows the official code (``efficientnet_builder.py`` /
``efficientnet_model.py``) and is what :func:`search_spaces.resolve` does with a genome's
multipliers:

- width: every convolution's channel count through ``round_filters``: the stem, each
  block's input/output (and so its expanded width), and the 1280-wide head conv; rounded
  to multiples of the genome's ``channel_divisor`` (8) with its ``round_limit`` guard;
  squeeze-excitation widths follow the block's (rounded) input width;
- depth: every stage's layer count through ``round_repeats`` (``ceil``), the first and
  last stages included;
- resolution: the input size (rounded here to a multiple of 4, see
  :func:`search_spaces.rounding.round_resolution`);
- nothing else: kernel sizes, expansion and SE ratios, strides, dropout and drop-path
  stay as in the base (the official table also raises dropout; :func:`official` does).

Multipliers compose with a base's own (a base at width 1.1 scaled by beta**phi gets width
1.1 * beta**phi applied to its unrounded channels), as the official code applies one
multiplier to the B0 table rather than rounding twice.

Running this module is the CLI: ``python -m scaling.compound --base FILE_OR_NAME ...``
(see :mod:`scaling.compound_cli`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from search_spaces.rounding import round_resolution
from search_spaces.errors import GenomeError, ParameterError, UserInputError, positive
from search_spaces.genome import MAX_RATIO, MAX_RESOLUTION, Network
from search_spaces.zoo.efficientnet import COEFFICIENTS

__all__ = ["PAPER", "PHIS", "Coefficients", "compound", "flops_factor", "official", "official_row"]

#: The compound coefficients the EfficientNet paper found by grid search at phi = 1 (sec. 4).
PAPER = (1.2, 1.1, 1.15)
#: The official family: B0 (phi 0) to B7 (phi 7).
PHIS = range(8)


@dataclass(frozen=True)
class Coefficients:
    """Compound scaling coefficients (Tan & Le 2019, eq. 3).

    Attributes:
        alpha: Depth base, >= 1.
        beta: Width base, >= 1.
        gamma: Resolution base, >= 1.
    """

    alpha: float
    beta: float
    gamma: float

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            object.__setattr__(self, name, positive(getattr(self, name), name))

    @property
    def flops_factor(self) -> float:
        """alpha * beta**2 * gamma**2: how much MACs grow per unit of phi."""
        return flops_factor(self.alpha, self.beta, self.gamma)


def flops_factor(alpha: float, beta: float, gamma: float) -> float:
    """``alpha * beta**2 * gamma**2`` (Tan & Le 2019, eq. 3): MACs grow by about this per unit of phi.

    MACs of a convolutional network are linear in depth and quadratic in width and
    resolution, hence the squares.
    """
    return alpha * beta ** 2 * gamma ** 2


def compound(genome: Network, phi: float, alpha: float, beta: float, gamma: float, *,
             resolution_divisor: int = 4, max_resolution: int | None = None, name: str | None = None) -> Network:
    """``genome`` scaled by depth ``alpha**phi``, width ``beta**phi``, resolution ``gamma**phi`` (eq. 3).

    Args:
        genome: The base network (any family; its own multipliers are kept and multiplied).
        phi: The compound coefficient (0 returns the base, renamed if ``name`` is given).
        alpha: Depth base.
        beta: Width base.
        gamma: Resolution base.
        resolution_divisor: The scaled resolution is rounded to a multiple of this.
        max_resolution: Cap on the scaled resolution, as EfficientNetV2 caps its family at 480 px
            (Tan & Le 2021, sec. 3.4); ``None``: no cap. A base above the cap keeps its own resolution.
        name: Name of the scaled genome; default ``{base}_phi{phi}``.

    Returns:
        The scaled genome (a new object; ``genome`` is unchanged).

    Raises:
        ParameterError: naming ``alpha``, ``beta`` or ``gamma`` when its power at ``phi`` makes a
            multiplier or a resolution beyond what a genome supports.
    """
    c = Coefficients(alpha, beta, gamma)
    depth, width = genome.depth_mult * _power(c.alpha, phi, "alpha"), genome.width_mult * _power(c.beta, phi, "beta")
    resolution = genome.resolution * _power(c.gamma, phi, "gamma")
    cap = None if max_resolution is None else max(max_resolution, genome.resolution)
    if cap is not None:
        resolution = min(resolution, cap)
    for parameter, value, limit, what in (("alpha", depth, MAX_RATIO, "a depth multiplier"),
                                          ("beta", width, MAX_RATIO, "a width multiplier"),
                                          ("gamma", resolution, MAX_RESOLUTION, "a resolution")):
        if value > limit:
            raise ParameterError(parameter, f"{getattr(c, parameter):g} at phi {phi:g} gives {what} of {value:.3g}, "
                                            f"beyond the {limit:g} a genome supports")
    try:
        return replace(genome, name=name or f"{genome.name}_phi{phi:g}", depth_mult=depth, width_mult=width,
                       resolution=round_resolution(genome.resolution, c.gamma ** phi, resolution_divisor, cap))
    except GenomeError as err:  # e.g. too many blocks after depth scaling: say which coefficient did it
        parameter = {"depth_mult": "alpha", "width_mult": "beta", "resolution": "gamma"}.get(err.field, "alpha")
        raise ParameterError(parameter, f"{getattr(c, parameter):g} at phi {phi:g} gives an invalid genome: "
                                        f"{err}") from None


def _power(base: float, phi: float, name: str) -> float:
    """``base ** phi``; an overflow is a :class:`ParameterError` naming ``name``."""
    try:
        return base ** phi
    except OverflowError:
        raise ParameterError(name, f"{base:g} at phi {phi:g} overflows") from None


def official_row(phi: int) -> tuple[float, float, int, float]:
    """The official table's (width, depth, resolution, dropout) for B``phi`` (``efficientnet_builder.py``)."""
    if isinstance(phi, bool) or not isinstance(phi, int) or phi not in PHIS:
        raise UserInputError(f"--phi must be an integer from {PHIS[0]} to {PHIS[-1]} for the official table, "
                             f"got {phi!r}")
    return COEFFICIENTS[f"efficientnet_b{phi}"]


def official(genome: Network, phi: int, *, name: str | None = None) -> Network:
    """``genome`` scaled by the official B``phi`` row: width, depth and dropout as the table says.

    The table's resolution is absolute (B0 at 224 -> B4 at 380); for a base at another
    resolution it is applied as the ratio to B0's 224 and rounded to a multiple of 4, which
    gives the table's value for any 224 px base. From ``efficientnet_b0`` this reproduces
    ``efficientnet_b1`` .. ``b7`` exactly.
    """
    width, depth, resolution, dropout = official_row(phi)
    base_resolution = official_row(0)[2]
    return replace(genome, name=name or f"{genome.name}_b{phi}",
                   width_mult=genome.width_mult * width, depth_mult=genome.depth_mult * depth,
                   resolution=round_resolution(genome.resolution, resolution / base_resolution),
                   head=replace(genome.head, dropout=dropout))


if __name__ == "__main__":
    from scaling.compound_cli import main

    raise SystemExit(main())
