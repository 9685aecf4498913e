"""Non-uniform, stage-wise scaling (Tan & Le 2021, "EfficientNetV2", sec. 3.3-3.4), as pure functions.

The paper scales EfficientNetV2-S up to M and L "using similar compound scaling as
EfficientNet, with a few additional optimizations: (1) we restrict the maximum inference
image size to 480 ...; (2) as a heuristic, we also gradually add more layers to later
stages (e.g., stage 5 and 6 in Table 4) in order to increase the network capacity without
adding much runtime overhead." It prints no formula, and the official M and L
(``effnetv2_configs.py``) are hand-written stage tables. This module offers both:

- :func:`stagewise`, a documented rule in the paper's words. For a network of ``n``
  stages and phi = 0, 1, 2, ...:

  - width ``beta ** phi`` (every channel count, rounded as the genome says: V2 rounds to
    multiples of 8 without the 90% guard);
  - stage ``i`` (0-based) gets the depth multiplier ``m_i ** phi`` with
    ``m_i = first * (last / first) ** (i / (n - 1))``, growing geometrically from
    ``first`` (the stem side) to ``last`` (the head side), ceil-rounded;
  - resolution ``min(max_resolution, r * gamma ** phi)``, rounded to a multiple of 4.

  :data:`V2_RULE` holds coefficients fitted to the official M (phi = 1) and L (phi = 2)
  from S: three numbers (depth first/last, width) for four targets (params and MACs of
  M and L), resolution 384 -> 480. It lands within 6% of both models' params and MACs
  (docs/BENCHMARKS.md, "Scaling"), without M and L's extra seventh stage.
- :func:`official`, the official stage tables: from ``efficientnetv2_s`` they give the
  zoo's ``efficientnetv2_m`` and ``efficientnetv2_l`` exactly.

Running this module is the CLI: ``python -m scaling.stagewise --base FILE_OR_NAME ...``
(see :mod:`scaling.stagewise_cli`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scaling.family import is_zoo_model
from search_spaces.rounding import round_resolution
from search_spaces import zoo
from search_spaces.errors import ParameterError, UserInputError, positive
from search_spaces.genome import Network

__all__ = ["OFFICIAL", "V2_RULE", "StagewiseRule", "depth_multipliers", "official", "stagewise"]


@dataclass(frozen=True)
class StagewiseRule:
    """Coefficients of the stage-wise rule (see the module docstring).

    Attributes:
        beta: Width base (width ``beta ** phi``).
        depth_first: Depth base of the first stage.
        depth_last: Depth base of the last stage (>= ``depth_first``: later stages grow more).
        gamma: Resolution base.
        max_resolution: Cap on the scaled resolution (480 in EfficientNetV2).
    """

    beta: float = 1.06
    depth_first: float = 1.2
    depth_last: float = 2.25
    gamma: float = 1.25
    max_resolution: int = 480

    def __post_init__(self) -> None:
        for name in ("beta", "depth_first", "depth_last", "gamma"):
            object.__setattr__(self, name, positive(getattr(self, name), name))
        if isinstance(self.max_resolution, bool) or not isinstance(self.max_resolution, int) or self.max_resolution < 1:
            raise ParameterError("max_resolution", f"must be a positive integer, got {self.max_resolution!r}")


#: Fitted to EfficientNetV2-M (phi 1) and -L (phi 2) from -S; see the module docstring.
V2_RULE = StagewiseRule()

#: The official family from S: member name -> its phi in the rule's numbering.
OFFICIAL = {"efficientnetv2_m": 1, "efficientnetv2_l": 2}


def depth_multipliers(stages: int, first: float, last: float, phi: float = 1.0) -> list[float]:
    """Per-stage depth multipliers ``(first * (last / first) ** (i / (stages - 1))) ** phi``, i = 0..stages-1.

    The geometric ramp from ``first`` to ``last`` is this toolkit's reading of EfficientNetV2
    sec. 3.4's "gradually add more layers to later stages".
    """
    if stages < 1:
        raise ValueError(f"stages must be positive, got {stages}")
    if stages == 1:
        return [last ** phi]
    return [(first * (last / first) ** (i / (stages - 1))) ** phi for i in range(stages)]


def stagewise(genome: Network, phi: float, rule: StagewiseRule = V2_RULE, *, name: str | None = None) -> Network:
    """``genome`` scaled stage-wise by ``rule`` at ``phi`` (phi = 0 returns the base, renamed if asked).

    Stage depths are written out (``ceil(depth * depth_mult * m_i ** phi)``, then ``depth_mult``
    1), since the genome has one depth multiplier and this rule has one per stage; the
    widths keep composing through ``width_mult``.
    """
    multipliers = depth_multipliers(len(genome.stages), rule.depth_first, rule.depth_last, phi)
    resolution = round_resolution(genome.resolution, rule.gamma ** phi, 4, cap=max(rule.max_resolution,
                                                                                   genome.resolution))
    return replace(genome.folded(multipliers), name=name or f"{genome.name}_phi{phi:g}",
                   width_mult=genome.width_mult * rule.beta ** phi, resolution=resolution)


def official(genome: Network, member: str) -> Network:
    """The official ``member`` (``efficientnetv2_m`` or ``_l``) of ``genome``'s family; ``genome`` must be V2-S.

    The official M and L are hand-designed stage tables (``effnetv2_configs.py``: more
    layers in stages 5-6, a seventh stage, 480 px), not a formula of S; the zoo holds them.
    """
    if member not in OFFICIAL:
        raise UserInputError(f"official member must be one of {', '.join(OFFICIAL)}, got {member!r}")
    if not is_zoo_model(genome, "efficientnetv2_s"):
        raise UserInputError(f"--official: the official tables define EfficientNetV2-M and -L from "
                             f"efficientnetv2_s only, and base {genome.name!r} is not it (drop --official to "
                             f"apply the stage-wise rule)")
    return zoo.get(member)


if __name__ == "__main__":
    from scaling.stagewise_cli import main

    raise SystemExit(main())
