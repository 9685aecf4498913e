"""``python -m scaling.compound``: a family from a base network by compound scaling.

Three ways to choose the coefficients:

- ``--alpha A --beta B --gamma G`` (default: the paper's 1.2, 1.1, 1.15): the pure formula,
  depth ``A**phi``, width ``B**phi``, resolution ``G**phi`` (:func:`scaling.compound.compound`);
- ``--official``: the official B1..B7 table (:func:`scaling.compound.official`); from
  ``efficientnet_b0`` it gives the zoo's ``efficientnet_b1`` .. ``b7`` exactly;
- ``--grid``: the paper's grid search at phi = 1 (:mod:`scaling.grid`), then the formula with
  the best triple.

Writes one YAML per member, ``family.md``, ``family.csv`` and ``family.png`` into ``--out``.
For a base equal to EfficientNet-B0, the table also shows the paper's params and FLOPs and
(``--reference``) the reference implementation's (timm), and in formula mode the official
table's, so the two recipes can be compared.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas import settings as knobs
from nas.cli import Parser, evaluation_flags, integer, parse_args, path, run, study_flags
from nas.rewards import Targets
from nas.search.session import HEARTBEAT_S, SEARCH_BUDGET, settings_help
from nas.search.study import safe_url
from scaling.compound import PAPER, PHIS, compound, official, official_row
from scaling.family import Member, check_family_dir, is_zoo_model, load_base, write_family
from scaling.grid import FeasibleGrid, GridSettings, feasible_triples, grid_search, plan_grid
from nas.search.session import SearchInterrupted
from search_spaces import cost, zoo
from search_spaces.errors import UserInputError
from search_spaces.genome import Network
from search_spaces.zoo.efficientnet import PAPER_FIGURES

__all__ = ["main", "parse_phis"]

PROG = "scaling.compound"

#: Parameters of the scaling library -> the flags they come from (errors name the flag).
FLAGS = {"alpha": "--alpha", "beta": "--beta", "gamma": "--gamma", "step": "--grid-step", "tolerance": "--tolerance",
         "target": "--target", "low": "--grid-range's LOW", "high": "--grid-range's HIGH"}


def _parser(required: bool = True) -> argparse.ArgumentParser:
    p = Parser(
        prog=f"python -m {PROG}", description="Derive a family from a base network by compound scaling "
        "(Tan & Le 2019, eq. 3): depth alpha^phi, width beta^phi, resolution gamma^phi. The evaluation and study "
        "flags apply to --grid.",
        parents=[evaluation_flags("what the reward needs (train); the search's settings, plus reference_resolution "
                                  "= the base's"), study_flags(HEARTBEAT_S)])
    p.add_argument("--base", required=required, help="zoo model name or genome YAML (a search's found.yaml works)")
    p.add_argument("--alpha", type=float, help=f"depth coefficient (default: the paper's {PAPER[0]})")
    p.add_argument("--beta", type=float, help=f"width coefficient (default: the paper's {PAPER[1]})")
    p.add_argument("--gamma", type=float, help=f"resolution coefficient (default: the paper's {PAPER[2]})")
    p.add_argument("--official", action="store_true", help="use the official B1..B7 table (width, depth, "
                   "resolution, dropout) instead of the formula")
    p.add_argument("--phi", default="0-7", help="phi values: one integer or a range A-B within 0-7 "
                   "(default: %(default)s; 0 is the base)")
    p.add_argument("--out", type=path, help="output directory (default: runs/BASE-compound)")
    p.add_argument("--resolution-divisor", type=integer(1, 1024), default=4,
                   help="round scaled resolutions to multiples of this (default: %(default)s, as the official table)")
    p.add_argument("--max-resolution", type=integer(1, 10_000), help="cap the scaled resolution at this many pixels, as "
                   "EfficientNetV2 caps its family at 480 (default: no cap; a member past 4x the base's resolution "
                   "is warned about)")
    p.add_argument("--reference", action="store_true", help="for an EfficientNet-B0 base, add the reference "
                   "implementation's (timm) params and MACs to the table (builds each model; needs timm)")
    g = p.add_argument_group("grid search (--grid): choose alpha, beta, gamma at phi = 1 first")
    g.add_argument("--grid", action="store_true", help="grid-search alpha, beta, gamma before scaling")
    g.add_argument("--grid-range", default="1.0:1.4", help="LOW:HIGH of each coefficient (default: %(default)s)")
    g.add_argument("--grid-step", type=float, default=0.05, help="grid spacing (default: %(default)s)")
    g.add_argument("--tolerance", type=float, default=0.1,
                   help="keep triples with |alpha*beta^2*gamma^2 - target| <= this (default: %(default)s)")
    g.add_argument("--target", type=float, default=2.0, help="MACs growth per unit of phi (default: %(default)s)")
    g.add_argument("--reward", default="flops", help="reward ranking the triples, its MACs target being "
                   "target x the base's MACs (default: %(default)s)")
    return p


def parse_phis(text: str, allowed: range = PHIS, what: str = "B0..B7") -> list[int]:
    """``"3"`` -> [3], ``"1-7"`` -> [1, ..., 7]; every value within ``allowed``."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not match:
        raise UserInputError(f"--phi must be an integer or a range A-B, got {text!r}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    if low > high or low not in allowed or high not in allowed:
        raise UserInputError(f"--phi must lie within {allowed[0]}-{allowed[-1]} ({what}) with A <= B, got {text!r}")
    return list(range(low, high + 1))


def _grid_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(":"))
    except ValueError:
        raise UserInputError(f"--grid-range must be LOW:HIGH, e.g. 1.0:1.4, got {text!r}") from None
    return low, high


