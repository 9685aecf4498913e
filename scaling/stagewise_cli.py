"""``python -m scaling.stagewise``: a family from a base network by EfficientNetV2's stage-wise scaling.

Without ``--official`` the rule of :func:`scaling.stagewise.stagewise` (coefficients
overridable; the defaults are fitted to V2-M/L) gives phi = 1, 2, ...; with
``--official`` and base ``efficientnetv2_s`` the members are the official V2-M and V2-L.
For a V2-S base the table puts the official models' params and MACs beside the rule's.
Writes one YAML per member, ``family.md``, ``family.csv`` and ``family.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas.cli import Parser, integer, path, run
from scaling.compound_cli import parse_phis
from scaling.family import Member, check_family_dir, is_zoo_model, load_base, write_family
from scaling.stagewise import OFFICIAL, V2_RULE, StagewiseRule, official, stagewise
from search_spaces import cost, zoo
from search_spaces.genome import MAX_RESOLUTION

__all__ = ["main"]

PROG = "scaling.stagewise"
#: The rule may be applied this far (phi 0 is the base); the official family has phi 0-2.
RULE_PHIS = range(8)
OFFICIAL_PHIS = range(3)


def _parser() -> argparse.ArgumentParser:
    d = V2_RULE
    p = Parser(
        prog=f"python -m {PROG}", description="Derive a family from a base network by non-uniform, stage-wise "
        "scaling (EfficientNetV2 sec. 3.4): later stages get more layers, resolution capped.")
    p.add_argument("--base", required=True, help="zoo model name or genome YAML (a search's found.yaml works)")
    p.add_argument("--official", action="store_true", help="the official V2-M and V2-L (base must be "
                   "efficientnetv2_s)")
    p.add_argument("--phi", default="0-2", help="phi values: one integer or a range A-B (default: %(default)s; "
                   "0 is the base, 1 ~ M, 2 ~ L)")
    p.add_argument("--beta", type=float, default=d.beta, help="width base (default: %(default)s)")
    p.add_argument("--depth-first", type=float, default=d.depth_first,
                   help="depth base of the first stage (default: %(default)s)")
    p.add_argument("--depth-last", type=float, default=d.depth_last,
                   help="depth base of the last stage (default: %(default)s)")
    p.add_argument("--gamma", type=float, default=d.gamma, help="resolution base (default: %(default)s)")
    p.add_argument("--max-resolution", type=integer(1, MAX_RESOLUTION), default=d.max_resolution,
                   help="resolution cap (default: %(default)s, as EfficientNetV2)")
    p.add_argument("--out", type=path, help="output directory (default: runs/BASE-stagewise)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    return p


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    base, source, base_meta = load_base(args.base)
    rule = StagewiseRule(args.beta, args.depth_first, args.depth_last, args.gamma, args.max_resolution)
    if args.official:
        phis = parse_phis(args.phi, OFFICIAL_PHIS, "S, M, L")
        official(base, "efficientnetv2_m")  # refuses a base other than V2-S, before anything is written
    else:
        phis = parse_phis(args.phi, RULE_PHIS, "the base and up to 7 steps")
    by_phi = {phi: name for name, phi in OFFICIAL.items()}
    out = args.out or Path(f"runs/{base.name}-stagewise")
    title = (f"{base.name}: official EfficientNetV2 family" if args.official else
             f"{base.name}: stage-wise scaling, width {rule.beta:g}^phi, stage depth ramp {rule.depth_first:g} -> "
             f"{rule.depth_last:g} (^phi), resolution {rule.gamma:g}^phi capped at {rule.max_resolution}")
    names = [base.name if phi == 0 else by_phi[phi] if args.official else f"{base.name}_phi{phi}" for phi in phis]
    check_family_dir(out, title, names)  # another run's results are never replaced; checked before any work
    v2_s = is_zoo_model(base, "efficientnetv2_s")
    base_macs = cost(base).macs
    members = []
    for phi in phis:
        if phi == 0:
            genome = base
        elif args.official:
            genome = official(base, by_phi[phi])
        else:
            genome = stagewise(base, phi, rule, name=f"{base.name}_phi{phi}")
        provenance: dict[str, Any] = {"method": "stagewise", "base": source, "base_name": base.name, "phi": phi,
                                      "depths": [s.depth for s in genome.stages],
                                      "width_mult": genome.width_mult, "resolution": genome.resolution}
        if args.official:
            provenance["official"] = by_phi.get(phi, base.name)
        else:
            provenance["rule"] = dataclasses.asdict(rule)
        c = cost(genome)
        compare: dict[str, Any] = {"depths": "-".join(str(s.depth) for s in genome.stages),
                                   "MACs / base": round(c.macs / base_macs, 3)}
        if v2_s and phi in by_phi:
            target = zoo.get(by_phi[phi])
            t = cost(target)
            compare["official"] = target.name
            compare["official params"] = t.params
            compare["official MACs"] = t.macs
            compare["params vs official"] = f"{100 * (c.params / t.params - 1):+.1f}%"
            compare["MACs vs official"] = f"{100 * (c.macs / t.macs - 1):+.1f}%"
            if args.official:
                compare["equals zoo"] = "yes" if genome == target else "no"
        members.append(Member(genome, phi, provenance, compare))
    written = write_family(out, members, base_meta, title, plot=not args.no_plots)
    print(written[len(members)].read_text(), end="")
    print(f"wrote {len(members)} genome files, family.md, family.csv{'' if args.no_plots else ', family.png'} "
          f"in {written[0].parent}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG, {name: f"--{name.replace('_', '-')}" for name in
                                   ("beta", "depth_first", "depth_last", "gamma", "max_resolution")})
