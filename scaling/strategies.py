"""Scaling strategies as data: each maps a base genome and a FLOPs multiple ``s`` to a genome.

A strategy is a frozen dataclass, written on the command line as a short spec
(:func:`parse`); :data:`STRATEGIES` is the registry of spec names:

====================  =====================================================================
spec                  rule (FLOPs multiple ``s``)
====================  =====================================================================
``compound:A,B,G``    EfficientNet's compound scaling (Tan & Le 2019, eq. 3) with any alpha,
                      beta, gamma: phi = ln s / ln(alpha beta^2 gamma^2); ``compound`` alone
                      is the paper's 1.2, 1.1, 1.15
``width``             width only: channels x s^(1/2)
``depth``             depth only: layers x s
``resolution``        resolution only: input size x s^(1/2)
``dollar:ALPHA``      Dollár et al.'s family (CVPR 2021, "Fast and Accurate Model Scaling",
                      sec. 4): e_w = alpha, e_d = e_r = (1 - alpha) / 2; ``uniform`` is
                      alpha = 1/3, ``dwr`` is their recommended alpha = 0.8
``stagewise``         EfficientNetV2's stage-wise rule (Tan & Le 2021, sec. 3.4;
                      :data:`scaling.stagewise.V2_RULE`), phi chosen so MACs grow by ``s``
====================  =====================================================================

Any spec takes ``@CAP`` for a resolution cap in pixels (``compound@480``: V2's cap on
EfficientNet's rule); ``stagewise`` has V2's 480 unless given another.

The first five are one rule in Dollár et al.'s notation (:class:`Exponents`): for FLOPs
``x s``, depth grows by ``s^e_d``, width by ``s^(e_w / 2)`` and resolution by ``s^(e_r / 2)``
with ``e_d + e_w + e_r = 1``, so an ideal network's params grow as ``s^(e_d + e_w)``, its MACs
as ``s`` and its activations as ``s^(e_d + e_w / 2 + e_r) = s^(1 - alpha / 2)`` in the alpha
family. The genome is made by :func:`scaling.compound.compound` at phi = 1 with those
multipliers, so the existing rounding rules apply (channels to multiples of 8, depth
ceil-rounded per stage, resolution to a multiple of 4).

A rule's ``s`` is nominal: rounding makes the real MACs differ. :func:`at_macs` finds the
member whose real MACs are closest to ``s`` times the base's, so strategies are compared at
equal compute (EfficientNet's Figure 8, Dollár et al.'s plots).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace

from scaling.compound import PAPER, compound, flops_factor
from scaling.stagewise import V2_RULE, StagewiseRule, stagewise
from search_spaces import cost
from search_spaces.errors import GenomeError, ParameterError, UserInputError
from search_spaces.genome import MAX_RESOLUTION, Network

__all__ = ["DEFAULT_STRATEGIES", "STRATEGIES", "Exponents", "Rule", "ScalingStrategy", "Stagewise", "at_macs",
           "parse", "parse_list"]


@dataclass(frozen=True)
class Exponents:
    """How a FLOPs multiple ``s`` is split between depth, width and resolution (Dollár et al. 2021, sec. 3).

    Depth grows by ``s ** depth``, width by ``s ** (width / 2)``, resolution by ``s ** (resolution / 2)``
    (MACs are linear in depth and quadratic in width and resolution); the three sum to 1.
    """

    depth: float
    width: float
    resolution: float

    def __post_init__(self) -> None:
        for name in ("depth", "width", "resolution"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ParameterError(name, f"exponent must be a number >= 0, got {value!r}")
        if abs(self.depth + self.width + self.resolution - 1) > 1e-9:
            raise ParameterError("exponents", f"e_d + e_w + e_r must be 1, got {self.depth + self.width + self.resolution:g}")

    def multipliers(self, s: float) -> tuple[float, float, float]:
        """(depth, width, resolution) multipliers for FLOPs ``x s``."""
        return s ** self.depth, s ** (self.width / 2), s ** (self.resolution / 2)

    def growth(self) -> dict[str, float]:
        """Exponents of params, MACs and activations in ``s`` for an ideal network (Dollár et al., Table 1):
        params ~ d w^2, MACs ~ d w^2 r^2, activations ~ d w r^2."""
        return {"params": self.depth + self.width, "macs": 1.0,
                "activations": self.depth + self.width / 2 + self.resolution}


class ScalingStrategy(ABC):
    """A rule that grows a base genome by a FLOPs multiple (a frozen dataclass in every subclass)."""

    max_resolution: int | None

    @property
    @abstractmethod
    def label(self) -> str:
        """Short name for tables and files (the spec it parses from)."""

    @abstractmethod
    def scale(self, base: Network, s: float, *, name: str | None = None) -> Network:
        """``base`` grown by the nominal FLOPs multiple ``s`` (>= 1), rounded as the genome's rules say.

        Raises:
            ParameterError: ``s`` makes a genome beyond what the vocabulary supports (too many blocks,
                too large a multiplier or resolution).
        """

    def exponents(self) -> Exponents | None:
        """The rule in Dollár et al.'s notation, or ``None`` if it has no such form."""
        return None