def _member_name(base: Network, phi: int, official_mode: bool) -> str:
    if phi == 0:
        return base.name
    if official_mode and base.name.endswith("_b0"):
        return f"{base.name[:-3]}_b{phi}"
    return f"{base.name}_b{phi}" if official_mode else f"{base.name}_phi{phi}"


def _reference_columns(phi: int) -> dict[str, Any]:
    from search_spaces.reference import counted_macs, n_params, reference_model

    name = f"efficientnet_b{phi}"
    model = reference_model(name)
    resolution = zoo.get(name).resolution
    return {"timm params": n_params(model), "timm MACs": counted_macs(model, (1, 3, resolution, resolution))}


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(_parser, argv, lambda a: settings_help(a.evaluator, a.reward, Targets(1.0, None), FeasibleGrid(),
                                                             {**SEARCH_BUDGET, "reference_resolution": "the base's"}))
    if args is None:
        return 0
    base, source, base_meta = load_base(args.base)
    phis = parse_phis(args.phi)
    given = [n for n in ("alpha", "beta", "gamma") if getattr(args, n) is not None]
    if args.official and (given or args.grid):
        raise UserInputError("--official uses the official table; it cannot be combined with --alpha/--beta/--gamma "
                             "or --grid")
    if args.grid and given:
        raise UserInputError("--grid chooses alpha, beta and gamma itself; drop --alpha/--beta/--gamma")
    if given and len(given) != 3:
        missing = [n for n in ("alpha", "beta", "gamma") if n not in given]
        raise UserInputError(f"--alpha, --beta and --gamma go together; --{', --'.join(missing)} missing")
    out = args.out or Path(f"runs/{base.name}-compound")
    alpha, beta, gamma = (args.alpha, args.beta, args.gamma) if given else PAPER
    names = [_member_name(base, phi, args.official) for phi in phis]
    if not args.grid:  # every member is made (and a bad coefficient refused) before anything is written
        _members(base, source, phis, args, (alpha, beta, gamma), {})
        check_family_dir(out, _title(base, args.official, (alpha, beta, gamma)), names)
    notes: list[str] = []
    grid_meta: dict[str, Any] = {}
    if args.grid:
        low, high = _grid_range(args.grid_range)
        triples = feasible_triples(low, high, args.grid_step, args.target, args.tolerance)
        settings = GridSettings(reward=args.reward, evaluator=args.evaluator, knobs=knobs.parse_pairs(args.set),
                                target=args.target, out=out / "grid", storage=args.storage,
                                study_name=args.study_name, resume=args.resume, seed=args.seed, data=args.data,
                                device=args.device, threads=args.threads, quiet=args.quiet, plots=not args.no_plots,
                                heartbeat=args.heartbeat)
        plan = plan_grid(base, triples, settings)  # every bad setting is refused before the first triple
        check_family_dir(out, _title(base, False, None, grid=True), names, title_prefix=True)
        if not args.quiet:
            print(f"grid search: {len(triples)} feasible (alpha, beta, gamma) on {args.grid_range} step "
                  f"{args.grid_step:g}, |alpha*beta^2*gamma^2 - {args.target:g}| <= {args.tolerance:g}",
                  file=sys.stderr)
        try:
            result = grid_search(base, triples, settings, plan)
        except SearchInterrupted as stop:
            command = safe_url(" ".join([f"python -m {PROG}", *(a for a in argv if a != "--resume"), "--resume"]))
            print(f"{PROG}: interrupted; every finished triple is saved. Continue with: {command}", file=sys.stderr)
            return 128 + stop.signum
        alpha, beta, gamma = result.best.alpha, result.best.beta, result.best.gamma
        grid_meta = {"study": result.study, "storage": safe_url(settings.storage or str(settings.out / "study.db")),
                     "trial": result.trial, "reward": args.reward, "value": result.value, "triples": len(triples)}
        notes.append(f"alpha, beta, gamma = {alpha:g}, {beta:g}, {gamma:g}: best {args.reward} reward "
                     f"{result.value:.4f} (trial {result.trial}) of {len(triples)} feasible triples; grid study "
                     f"in {settings.out}")
    members = _members(base, source, phis, args, (alpha, beta, gamma), grid_meta)
    for warning in resolution_warnings(base, [m.genome for m in members], args.max_resolution):
        print(f"{PROG}: {warning}", file=sys.stderr)
        notes.append(warning)
    written = write_family(out, members, base_meta, _title(base, args.official, (alpha, beta, gamma), args.grid),
                           notes, plot=not args.no_plots)
    print(written[len(members)].read_text(), end="")
    print(f"wrote {len(members)} genome files, family.md, family.csv{'' if args.no_plots else ', family.png'} "
          f"in {out}")
    return 0


