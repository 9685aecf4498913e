"""Which strategy to grow a base by, for a target compute: predicted accuracy per unit of measured time.

For each fitted strategy, the member whose real MACs are closest to the target
(:func:`scaling.strategies.at_macs`) is timed on this machine (a training step by default,
the search's training-aware view; or one-image latency), and its accuracy is predicted by
the strategy's law (:mod:`scaling.laws.fit`) at its real compute, with the bootstrap's 90%
interval. The score is predicted accuracy divided by measured time (accuracy per second):
at equal FLOPs, the strategies differ mostly in how fast their members run (Dollár et
al. 2021), and a slightly less accurate member that trains much faster wins.

Warnings, each one sentence: a member past the resolution cap (EfficientNetV2 caps its
family at 480 px; ResNet-RS (Bello et al. 2021) finds resolution should grow more slowly
than EfficientNet grows it); a target beyond twice the largest level fitted (an
extrapolation); and intervals too wide to decide (the winner's accuracy interval overlaps
the runner-up's while the runner-up is as fast or faster).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scaling.laws.powerlaw import Fit, PowerLaw
from scaling.laws.timing import time_genome
from scaling.strategies import ScalingStrategy, at_macs
from search_spaces import codec, cost
from search_spaces.codec import genome_key
from search_spaces.errors import ParameterError, UserInputError
from search_spaces.genome import Network
from search_spaces.units import human

__all__ = ["RESOLUTION_CAP", "Candidate", "Choice", "SavedFit", "describe", "load_fit", "parse_target", "recommend",
           "write"]

#: Resolution past which a member is warned about (EfficientNetV2's cap, Tan & Le 2021, sec. 3.4).
RESOLUTION_CAP = 480


@dataclass(frozen=True)
class SavedFit:
    """A fit read back from ``laws.json``: the laws fitted to every level, their bootstrap draws, the levels."""

    fit: Fit
    levels: list[float]

    @property
    def strategies(self) -> list[str]:
        return list(self.fit.laws)

    def accuracy(self, strategy: str, compute: float) -> tuple[float, tuple[float, float]]:
        """The predicted accuracy of ``strategy`` at ``compute`` and its 90% interval."""
        low, high = self.fit.interval(strategy, compute)
        return 1.0 - self.fit.predict(strategy, compute), (1.0 - high, 1.0 - low)


def load_fit(directory: Path, base: Network) -> SavedFit:
    """The fit in ``directory`` (its ``laws.json``), checked to be of ``base``.

    Raises:
        UserInputError: no fit there, a damaged file, or the fit of another base.
    """
    path = Path(directory) / "laws.json"
    try:
        data = json.loads(path.read_text())
        laws = {k: PowerLaw(float(v["floor"]), float(v["scale"]), float(v["exponent"])) for k, v in data["fit"].items()}
        draws = {k: [PowerLaw(*map(float, d)) for d in v.get("draws") or []] for k, v in data["fit"].items()}
        key, levels = str(data["base_key"]), [float(x) for x in data["levels"]]
    except FileNotFoundError:
        raise UserInputError(f"--fit: no fit in {directory} (no laws.json); run python -m scaling.laws fit --base "
                             f"{base.name} --out {directory} first") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserInputError(f"--fit: {path} is not a readable laws.json ({type(err).__name__}: {err})") from None
    if key != genome_key(base):
        raise UserInputError(f"--fit: {path} is the fit of base {data.get('base')!r}, a different network from "
                             f"{base.name!r}; fit this base first")
    return SavedFit(Fit(laws, draws, bool(data.get("shared_floor", True))), levels)


_TARGET = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*x\s*$", re.IGNORECASE)


def parse_target(text: str, base_macs: int) -> float:
    """``4x`` or ``4`` -> 4.0; ``1.6G`` -> that many MACs over the base's. The result must exceed 1.

    Raises:
        UserInputError: naming ``--target``.
    """
    from nas.search.budget import parse_macs

    match = _TARGET.match(str(text))
    try:
        value = float(match.group(1)) if match else float(text)
    except ValueError:
        value = parse_macs(text, "--target") / base_macs
    if not math.isfinite(value) or value <= 1:
        raise UserInputError(f"--target must grow the base (a multiple above 1, such as 4x, or more MACs than the "
                             f"base's {human(base_macs)}), got {text!r}")
    if value > 1024:
        raise UserInputError(f"--target {text!r} is {value:.3g}x the base's MACs; at most 1024x is supported")
    return value


@dataclass(frozen=True)
class Candidate:
    """One strategy's member at the target, its predicted accuracy and measured time."""

    strategy: str
    genome: Network
    compute: float
    accuracy: float
    interval: tuple[float, float]
    time_ms: float

    @property
    def score(self) -> float:
        """Predicted accuracy per second of measured time."""
        return self.accuracy / (self.time_ms / 1000) if self.time_ms > 0 else math.nan