@dataclass(frozen=True)
class Rule(ScalingStrategy):
    """Depth, width and resolution each a fixed power of ``s`` (compound, single-dimension, Dollár's family).

    Attributes:
        name: The spec name (``compound``, ``width``, ``dollar``, ...).
        split: The exponents.
        args: The spec's arguments as written (for the label).
        max_resolution: Resolution cap in pixels, or ``None``.
    """

    name: str
    split: Exponents
    args: str = ""
    max_resolution: int | None = None

    @property
    def label(self) -> str:
        cap = f"@{self.max_resolution}" if self.max_resolution is not None else ""
        return f"{self.name}{':' + self.args if self.args else ''}{cap}"

    def scale(self, base: Network, s: float, *, name: str | None = None) -> Network:
        s = _multiple(s)
        depth, width, resolution = self.split.multipliers(s)
        try:
            return compound(base, 1, depth, width, resolution, max_resolution=self.max_resolution,
                            name=name or f"{base.name}_{_slug(self.label)}_x{s:g}")
        except ParameterError as err:
            raise ParameterError("s", f"{self.label} at s = {s:g} is beyond what a genome supports: {err}") from None

    def exponents(self) -> Exponents:
        return self.split


@dataclass(frozen=True)
class Stagewise(ScalingStrategy):
    """EfficientNetV2's stage-wise rule (:func:`scaling.stagewise.stagewise`), phi set so MACs grow by ``s``.

    The rule prints no FLOPs factor per phi (later stages deepen faster, resolution stops at
    the cap), so ``scale`` finds phi by bisection on the real MACs.
    """

    rule: StagewiseRule = V2_RULE
    max_resolution: int | None = V2_RULE.max_resolution

    @property
    def label(self) -> str:
        return "stagewise" + ("" if self.max_resolution == V2_RULE.max_resolution else f"@{self.max_resolution}")

    def scale(self, base: Network, s: float, *, name: str | None = None) -> Network:
        s = _multiple(s)
        rule = replace(self.rule, max_resolution=self.max_resolution or MAX_RESOLUTION)
        target = s * cost(base).macs

        def member(phi: float) -> Network:
            return stagewise(base, phi, rule, name=name or f"{base.name}_{_slug(self.label)}_x{s:g}")

        try:
            return _closest(member, target, 0.0, 1.0)
        except (GenomeError, ParameterError) as err:
            raise ParameterError("s", f"{self.label} at s = {s:g} is beyond what a genome supports: {err}") from None


def at_macs(strategy: ScalingStrategy, base: Network, s: float, *, name: str | None = None) -> Network:
    """The member of ``strategy`` whose real MACs are closest to ``s`` times ``base``'s.

    The nominal multiple is searched by bisection (real MACs never fall as it grows); strategies
    are then compared at equal compute, as EfficientNet's Figure 8 and Dollár et al. compare them.

    Raises:
        ParameterError: naming ``s`` when no genome the vocabulary supports reaches the target.
    """
    s = _multiple(s)
    if isinstance(strategy, Stagewise):
        return strategy.scale(base, s, name=name)
    label = name or f"{base.name}_{_slug(strategy.label)}_x{s:g}"
    try:
        return _closest(lambda x: strategy.scale(base, x, name=label), s * cost(base).macs, 1.0, s)
    except (GenomeError, ParameterError) as err:
        why = err.problem if isinstance(err, ParameterError) else str(err)
        raise ParameterError("s", f"{s:g}x the base's MACs is out of {strategy.label}'s reach: {why}") from None


def _closest(member: Callable[[float], Network], target: float, low: float, high: float) -> Network:
    """The genome ``member(x)`` whose MACs are closest to ``target``, ``x`` searched from [low, high] upward.

    ``high`` doubles until it reaches the target (a capped resolution leaves the rest to the other
    dimensions, and rounding can leave the nominal multiple short); 40 bisection steps then pin
    the step of the rounded MACs where the target falls.
    """
    lo_g = member(low)
    if cost(lo_g).macs >= target:
        return lo_g
    hi_g = member(high)
    for _ in range(16):
        if cost(hi_g).macs >= target:
            break
        low, lo_g = high, hi_g
        high *= 2
        hi_g = member(high)
    else:
        raise ParameterError("s", f"no member reaches {target:,.0f} MACs (a capped dimension stops growing)")
    for _ in range(40):
        mid = (low + high) / 2
        g = member(mid)
        if cost(g).macs >= target:
            high, hi_g = mid, g
        else:
            low, lo_g = mid, g
    return lo_g if target - cost(lo_g).macs < cost(hi_g).macs - target else hi_g