#: A member past this multiple of its base's resolution is warned about: EfficientNet's B7 is at 2.7x B0's
#: 224 px, EfficientNetV2 caps its family at 480 px (1.25x V2-S's 384), and ResNet-RS (Bello et al. 2021)
#: found resolution should grow more slowly than EfficientNet grows it.
RESOLUTION_WARNING = 4.0


def resolution_warnings(base: Network, genomes: Sequence[Network], cap: int | None) -> list[str]:
    """One warning per member whose resolution passes :data:`RESOLUTION_WARNING` times the base's (none under a cap)."""
    if cap is not None:
        return []
    return [f"warning: {g.name} is at {g.resolution} px, {g.resolution / base.resolution:.1f}x the base's "
            f"{base.resolution}: far past what any published family grows resolution by (EfficientNet-B7 is at 2.7x "
            f"B0); cap it with --max-resolution (EfficientNetV2 uses 480) or compare strategies with "
            f"python -m scaling.laws recommend"
            for g in genomes if g.resolution > RESOLUTION_WARNING * base.resolution]


def _title(base: Network, official_mode: bool, coefficients: tuple[float, float, float] | None,
           grid: bool = False) -> str:
    """The family's title; without ``coefficients`` (a grid still to run) the part its title will start with."""
    if official_mode:
        return f"{base.name}: official EfficientNet table (width, depth, resolution, dropout)"
    how = f"{base.name}: compound scaling" + (" from a grid search," if grid else "")
    if coefficients is None:
        return how
    alpha, beta, gamma = coefficients
    return f"{how} alpha={alpha:g}, beta={beta:g}, gamma={gamma:g} (alpha*beta^2*gamma^2 = {alpha * beta ** 2 * gamma ** 2:.3f})"


def _members(base: Network, source: str, phis: list[int], args: argparse.Namespace,
             coefficients: tuple[float, float, float], grid_meta: dict[str, Any]) -> list[Member]:
    alpha, beta, gamma = coefficients
    b0 = is_zoo_model(base, "efficientnet_b0")
    base_macs = cost(base).macs
    members = []
    for phi in phis:
        name = _member_name(base, phi, args.official)
        if args.official:
            genome = official(base, phi, name=name)
            width, depth, resolution, dropout = official_row(phi)
            how: dict[str, Any] = {"official": {"width": width, "depth": depth, "resolution": resolution,
                                                "dropout": dropout}}
        else:
            genome = compound(base, phi, alpha, beta, gamma, resolution_divisor=args.resolution_divisor,
                              max_resolution=args.max_resolution, name=name)
            how = {"alpha": alpha, "beta": beta, "gamma": gamma}
            if args.max_resolution is not None:
                how["max_resolution"] = args.max_resolution
            if grid_meta:
                how["grid"] = grid_meta
        provenance = {"method": "compound", "base": source, "base_name": base.name, "phi": phi, **how,
                      "width_mult": genome.width_mult, "depth_mult": genome.depth_mult,
                      "resolution": genome.resolution}
        macs = cost(genome).macs
        compare: dict[str, Any] = {"MACs / base": round(macs / base_macs, 3)}
        compare["expected MACs / base"] = 2 ** phi if args.official else round((alpha * beta ** 2 * gamma ** 2) ** phi, 3)
        if b0:
            params, flops = PAPER_FIGURES[f"efficientnet_b{phi}"]
            compare["paper params"] = f"{params / 1e6:g}M"
            compare["paper MACs"] = f"{flops / 1e9:g}B"
            zoo_model = zoo.get(f"efficientnet_b{phi}")
            if args.official:
                compare["equals zoo"] = "yes" if genome == zoo_model else "no"
            else:
                c = cost(zoo_model)
                compare["official params"] = c.params
                compare["official MACs"] = c.macs
            if args.reference:
                compare.update(_reference_columns(phi))
        members.append(Member(genome, phi, provenance, compare))
    return members


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG, FLAGS)