@dataclass(frozen=True)
class Choice:
    """The ranked candidates (best first), the timing used and the warnings."""

    candidates: list[Candidate]
    timing: str
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate:
        return self.candidates[0]


def recommend(base: Network, strategies: Sequence[ScalingStrategy], fit: SavedFit, target: float, *,
              timing: str = "train-step", batch: int = 8, repeats: int = 5, threads: int | None = None,
              max_resolution: int = RESOLUTION_CAP, device: str = "cpu") -> Choice:
    """Rank ``strategies`` at ``target`` times the base's MACs (see the module docstring)."""
    base_macs = cost(base).macs
    candidates, warnings = [], []
    for strategy in strategies:
        try:
            genome = at_macs(strategy, base, target)
        except ParameterError as err:
            warnings.append(f"{strategy.label} left out: {err.problem}")
            continue
        compute = cost(genome).macs / base_macs
        t = time_genome(strategy.label, target, genome, batch=batch, repeats=repeats, threads=threads, device=device,
                        what=(timing,))
        ms = t.latency_ms if timing == "latency" else t.train_step_ms
        candidates.append(Candidate(strategy.label, genome, compute, *fit.accuracy(strategy.label, compute), ms))
    if not candidates:
        raise UserInputError(f"--target {target:g}x: no strategy reaches it ({'; '.join(warnings)})")
    candidates.sort(key=lambda c: -c.score)
    warnings += [f"{c.strategy}'s member is at {c.genome.resolution} px, past the {max_resolution} px cap "
                f"(EfficientNetV2's): a cap (e.g. {c.strategy}@{max_resolution}) or another strategy keeps training "
                f"and inference memory in bounds" for c in candidates if c.genome.resolution > max_resolution]
    largest = max(fit.levels)
    if target > 2 * largest:
        warnings.append(f"the target {target:g}x is more than twice the largest level fitted ({largest:g}x): the "
                        f"prediction is an extrapolation; fit with larger --levels to trust it")
    if len(candidates) > 1:
        best, second = candidates[0], candidates[1]
        if best.interval[0] <= second.interval[1] and second.time_ms <= best.time_ms * 1.05:
            warnings.append(f"the fit's intervals are too wide to decide between {best.strategy} "
                            f"({_pct(best.interval)}) and {second.strategy} ({_pct(second.interval)}): they overlap "
                            f"and {second.strategy} runs as fast; train more members (--resume with more --levels or "
                            f"a larger budget)")
    return Choice(candidates, timing, warnings)


def _pct(interval: tuple[float, float]) -> str:
    return f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}%"


def describe(base: Network, choice: Choice, target: float) -> str:
    """The ranking as markdown."""
    unit = "training step" if choice.timing == "train-step" else "latency"
    lines = [f"# {base.name} grown {target:g}x: strategies ranked by predicted accuracy per second of {unit}", "",
             f"| strategy | MACs / base | resolution | width | depth | predicted accuracy | 90% interval | "
             f"{unit} ms | accuracy / s |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in choice.candidates:
        lines.append(f"| {c.strategy} | {c.compute:.2f} | {c.genome.resolution} | {c.genome.width_mult:.2f} | "
                     f"{c.genome.depth_mult:.2f} | {100 * c.accuracy:.2f}% | {_pct(c.interval)} | {c.time_ms:.1f} | "
                     f"{c.score:.2f} |")
    lines += ["", f"Recommended: **{choice.best.strategy}** ({choice.best.genome.name})."]
    lines += [f"- warning: {w}" for w in choice.warnings]
    return "\n".join(lines) + "\n"


def write(path: Path, choice: Choice, source: str, target: float) -> Path:
    """The recommended member's genome, with how it was chosen in ``meta.scaling``; loadable by every command."""
    best = choice.best
    meta = {"scaling": {"method": "scaling.laws recommend", "base": source, "target": target,
                        "strategy": best.strategy, "compute": round(best.compute, 4),
                        "predicted_accuracy": round(best.accuracy, 4),
                        "interval": [round(x, 4) for x in best.interval], "timing": choice.timing,
                        "time_ms": round(best.time_ms, 2),
                        "ranking": [c.strategy for c in choice.candidates], "warnings": list(choice.warnings)}}
    return codec.dump(best.genome, path, meta)