def _multiple(s: float) -> float:
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 1:
        raise ParameterError("s", f"a FLOPs multiple must be a number >= 1, got {s!r}")
    return float(s)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label).strip("_")


def _compound(args: list[float]) -> Exponents:
    alpha, beta, gamma = args or PAPER
    total = math.log(flops_factor(alpha, beta, gamma))
    if total <= 0:
        raise ParameterError("compound", f"alpha*beta^2*gamma^2 must exceed 1 to grow FLOPs, got "
                                         f"{flops_factor(alpha, beta, gamma):g}")
    return Exponents(math.log(alpha) / total, 2 * math.log(beta) / total, 2 * math.log(gamma) / total)


def _dollar(args: list[float]) -> Exponents:
    (alpha,) = args
    if not 0 <= alpha <= 1:
        raise ParameterError("dollar", f"alpha must be between 0 and 1, got {alpha:g}")
    return Exponents((1 - alpha) / 2, alpha, (1 - alpha) / 2)


#: Spec name -> (number of arguments allowed, exponents from them, what the arguments are).
STRATEGIES: dict[str, tuple[tuple[int, ...], Callable[[list[float]], Exponents] | None, str]] = {
    "compound": ((0, 3), _compound, "compound:ALPHA,BETA,GAMMA (default the paper's 1.2,1.1,1.15)"),
    "width": ((0,), lambda _: Exponents(0.0, 1.0, 0.0), "width"),
    "depth": ((0,), lambda _: Exponents(1.0, 0.0, 0.0), "depth"),
    "resolution": ((0,), lambda _: Exponents(0.0, 0.0, 1.0), "resolution"),
    "dollar": ((1,), _dollar, "dollar:ALPHA (0..1; share of FLOPs given to width)"),
    "uniform": ((0,), lambda _: _dollar([1 / 3]), "uniform (dollar:1/3)"),
    "dwr": ((0,), lambda _: _dollar([0.8]), "dwr (dollar:0.8)"),
    "stagewise": ((0,), None, "stagewise (EfficientNetV2's rule, 480 px cap)"),
}

#: What ``scaling.laws`` compares unless told otherwise.
DEFAULT_STRATEGIES = ("compound", "width", "depth", "resolution", "uniform", "dwr", "stagewise")


def parse(spec: str) -> ScalingStrategy:
    """The strategy a spec names (``compound:1.2,1.1,1.15@480``, ``dwr``, ``stagewise``; see the module docstring).

    Raises:
        UserInputError: one sentence naming the spec and what is wrong with it.
    """
    text = spec.strip().lower()
    head, _, cap_text = text.partition("@")
    name, _, arg_text = head.partition(":")
    if name not in STRATEGIES:
        raise UserInputError(f"strategy {spec!r}: unknown; choose from {', '.join(STRATEGIES)}")
    counts, make, usage = STRATEGIES[name]
    try:
        args = [_fraction(a) for a in arg_text.split(",")] if arg_text else []
        cap = int(cap_text) if cap_text else None
    except ValueError:
        raise UserInputError(f"strategy {spec!r}: arguments must be numbers and a cap an integer, as in "
                             f"{usage}") from None
    if len(args) not in counts:
        raise UserInputError(f"strategy {spec!r}: takes {' or '.join(map(str, counts))} argument(s), as in {usage}")
    if cap is not None and not 1 <= cap <= MAX_RESOLUTION:
        raise UserInputError(f"strategy {spec!r}: the resolution cap must be 1 to {MAX_RESOLUTION} px, got {cap}")
    try:
        if make is None:
            return Stagewise(max_resolution=cap if cap is not None else V2_RULE.max_resolution)
        return Rule(name, make(args), arg_text, cap)
    except ParameterError as err:
        raise UserInputError(f"strategy {spec!r}: {err}") from None


def parse_list(text: str) -> list[ScalingStrategy]:
    """Strategies from a space-separated list of specs (``--strategies "compound width dwr"``); each once.

    Raises:
        UserInputError: an empty list, a bad spec, or one strategy named twice.
    """
    strategies = [parse(s) for s in text.replace(";", " ").split()]
    if not strategies:
        raise UserInputError("--strategies names no strategy")
    labels = [s.label for s in strategies]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise UserInputError(f"--strategies names {', '.join(twice)} more than once")
    return strategies


def _fraction(text: str) -> float:
    """``0.8`` or ``1/3``."""
    top, slash, bottom = text.partition("/")
    value = float(top) / float(bottom) if slash else float(top)
    if not math.isfinite(value):
        raise ValueError(text)
    return value
