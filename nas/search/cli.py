"""``python -m nas.search --space mbconv --budget 400M``: search a space, write ``found.yaml``.

The default (only a space and a budget) runs a short training-aware search on real
Fashion-MNIST that finishes within minutes on a 2-core CPU; more ``--trials``, a GPU, a
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

from nas import evaluators, rewards, strategies
from nas.cli import run
from nas.evaluate import parse_settings
from nas.evaluators.train import refuse_test_split
from nas.info import human
from nas.rewards import Targets
from nas.search.budget import macs_range, parse_macs, parse_positive
from nas.search.driver import SearchDriver, check_required
from nas.search.outputs import SearchSummary, check_out, write_outputs
from nas.search.progress import SearchProgress
from nas.search.study import open_study, safe_url
from search_spaces import spaces
from search_spaces.cost import cost
from search_spaces.errors import UserInputError

__all__ = ["HEARTBEAT_S", "SEARCH_BUDGET", "main"]

PROG = "nas.search"

#: Evaluator knobs a search uses unless ``--set`` overrides them: a quick proxy (1 epoch of
#: 4000 Fashion-MNIST images at 28 px, 1000 held out) and the training step timed at batch
#: 16 and 96 px against efficientnet_b0. On the quiet 2-core VM the default 20 trials took
#: 249 s of search; with one core busy elsewhere a ~460M-MACs candidate took 35 s, so a
#: loaded machine can take longer than the 10-minute goal.
SEARCH_BUDGET: dict[str, Any] = {
    "epochs": 1, "subset": 4000, "val_size": 1000, "resolution": 28,
    "step_batch": 16, "step_resolution": 96, "step_repeats": 3, "step_warmup": 2,
}

#: Default seconds between heartbeats: a dead worker's trial is retried a minute later at most.
HEARTBEAT_S = 30

#: Which evaluator provides each metric a reward may need, when ``--evaluator`` is not given.
_DEFAULT_PROVIDER = {"accuracy": "train", "latency_ms": "latency", "train_step_ratio": "train-step",
                     "macs": "cost", "params": "cost", "zc_naswot": "zero-cost"}


class _Formatter(argparse.HelpFormatter):
    """Shows an option's default only when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, [], argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _parser() -> argparse.ArgumentParser:
    reward_help = "; ".join(f"{n}: {rewards.REWARDS.get(n).summary}" for n in rewards.names())
    strategy_help = "; ".join(f"{n}: {strategies.summary(n)}" for n in strategies.names())
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_Formatter,
        description="Search a space for the architecture with the best reward under a MACs budget and/or a "
                    "latency target; write found.yaml, trials.csv and plots to the run directory.")
    parser.add_argument("--space", required=True, help=f"search space ({', '.join(spaces.names())})")
    parser.add_argument("--budget", help="MACs target, e.g. 400M, 1.2G or 600000000 (MACs = multiply-accumulates, "
                                         "what the EfficientNet paper calls FLOPS)")
    parser.add_argument("--latency-ms", help="latency target in milliseconds (batch 1, measured by the latency "
                                             "evaluator or predicted by latency-lut)")
    parser.add_argument("--strategy", default="tpe", help=f"who proposes architectures. {strategy_help}")
    parser.add_argument("--reward", default="v2", help=f"what the search maximises. {reward_help}")
    parser.add_argument("--evaluator", help="comma-separated evaluators (" + ", ".join(evaluators.names()) +
                                            "); default: what the reward needs (train, train-step, latency, cost)")
    parser.add_argument("--trials", type=int, default=20, help="total trials of the study (a resumed one included)")
    parser.add_argument("--timeout", help="stop starting trials after this long: seconds, or 30m, 2h")
    parser.add_argument("--seed", type=int, default=0, help="seed of the strategy, weights and data order")
    parser.add_argument("--data", help="dataset (fashion-mnist, cifar10, cifar10:DIR) or an ImageFolder directory; "
                                       "default: Fashion-MNIST from the Debian package dataset-fashion-mnist")
    parser.add_argument("--out", help="run directory for found.yaml, trials.csv, plots and the default study "
                                      "database (default: runs/SPACE-BUDGET)")
    parser.add_argument("--storage", help="Optuna storage shared by workers: sqlite:///path.db, journal:path.log "
                                          "(many processes, one machine) or postgresql://user@host/db (many "
                                          "machines; the password from PGPASSWORD or ~/.pgpass); default: sqlite in "
                                          "--out. The same command on another machine with the same --storage "
                                          "joins the study")
    parser.add_argument("--study-name", help="study name in the storage (default: SPACE-REWARD-STRATEGY)")
    parser.add_argument("--resume", action="store_true", help="continue the existing study to --trials in total")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes sharing the study")
    parser.add_argument("--heartbeat", type=int, default=HEARTBEAT_S,
                        help="seconds between a running trial's heartbeats; a trial whose worker died is failed "
                             "after twice this and run again")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads per worker (default: cores / workers)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluator knob, repeatable (e.g. epochs=2, subset=10000); search defaults: " +
                             ", ".join(f"{k}={v}" for k, v in SEARCH_BUDGET.items()))
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def parse_duration(text: str | None) -> float | None:
    """``"90"`` -> 90 s, ``"30m"`` -> 1800 s, ``"2h"`` -> 7200 s; ``None`` stays ``None``."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text))
    if match is None or float(match.group(1)) <= 0:
        raise UserInputError(f"--timeout must be a positive duration such as 600, 30m or 2h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _evaluator_names(arg: str | None, required: Sequence[str]) -> list[str]:
    if arg is None:
        names = ["cost", *(_DEFAULT_PROVIDER[m] for m in required)]
    else:
        names = [e.name for e in evaluators.parse(arg)]  # validates names and duplicates
        if "cost" not in names:
            names.insert(0, "cost")  # MACs and params for every trial: exact and free
    return list(dict.fromkeys(names))


def _check_budget(space: spaces.SearchSpace, budget: float) -> None:
    low, high = macs_range(space)
    if not low <= budget <= high:
        raise UserInputError(f"--budget {human(int(budget))} MACs is outside what space {space.name!r} reaches "
                             f"({human(int(low))} to {human(int(high))} MACs at {space.default_resolution} px)")


def sampler_seed(seed: int, worker: int, done: int) -> int:
    """The seed of a sampler that starts with ``done`` trials already in the study.

    A fresh search seeds worker ``w`` with ``seed + w``. Resumed with the same seed, a sampler
    would draw its first proposals again (random search, TPE's start-up trials), and each
    would come back as a duplicate from the cache and use up a trial. Mixing in ``done``
    keeps the resumed search deterministic (same study, same seed: same proposals) and new.
    """
    if done == 0:
        return seed + worker
    return (seed * 1_000_003 + worker * 7_919 + done) % 2**31


def _pruner(knobs: dict[str, Any]) -> optuna.pruners.BasePruner:
    """Median pruning on the proxy's intermediate validations (``--set evals=N``, N > 1).

    With one validation (the default) the only report is the final one, and pruning then
    would throw away a finished result; so no pruner.
    """
    evals = knobs.get("evals", 1)
    if isinstance(evals, int) and evals > 1:
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    return optuna.pruners.NopPruner()


def _label(value: float) -> str:
    """``4e8`` -> ``400M`` (the default run directory's name)."""
    text = re.sub(r"(\.\d*?)0+(?=[A-Za-z]|$)", r"\1", human(int(value)).replace(" ", ""))  # 1.20G -> 1.2G
    return re.sub(r"\.(?=[A-Za-z]|$)", "", text)  # 400.M -> 400M


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """Everything that must not change when a study is resumed (rewards would stop being comparable)."""
    return {"space": args.space, "reward": args.reward, "budget_macs": args.budget_macs,
            "latency_ms": args.latency_target, "evaluators": args.evaluator_names, "budget": args.knobs}


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    space = spaces.get(args.space)
    strategy = strategies.get(args.strategy)
    reward = rewards.get(args.reward)
    args.budget_macs = parse_macs(args.budget) if args.budget is not None else None
    args.latency_target = parse_positive(args.latency_ms, "--latency-ms") if args.latency_ms is not None else None
    targets = Targets(args.budget_macs, args.latency_target)
    reward.check(targets)
    if args.budget_macs is not None:
        _check_budget(space, args.budget_macs)
    directions = reward.directions(targets)
    if len(directions) > 1 and not strategy.multi_objective:
        multi = [n for n in strategies.names() if strategies.get(n).multi_objective]
        raise UserInputError(f"strategy {args.strategy!r} optimises one value; reward {args.reward!r} has "
                             f"{len(directions)} objectives (use {', '.join(multi)})")
    for name, value, low in (("--trials", args.trials, 1), ("--workers", args.workers, 1),
                             ("--heartbeat", args.heartbeat, 1)):
        if value < low:
            raise UserInputError(f"{name} must be at least {low}, got {value}")
    if args.threads is not None and args.threads < 1:
        raise UserInputError(f"--threads must be a positive integer, got {args.threads}")
    timeout = parse_duration(args.timeout)
    args.evaluator_names = _evaluator_names(args.evaluator, reward.required(targets))
    chosen = [evaluators.get(n) for n in args.evaluator_names]
    check_required(reward, targets, chosen, [evaluators.get(n) for n in evaluators.names()])
    args.knobs = {**SEARCH_BUDGET, **parse_settings(args.set)}
    refuse_test_split(args.knobs)
    try:
        evaluators.resolve_device(args.device)
    except RuntimeError as err:
        raise UserInputError(f"--device {args.device!r} is not a device ({err})") from None
    if "train" in args.evaluator_names or args.data is not None:
        from nas.data import open_dataset  # a missing dataset is bad input, found before any trial

        open_dataset(args.data)

    budget_label = _label(args.budget_macs) if args.budget_macs else (
        f"{args.latency_target:g}ms" if args.latency_target else "any")
    out = Path(args.out or f"runs/{args.space}-{budget_label}")
    storage_url = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    study_name = args.study_name or f"{args.space}-{args.reward}-{args.strategy}"
    worker = args.worker_index
    check_out(out, study_name)
    study = open_study(storage_url, study_name, directions, strategy.sampler(space, args.seed + worker, directions),
                       _config(args), resume=args.resume, out=out, pruner=_pruner(args.knobs),
                       join=args.storage is not None or worker > 0, heartbeat=args.heartbeat)
    done = len(study.get_trials(deepcopy=False))
    if done and study.sampler is not None:  # a resumed sampler must not replay its first proposals
        study.sampler = strategy.sampler(space, sampler_seed(args.seed, worker, done), directions)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    context = evaluators.RunContext(device=args.device, seed=args.seed, data=args.data, budget=args.knobs,
                                    threads=threads)
    objectives = reward.objective_names(targets)
    driver = SearchDriver(study, space, strategy, reward, targets, chosen, context, args.trials, timeout,
                          worker=worker)
    progress = SearchProgress(args.trials, args.trials - driver.remaining(), objectives, directions,
                              quiet=args.quiet or worker > 0,
                              study=lambda: (args.trials - driver.remaining(), driver.history()))
    driver.on_trial = progress.on_trial
    retries = driver.pending_retries()
    if retries and not (args.quiet or worker > 0):
        print(f"{PROG}: re-running {retries} interrupted trial(s) first", file=sys.stderr)
    children = _spawn_workers(argv, args.workers) if worker == 0 else []
    interrupted = False
    start = time.monotonic()
    try:
        with driver.interrupts.installed():
            driver.run()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        codes = [_wait(child, driver.interrupts.signum if interrupted else None) for child in children]
    code = 128 + driver.interrupts.signum if interrupted else 0
    for index, child_code in enumerate(codes, start=1):
        if child_code and not interrupted:  # its finished trials are in the study; say so rather than hide it
            how = f"was killed by signal {-child_code}" if child_code < 0 else f"exited with code {child_code}"
            print(f"{PROG}: worker {index} {how}; its finished trials are in the study", file=sys.stderr)
            code = code or (128 - child_code if child_code < 0 else child_code)  # a shell's code for a signal
    if worker > 0:
        return code
    summary = SearchSummary(args.space, args.strategy, args.reward, objectives, directions, args.seed,
                            {k: v for k, v in (("macs", args.budget_macs), ("latency_ms", args.latency_target))
                             if v is not None}, study_name, safe_url(storage_url), tuple(args.evaluator_names),
                            args.knobs)
    points = {name: float(cost(space.point(name)).macs) for name in space.points()}
    best = write_outputs(study, out, summary, points, plots=not args.no_plots)
    _print_result(best, out, summary, time.monotonic() - start, len(driver.history()))
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


def _spawn_workers(argv: Sequence[str], workers: int) -> list[subprocess.Popen[bytes]]:
    """Start workers 1..N-1 as processes running the same command on the same study."""
    base = [a for a in argv if a != "--resume"]
    return [subprocess.Popen([sys.executable, "-m", PROG, *base, "--worker-index", str(i), "--quiet"])
            for i in range(1, workers)]


def _wait(child: subprocess.Popen[bytes], signum: int | None) -> int:
    """Wait for a worker, passing on the signal that interrupted this one; return its exit code."""
    if signum is not None and child.poll() is None:
        child.send_signal(signum)
    return child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG)
