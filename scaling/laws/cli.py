"""``python -m scaling.laws analyse|fit|recommend``: which scaling rule to grow a base network by.

- ``analyse --base B``: every strategy's members at s = 2..32 (nominal FLOPs multiples), the
  log-log exponents of their params, MACs and activations beside Dollár et al.'s analytic
  ones, what causes each gap (:mod:`scaling.laws.growth`); ``--time`` also times the members
  up to ``--time-max-macs`` on this machine and reports how well MACs and activations
  predict the times (:mod:`scaling.laws.timing`). Writes ``growth.md``, ``growth.csv``,
  ``members.csv``, ``growth.png`` (and ``timing.csv``).
- ``fit --base B``: trains every strategy's member at each compute level (an Optuna study,
  resumable), fits ``error(C) = E + A C^(-c)`` per strategy with bootstrap intervals and
  checks it on the largest level held out (:mod:`scaling.laws.fit`). Writes ``laws.json``,
  ``laws.md``, ``points.csv``, ``laws.png``.
- ``recommend --base B --target 4x``: every strategy's member at the target's MACs, its
  accuracy predicted by the fit and its time measured here; names the best predicted
  accuracy per unit of time and writes that member's genome (:mod:`scaling.laws.recommend`).

Every command's outputs go to ``--out`` (default ``runs/BASE-laws``), so ``recommend`` finds
the fit of the same base there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas import settings as knobs
from nas.cli import Parser, evaluation_flags, integer, parse_args, path, run, study_flags
from nas.search.budget import parse_macs
from nas.search.session import HEARTBEAT_S, SearchInterrupted, check_device, settings_help
from nas.search.study import safe_url
from scaling.family import load_base
from scaling.laws import fit as fitting
from scaling.laws import growth as growing
from scaling.laws import recommend as recommending
from scaling.laws import report
from scaling.laws.timing import TIMINGS, time_genome
from scaling.strategies import DEFAULT_STRATEGIES, parse_list
from search_spaces import cost
from search_spaces.errors import UserInputError
from search_spaces.files import atomic_write_text, prepare_dir
from search_spaces.genome import MAX_RESOLUTION
from search_spaces.units import human

__all__ = ["main"]

PROG = "scaling.laws"
FLAGS = {"s": "--levels", "target": "--target"}
DEFAULT_BASE = "efficientnet_b0"


def _levels(text: str, low: float = 1.0) -> list[float]:
    """``2,4,8`` -> [2.0, 4.0, 8.0]: distinct numbers >= ``low``, ascending."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise UserInputError(f"--levels must be comma-separated numbers, got {text!r}") from None
    if not values or any(not (low <= v <= 1024) for v in values):
        raise UserInputError(f"--levels must be numbers from {low:g} to 1024, got {text!r}")
    if len(set(values)) != len(values):
        raise UserInputError(f"--levels lists a level twice: {text!r}")
    return sorted(values)


def _common(p: argparse.ArgumentParser, strategies: Sequence[str] | None) -> None:
    p.add_argument("--base", default=DEFAULT_BASE, help="zoo model name or genome YAML (a search's found.yaml "
                   "works; default: %(default)s)")
    p.add_argument("--strategies", default=None if strategies is None else " ".join(strategies),
                   help="space-separated strategy specs: compound[:A,B,G], width, depth, resolution, dollar:ALPHA, "
                        "uniform, dwr, stagewise; @CAP caps the resolution (default: "
                        + ("the fit's" if strategies is None else repr(" ".join(strategies))) + ")")
    p.add_argument("--out", type=path, help="output directory (default: runs/BASE-laws)")


