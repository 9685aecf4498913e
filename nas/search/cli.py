"""``python -m nas.search --space mbconv --budget 400M``: search a space, write ``found.yaml``.

The default (only a space and a budget) runs a short training-aware search on real
Fashion-MNIST that finishes within minutes on a small CPU (docs/BENCHMARKS.md); more ``--trials``, a GPU, a
longer proxy (``--set epochs=5``), another dataset (``--data``) or several workers on
one storage make it a real search. Every trial is recorded in an Optuna study (a SQLite
file in ``--out`` unless ``--storage`` says otherwise), so an interrupted search loses
nothing and ``--resume`` continues it to the requested total.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

from nas import rewards, settings, strategies
from nas.cli import Parser, evaluation_flags, integer, max_parallel, parse_args, path, run, study_flags
from search_spaces.units import human
from nas.rewards import Targets
from nas.search.budget import macs_range, parse_macs, parse_positive
from nas.evaluators import resolve_device
from nas.search.session import HEARTBEAT_S, SEARCH_BUDGET, SearchPlan, SearchSession, StudyPlace, plan_search, \
    settings_help
from nas.search.outputs import SearchSummary
from nas.search.study import safe_url
from nas.search.workers import auto_workers
from search_spaces import spaces
from search_spaces.cost import cost
from search_spaces.errors import UserInputError

__all__ = ["main", "parse_duration"]

PROG = "nas.search"


class _Formatter(argparse.HelpFormatter):
    """Shows an option's default only when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, [], argparse.SUPPRESS) and "%(default)" not in text \
                and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _parser(required: bool = True) -> argparse.ArgumentParser:
    reward_help = "; ".join(f"{n}: {rewards.REWARDS.get(n).summary}" for n in rewards.names())
    strategy_help = "; ".join(f"{n}: {strategies.summary(n)}" for n in strategies.names())
    parser = Parser(
        prog=PROG, formatter_class=_Formatter,
        parents=[evaluation_flags("what the reward needs (train, train-step, latency, cost); search settings: " +
                                  ", ".join(f"{k}={v}" for k, v in SEARCH_BUDGET.items())),
                 study_flags(HEARTBEAT_S)],
        description="Search a space for the architecture with the best reward under a MACs budget and/or a "
                    "latency target; write found.yaml, trials.csv and plots to the run directory.")
    parser.add_argument("--space", required=required, help=f"search space ({', '.join(spaces.names())})")
    parser.add_argument("--budget", help="MACs target, e.g. 400M, 1.2G or 600000000 (MACs = multiply-accumulates, "
                                         "what the EfficientNet paper calls FLOPS)")
    parser.add_argument("--latency-ms", help="latency target in milliseconds (batch 1, measured by the latency "
                                             "evaluator or predicted by latency-lut)")
    parser.add_argument("--strategy", default="tpe", help=f"who proposes architectures. {strategy_help}")
    parser.add_argument("--reward", help=f"what the search maximises (default: the space's own, v2 but for nb201: "
                                         f"accuracy; flops with the supernet and predictor evaluators, which "
                                         f"score accuracy only). {reward_help}")
    parser.add_argument("--trials", type=integer(1, 10_000_000), default=20,
                        help="total trials of the study (a resumed one included)")
    parser.add_argument("--timeout", help="stop starting trials after this long: seconds, or 30m, 2h")
    parser.add_argument("--out", type=path, help="run directory for found.yaml, trials.csv, plots and the default study "
                                      "database (default: runs/SPACE-BUDGET)")
    parser.add_argument("--workers", type=_workers, default=None, metavar="N|auto",
                        help="local worker processes sharing the study (default auto: 1 on a CPU; on a GPU as many "
                             "as its free memory and the host's cores allow, up to 8, since one 28-px trial leaves a "
                             "GPU mostly idle)")
    parser.add_argument("--worker-index", type=integer(0, max_parallel), default=0, help=argparse.SUPPRESS)
    return parser


def _workers(text: str) -> int | None:
    """``--workers``: ``auto`` -> ``None`` (decided once the device is known), else an integer."""
    if text.strip().lower() == "auto":
        return None
    try:
        return integer(1, max_parallel)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be auto or an integer from 1 to {max_parallel():,}, "
                                         f"got {text!r}") from None


def parse_duration(text: str | None) -> float | None:
    """``"90"`` -> 90 s, ``"30m"`` -> 1800 s, ``"2h"`` -> 7200 s; ``None`` stays ``None``."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text))
    if match is None or float(match.group(1)) <= 0:
        raise UserInputError(f"--timeout must be a positive duration such as 600, 30m or 2h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _check_budget(space: spaces.SearchSpace, budget: float) -> None:
    low, high = macs_range(space)
    if not low <= budget <= high:
        raise UserInputError(f"--budget {human(int(budget))} MACs is outside what space {space.name!r} reaches "
                             f"({human(int(low))} to {human(int(high))} MACs at {space.default_resolution} px)")


def _label(value: float) -> str:
    """``4e8`` -> ``400M`` (the default run directory's name)."""
    text = re.sub(r"(\.\d*?)0+(?=[A-Za-z]|$)", r"\1", human(int(value)).replace(" ", ""))  # 1.20G -> 1.2G
    return re.sub(r"\.(?=[A-Za-z]|$)", "", text)  # 400.M -> 400M


def _config(args: argparse.Namespace, plan: SearchPlan) -> dict[str, Any]:
    """Everything that must not change when a study is resumed (rewards would stop being comparable)."""
    return {"space": args.space, "reward": plan.reward.name, "budget_macs": plan.targets.macs,
            "latency_ms": plan.targets.latency_ms, "evaluators": list(plan.evaluator_names), "budget": plan.knobs}


def _targets(args: argparse.Namespace) -> Targets:
    return Targets(parse_macs(args.budget) if args.budget is not None else None,
                   parse_positive(args.latency_ms, "--latency-ms") if args.latency_ms is not None else None)


def _reward(args: argparse.Namespace) -> str:
    """``--reward``; else the first named evaluator's own (``supernet``: flops); else the space's."""
    if args.reward:
        return args.reward
    if args.evaluator:
        from nas import evaluators

        try:
            named = evaluators.parse(args.evaluator)
        except UserInputError:
            named = []  # plan_search names the bad evaluator
        for evaluator in named:
            if evaluator.default_reward:
                return evaluator.default_reward
    return (spaces.SPACES.get(args.space) if args.space else spaces.SearchSpace).default_reward


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(_parser, argv, lambda a: settings_help(a.evaluator, _reward(a), _targets(a),
                                                             strategies.get(a.strategy)))
    if args is None:
        return 0
    space = spaces.get(args.space).for_data(args.data)
    reward = _reward(args)
    targets = _targets(args)
    if targets.macs is not None:
        _check_budget(space, targets.macs)
    timeout = parse_duration(args.timeout)
    plan = plan_search(space, args.strategy, reward, targets, args.evaluator, settings.parse_pairs(args.set),
                       data=args.data, device=args.device)

    budget_label = _label(targets.macs) if targets.macs else (
        f"{targets.latency_ms:g}ms" if targets.latency_ms else "any")
    out = Path(args.out or f"runs/{args.space}-{budget_label}")
    place = StudyPlace(out, args.study_name or f"{args.space}-{reward}-{args.strategy}", args.storage,
                       args.resume, args.heartbeat)
    worker = args.worker_index
    if args.workers is None:
        device = resolve_device(args.device)
        args.workers = 1 if worker > 0 else auto_workers(device)
        if args.workers > 1:
            argv += ["--workers", str(args.workers)]  # the spawned workers need not look again
            print(f"{PROG}: {args.workers} workers share {device} (--workers auto)", file=sys.stderr)
    session = SearchSession(plan, place, _config(args, plan), trials=args.trials, seed=args.seed, data=args.data,
                            device=args.device, threads=args.threads or max(1, (os.cpu_count() or 1) // args.workers),
                            timeout=timeout, worker=worker, quiet=args.quiet,
                            join=args.storage is not None or worker > 0)
    children = _spawn_workers(argv, args.workers) if worker == 0 else []
    start = time.monotonic()
    try:
        interrupted = session.run()
    finally:
        codes = [_wait(child, session.signum or None) for child in children]
    code = 128 + session.signum if interrupted else 0
    for index, child_code in enumerate(codes, start=1):
        if child_code and not interrupted:  # its finished trials are in the study; say so rather than hide it
            how = f"was killed by signal {-child_code}" if child_code < 0 else f"exited with code {child_code}"
            print(f"{PROG}: worker {index} {how}; its finished trials are in the study", file=sys.stderr)
            code = code or (128 - child_code if child_code < 0 else child_code)  # a shell's code for a signal
    if worker > 0:
        return code
    points = {name: float(cost(space.point(name)).macs) for name in space.points()}
    best = session.write(points, plots=not args.no_plots)
    _print_result(best, out, session.summary(), time.monotonic() - start, len(session.driver.history()))
    for name, facts in session.about.items():
        print(f"{name}: " + ", ".join(f"{k} {_shown(v)}" for k, v in facts.items()))
    if interrupted:
        command = safe_url(" ".join([f"python -m {PROG}", *(a for a in argv if a != "--resume"), "--resume"]))
        print(f"{PROG}: interrupted; everything finished is saved. Continue with: {command}", file=sys.stderr)
    return code


def _print_result(best: optuna.trial.FrozenTrial | None, out: Path, summary: SearchSummary, wall: float,
                  trials: int) -> None:
    if best is None:
        print(f"no trial finished successfully; see {out / 'trials.csv'} for the reasons")
        return
    m = best.user_attrs.get("metrics", {})
    parts = [f"{k} {m[k]:.4f}" for k in ("accuracy",) if k in m]
    parts += [f"{human(int(m[k]))} {label}" for k, label in (("macs", "MACs"), ("params", "params")) if k in m]
    if "latency_ms" in m:
        parts.append(f"{m['latency_ms']:.2f} ms")
    values = ", ".join(f"{n} {v:.4f}" for n, v in zip(summary.objectives, best.values))
    print(f"found: trial {best.number} ({values}; {', '.join(parts)})")
    print(f"wrote {out / 'found.yaml'}, {out / 'trials.csv'}" + ("" if len(summary.directions) == 1 else
                                                                  f", {out / 'pareto.yaml'}"))
    print(f"study {summary.study!r} in {summary.storage} ({trials} trials known, {wall:.0f} s this run)")


def _shown(value: Any) -> str:
    """A fact about the found genome as one line shows it (numbers to 4 decimals)."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def _spawn_workers(argv: Sequence[str], workers: int) -> list[subprocess.Popen[bytes]]:
    """Start workers 1..N-1 as processes running the same command on the same study."""
    base = [a for a in argv if a != "--resume"]
    children: list[subprocess.Popen[bytes]] = []
    for i in range(1, workers):
        try:
            children.append(subprocess.Popen([sys.executable, "-m", PROG, *base, "--worker-index", str(i), "--quiet"]))
        except OSError as err:  # the OS refuses more processes: stop the ones started, leave no orphan
            for child in children:
                child.terminate()
                child.wait()
            raise UserInputError(f"--workers {workers}: worker {i} cannot be started ({err.strerror or err}); "
                                 f"use fewer workers") from None
    return children


def _wait(child: subprocess.Popen[bytes], signum: int | None) -> int:
    """Wait for a worker, passing on the signal that interrupted this one; return its exit code."""
    if signum is not None and child.poll() is None:
        child.send_signal(signum)
    return child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG)