def _parser(required: bool = True) -> argparse.ArgumentParser:
    p = Parser(prog=f"python -m {PROG}", description="Measure how scaling strategies grow a base network, fit "
               "accuracy against compute, and recommend a strategy for a target.")
    sub = p.add_subparsers(dest="command", required=required, metavar="analyse|fit|recommend")
    a = sub.add_parser("analyse", help="growth exponents of params, MACs and activations (and measured times)")
    _common(a, DEFAULT_STRATEGIES)
    a.add_argument("--levels", default="2,4,8,16,32", help="nominal FLOPs multiples (default: %(default)s)")
    a.add_argument("--time", action="store_true", help="also time every member up to --time-max-macs on this "
                   "machine (latency of one image, training step of --batch)")
    a.add_argument("--time-max-macs", default="2G", help="largest member timed (default: %(default)s)")
    a.add_argument("--batch", type=integer(2, 4096), default=8, help="training-step batch (default: %(default)s)")
    a.add_argument("--repeats", type=integer(1, 1000), default=5, help="timed calls (default: %(default)s)")
    a.add_argument("--threads", type=integer(1, 1024), help="torch CPU threads while timing (default: torch's)")
    a.add_argument("--device", default="cpu", help="where to time: cpu (default), cuda or cuda:N")
    a.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    f = sub.add_parser("fit", help="train members at several compute levels and fit error(C) = E + A C^-c",
                       parents=[evaluation_flags("train,cost (the accuracy reward)"), study_flags(HEARTBEAT_S)])
    _common(f, fitting.FIT_STRATEGIES)
    f.add_argument("--levels", default=",".join(f"{s:g}" for s in fitting.FIT_LEVELS),
                   help="compute levels, multiples of the base's MACs; the largest is held out to check the law "
                        "(default: %(default)s)")
    f.add_argument("--floor", choices=("shared", "per-strategy"), default="shared",
                   help="one error floor E for every strategy (default) or one each")
    f.add_argument("--draws", type=integer(10, 100_000), default=300, help="bootstrap draws (default: %(default)s)")
    f.add_argument("--replicas", type=integer(1, 100), default=1,
                   help="trainings of each member with seeds SEED, SEED+1, ...; the law is fitted to their mean "
                        "(each replica is its own study; --resume with more replicas trains only the new ones)")
    r = sub.add_parser("recommend", help="the strategy with the best predicted accuracy per unit of measured time")
    _common(r, None)
    r.add_argument("--target", required=required, help="MACs multiple of the base (4x, 4) or absolute MACs (1.6G)")
    r.add_argument("--fit", type=path, help="directory of a fit of this base (default: --out)")
    r.add_argument("--timing", choices=tuple(TIMINGS), default="train-step",
                   help="which measured time the accuracy is divided by (default: %(default)s)")
    r.add_argument("--batch", type=integer(2, 4096), default=8, help="training-step batch (default: %(default)s)")
    r.add_argument("--repeats", type=integer(1, 1000), default=5, help="timed calls (default: %(default)s)")
    r.add_argument("--threads", type=integer(1, 1024), help="torch CPU threads while timing (default: torch's)")
    r.add_argument("--device", default="cpu", help="where to time: cpu (default), cuda or cuda:N")
    r.add_argument("--max-resolution", type=integer(1, MAX_RESOLUTION), default=recommending.RESOLUTION_CAP,
                   help="warn about a member past this resolution (default: %(default)s, EfficientNetV2's cap)")
    r.add_argument("--output", type=path, help="genome file written (default: OUT/recommended-TARGET.yaml)")
    return p


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(_parser, argv, lambda a: settings_help(a.evaluator if hasattr(a, "evaluator") else None,
                                                             "accuracy", fitting.NO_TARGETS, fitting.EveryMember(),
                                                             {**fitting.FIT_BUDGET,
                                                              "reference_resolution": "the base's"}))
    if args is None:
        return 0
    base, source, _ = load_base(args.base)
    strategies = parse_list(args.strategies) if args.strategies is not None else []
    out = args.out or Path(f"runs/{base.name}-laws")
    return {"analyse": _analyse, "fit": _fit, "recommend": _recommend}[args.command](args, argv, base, source,
                                                                                   strategies, out)


def _analyse(args: argparse.Namespace, argv: list[str], base: Any, source: str, strategies: list[Any],
             out: Path) -> int:
    levels = _levels(args.levels, 1.0 + 1e-9)
    if len(levels) < 2:
        raise UserInputError("--levels needs at least two levels to fit an exponent")
    max_macs = parse_macs(args.time_max_macs, "--time-max-macs")
    if args.time:
        check_device(args.device)
    prepare_dir(out, "output directory", ("growth.md", "growth.csv", "members.csv", "growth.png", "timing.csv"))
    rows = growing.members(base, strategies, levels)
    growths = growing.growth(base, strategies, levels, rows)
    base_cost = cost(base)
    header, table = report.growth_table(growths)
    text = (f"# {base.name}: how strategies grow params, MACs and activations\n\n"
            f"Log-log exponents in the nominal FLOPs multiple s over {', '.join(f'{s:g}' for s in levels)} "
            f"(analytic: Dollár et al. 2021, an ideal network of repeated blocks).\n\n" + report.markdown(header, table))
    for metric in ("activations", "macs"):
        h, t = report.steps_table(growths, metric)
        if t:
            text += (f"\n## {metric}: exponent after undoing each cause in turn\n\n" + report.markdown(h, t))
    missing = [f"{g.strategy} at s = {s:g}: {why}" for g in growths for s, why in g.missing.items()]
    if missing:
        text += "\nMembers the genome vocabulary cannot hold:\n\n" + "\n".join(f"- {m}" for m in missing) + "\n"
    report.write_csv(out / "growth.csv", header, table)
    report.write_csv(out / "members.csv", *report.members_rows(rows, base_cost))
    if args.time:
        timings = []
        for r in [growing.LevelMember("base", 1.0, base, base_cost), *rows]:
            if r.genome is not None and r.cost is not None and r.cost.macs <= max_macs:
                print(f"timing {r.strategy} x{r.s:g} ({human(r.cost.macs)} MACs)", file=sys.stderr)
                timings.append(time_genome(r.strategy, r.s, r.genome, batch=args.batch, repeats=args.repeats,
                                           threads=args.threads, device=args.device))
        h, t, fits = report.timing_table(timings)
        report.write_csv(out / "timing.csv", h, t)
        text += (f"\n## Measured on this machine (members up to {human(max_macs)} MACs, training step of "
                 f"{args.batch} images)\n\n" + report.markdown(h, t) + "\n"
                 + "\n".join(f"- {what}: R^2 against MACs {r['MACs']:.3f}, against activations "
                             f"{r['activations']:.3f}" + "".join(f"; {k} {v:.2f}" for k, v in r.items()
                                                                  if k.startswith("rank"))
                             for what, r in fits.items()) + "\n")
    atomic_write_text(out / "growth.md", text)
    if not args.no_plots:
        report.plot_growth(out / "growth.png", growths, rows, base_cost, base.name)
    print(text, end="")
    print(f"wrote growth.md, growth.csv, members.csv{'' if args.no_plots else ', growth.png'}"
          f"{', timing.csv' if args.time else ''} in {out}")
    return 0


def _fit(args: argparse.Namespace, argv: list[str], base: Any, source: str, strategies: list[Any], out: Path) -> int:
    settings = fitting.FitSettings(evaluator=args.evaluator, knobs=knobs.parse_pairs(args.set), out=out,
                                   storage=args.storage, study_name=args.study_name, resume=args.resume,
                                   seed=args.seed, data=args.data, device=args.device, threads=args.threads,
                                   quiet=args.quiet, plots=not args.no_plots, heartbeat=args.heartbeat,
                                   strategies=strategies, levels=_levels(args.levels), replicas=args.replicas)
    plan = fitting.plan_fit(base, settings)
    prepare_dir(out, "output directory", ("laws.json", "laws.md", "points.csv", "laws.png"))
    try:
        points = fitting.run_fit(base, settings, plan)
    except SearchInterrupted as stop:
        command = safe_url(" ".join([f"python -m {PROG}", *(a for a in argv if a != "--resume"), "--resume"]))
        print(f"{PROG}: interrupted; every trained member is saved. Continue with: {command}", file=sys.stderr)
        return 128 + stop.signum
    result = fitting.fit_members(points, args.floor == "shared", args.draws, args.seed)
    text = fitting.write_fit(out, base, source, result, plan.knobs, plot=not args.no_plots)
    print(text, end="")
    print(f"wrote laws.json, laws.md, points.csv{'' if args.no_plots else ', laws.png'} in {out}")
    return 0


def _recommend(args: argparse.Namespace, argv: list[str], base: Any, source: str, strategies: list[Any],
               out: Path) -> int:
    target = recommending.parse_target(args.target, cost(base).macs)
    check_device(args.device)
    saved = recommending.load_fit(args.fit or out, base)
    if args.strategies is None:  # the fit's strategies unless named
        strategies = parse_list(" ".join(saved.strategies))
    else:
        unknown = sorted({s.label for s in strategies} - set(saved.strategies))
        if unknown:
            raise UserInputError(f"--strategies {', '.join(unknown)} were not fitted in {args.fit or out} (it has "
                                 f"{', '.join(saved.strategies)})")
    output = args.output or out / f"recommended-{target:g}x.yaml"
    prepare_dir(output.parent, "output directory")
    choice = recommending.recommend(base, strategies, saved, target, timing=args.timing, batch=args.batch,
                                    repeats=args.repeats, threads=args.threads, max_resolution=args.max_resolution,
                                    device=args.device)
    text = recommending.describe(base, choice, target)
    recommending.write(output, choice, source, target)
    for warning in choice.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(text, end="")
    print(f"wrote {output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG, FLAGS)

