"""One worker's search, from checked settings to written outputs: the wiring ``nas.search`` and the compound grid share.

Two steps, so that every user mistake is found before any work starts:

1. :func:`plan_search` checks the request and returns a :class:`SearchPlan`: the reward and
   its targets, the strategy with its knobs, the evaluators (what the reward needs unless
   named), their settings (``--set`` keys checked against what the chosen evaluators and
   strategy read: :mod:`nas.settings`), the device and the dataset.
2. :class:`SearchSession` opens (or joins, or resumes) the study, drives the strategy with a
   :class:`~nas.search.driver.SearchDriver` under the Ctrl-C/SIGTERM policy with a progress
   bar, and writes ``found.yaml``, ``trials.csv`` and the plots from the study.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from nas import evaluators, rewards, settings, strategies
from nas.evaluators import Evaluator, RunContext
from nas.evaluators.train import refuse_test_split
from nas.rewards import Reward, Targets
from nas.search.driver import SearchDriver
from nas.search.outputs import OUTPUTS, SearchSummary, check_out, write_outputs
from nas.search.progress import SearchProgress
from nas.search.study import open_study, safe_url
from nas.strategies import Strategy
from search_spaces.errors import UserInputError
from search_spaces.files import prepare_dir
from search_spaces.genome import Network
from search_spaces.spaces.base import SearchSpace

__all__ = ["HEARTBEAT_S", "SEARCH_BUDGET", "SearchInterrupted", "SearchPlan", "SearchSession", "StorageWriteError",
           "StudyPlace", "StudyRun", "check_device", "check_evaluators", "check_required", "evaluator_names", "plan_search", "settings_help",
           "sampler_seed"]

#: Evaluator knobs a search uses unless ``--set`` overrides them: a quick proxy (1 epoch of
#: 4000 Fashion-MNIST images at 28 px, 1000 held out) and the training step timed at batch
#: 16 and 96 px against efficientnet_b0 (docs/BENCHMARKS.md: the README search's minutes).
SEARCH_BUDGET: dict[str, Any] = {
    "epochs": 1, "subset": 4000, "val_size": 1000, "resolution": 28,
    "step_batch": 16, "step_resolution": 96, "step_repeats": 3, "step_warmup": 2,
}

#: Default seconds between heartbeats: a dead worker's trial is retried a minute later at most.
HEARTBEAT_S = 30

#: Which evaluator provides each metric a reward may need, when no evaluators are named.
_DEFAULT_PROVIDER = {"accuracy": "train", "latency_ms": "latency", "train_step_ratio": "train-step",
                     "macs": "cost", "params": "cost", "zc_naswot": "zero-cost"}


class StorageWriteError(UserInputError):
    """The study storage refused a write in the middle of a search (a full disk, a database gone)."""


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a search; everything finished is in its study.

    Attributes:
        signum: The signal (``SIGINT`` 2, ``SIGTERM`` 15); a command exits with ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass(frozen=True)
class SearchPlan:
    """A checked search request.

    Attributes:
        space: The space searched.
        strategy: Who proposes (its knobs resolved).
        reward: The reward.
        targets: MACs / latency targets.
        evaluators: Run in order on every new genome (``cost`` first).
        knobs: The evaluators' settings as given (search defaults, then ``--set``): the study
            records them, and a resumed study must have the same.
        strategy_options: The strategy's settings as given.
    """

    space: SearchSpace
    strategy: Strategy
    reward: Reward
    targets: Targets
    evaluators: tuple[Evaluator, ...]
    knobs: dict[str, Any]
    strategy_options: dict[str, Any] = field(default_factory=dict)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(self.reward.directions(self.targets))

    @property
    def evaluator_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.evaluators)

    def resolved_settings(self) -> dict[str, dict[str, Any]]:
        """Every knob of the run's evaluators and strategy, defaults included (``found.yaml`` records them)."""
        ctx = RunContext(budget=self.knobs)
        out = {f"evaluator {e.name}": settings.resolved_values(ctx.settings(e.settings))
               for e in self.evaluators if e.settings is not None}
        if self.strategy.options is not None:
            out[f"strategy {self.strategy.name}"] = settings.resolved_values(self.strategy.options)
        return out


def evaluator_names(named: str | None, required: Sequence[str]) -> list[str]:
    """The evaluators of a run: ``named`` (comma-separated) or what the reward needs, ``cost`` always first."""
    if named is None:
        names = ["cost", *(_DEFAULT_PROVIDER[m] for m in required)]
    else:
        names = [e.name for e in evaluators.parse(named)]  # validates names and duplicates
        if "cost" not in names:
            names.insert(0, "cost")  # MACs and params for every trial: exact and free
    return list(dict.fromkeys(names))


def check_required(reward: Reward, targets: Targets, chosen: Sequence[Evaluator],
                   available: Sequence[Evaluator]) -> None:
    """Raise :class:`UserInputError` if the ``chosen`` evaluators cannot give a metric the reward needs.

    The sentence names, for the first missing metric, the ``available`` evaluators that report it.
    """
    provided = {m for e in chosen for m in e.provides}
    lacking = [m for m in reward.required(targets) if m not in provided]
    if lacking:
        givers = [e.name for e in available if lacking[0] in e.provides]
        raise UserInputError(f"reward {reward.name!r} needs {', '.join(lacking)}, which the chosen evaluators do not "
                             f"report; add {' or '.join(givers) or 'an evaluator that does'} to the evaluators")


def check_device(device: str) -> None:
    """Refuse a device torch cannot use here (``cuda`` without a GPU, a typo) before any work starts."""
    try:
        torch_device = evaluators.resolve_device(device)
    except RuntimeError as err:
        raise UserInputError(f"device {device!r} is not a device ({err})") from None
    if torch_device.type == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserInputError(f"device {device!r}: torch sees no CUDA GPU on this machine (use cpu or auto)")
        if torch_device.index is not None and torch_device.index >= torch.cuda.device_count():
            raise UserInputError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")


def owners(chosen: Sequence[Evaluator], strategy: Strategy | None) -> tuple[list[settings.Owner], list[settings.Owner]]:
    """The settings owners a run uses, and every other registered one (to name them in errors)."""
    used = [settings.Owner("evaluator", e.name, e.settings) for e in chosen]
    if strategy is not None:
        used.append(settings.Owner("strategy", strategy.name, strategy.settings))
    others = [settings.Owner("evaluator", n, evaluators.get(n).settings) for n in evaluators.names()]
    others += [settings.Owner("strategy", n, type(strategies.get(n)).settings) for n in strategies.names()]
    return used, [o for o in others if o not in used]


def check_evaluators(chosen: Sequence[Evaluator], ctx: RunContext) -> None:
    """Each evaluator's own checks (settings, data, files) before the first trial; ``--data`` must open even
    if no evaluator reads it, since the user named it, unless it names a tabular evaluator's table."""
    for evaluator in chosen:
        evaluator.check(ctx)
    if ctx.data is not None and not any(e.data_is_table for e in chosen):
        from nas.data import open_dataset

        open_dataset(ctx.data)


def settings_help(named: str | None, reward: str, targets: Targets, strategy: Strategy | None,
                  defaults: Mapping[str, Any] = SEARCH_BUDGET) -> str:
    """``--help-settings``: the knobs of the evaluators (named, or what ``reward`` needs) and of ``strategy``."""
    names = evaluator_names(named, rewards.get(reward).required(targets))
    used, _ = owners([evaluators.get(n) for n in names], strategy)
    given = ", ".join(f"{k}={v}" for k, v in defaults.items())
    return settings.describe(used) + (f"\nsearch settings, unless set: {given}" if given else "")


def plan_search(space: SearchSpace, strategy: str | type[Strategy], reward: str, targets: Targets, named: str | None,
                given: Mapping[str, Any], *, data: str | None, device: str,
                defaults: Mapping[str, Any] = SEARCH_BUDGET, single_objective: str = "") -> SearchPlan:
    """Check a search request and return its plan; every problem is one :class:`UserInputError` sentence.

    Args:
        space: The space to search.
        strategy: Strategy name, or a strategy class of the caller's own (the compound grid's).
        reward: Reward name.
        targets: MACs / latency targets.
        named: Comma-separated evaluators, or ``None`` for what the reward needs.
        given: ``--set`` settings (text or values); a key is the strategy's if it declares it, else the evaluators'.
        data: Dataset name or directory (``None``: Fashion-MNIST).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        defaults: Evaluator settings the search uses unless ``given`` overrides them.
        single_objective: If not empty, what needs a single-valued reward (the refusal names it).
    """
    reward_ = rewards.get(reward)
    reward_.check(targets)
    directions = reward_.directions(targets)
    if single_objective and len(directions) != 1:
        raise UserInputError(f"reward {reward!r} has {len(directions)} objectives; {single_objective}, so it needs a "
                             f"single-valued reward")
    strategy_cls = type(strategies.get(strategy)) if isinstance(strategy, str) else strategy
    declared = {k.name for k in settings.knobs(strategy_cls.settings)} if strategy_cls.settings else set()
    strategy_options = {k: v for k, v in given.items() if k in declared}
    strategy_ = strategy_cls(**strategy_options)
    if len(directions) > 1 and not strategy_.multi_objective:
        multi = [n for n in strategies.names() if strategies.get(n).multi_objective]
        raise UserInputError(f"strategy {strategy_.name!r} optimises one value; reward {reward!r} has {len(directions)} "
                             f"objectives (use {', '.join(multi)})")
    chosen = [evaluators.get(n) for n in evaluator_names(named, reward_.required(targets))]
    check_required(reward_, targets, chosen, [evaluators.get(n) for n in evaluators.names()])
    knobs_given = {k: v for k, v in given.items() if k not in declared}
    used, others = owners(chosen, strategy_)
    settings.check(knobs_given, used, others)
    knobs = {**defaults, **knobs_given}
    refuse_test_split(knobs)
    check_device(device)
    ctx = RunContext(device=device, data=data, budget=knobs, space=space.name)
    check_evaluators(chosen, ctx)
    for evaluator in chosen:  # a supernet of some ops only: propose only genomes it holds weights for
        space = evaluator.restrict(space, ctx)
    return SearchPlan(space, strategy_, reward_, targets, tuple(chosen), knobs, strategy_options)


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


def _pruner(knobs: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """Median pruning on the proxy's intermediate validations (``evals`` > 1).

    With one validation (the default) the only report is the final one, and pruning then
    would throw away a finished result; so no pruner.
    """
    try:
        evals = int(knobs.get("evals", 1))
    except (TypeError, ValueError):
        evals = 1
    if evals > 1:
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    return optuna.pruners.NopPruner()


@dataclass
class StudyRun:
    """How a study-backed run is carried out: the flags a search's relatives share (the compound grid, the
    scaling-law fit), each with its run directory and study.

    Attributes:
        evaluator: Comma-separated evaluator names, or ``None`` for the command's own.
        knobs: Settings given (``--set``), over the command's defaults.
        out: Run directory (the default SQLite study, trials.csv, plots).
        storage: Optuna storage URL; ``None``: ``out/study.db``.
        study_name: ``None``: the command's default name.
        resume: Continue the existing study.
        seed: Seed of weights and data order.
        data: Dataset name or directory.
        device: Device of the evaluations.
        threads: torch CPU threads per evaluation.
        quiet: No progress bar or per-trial lines.
        plots: Write the PNG plots.
        heartbeat: Seconds between a running trial's heartbeats.
    """

    evaluator: str | None = None
    knobs: dict[str, Any] = field(default_factory=dict)
    out: Path = Path("runs/study")
    storage: str | None = None
    study_name: str | None = None
    resume: bool = False
    seed: int = 0
    data: str | None = None
    device: str = "auto"
    threads: int | None = None
    quiet: bool = False
    plots: bool = True
    heartbeat: int = HEARTBEAT_S


@dataclass(frozen=True)
class StudyPlace:
    """Where a search's study and outputs live.

    Attributes:
        out: Run directory (found.yaml, trials.csv, plots; the default SQLite study).
        name: Study name.
        storage: Storage URL given by the user, or ``None`` for ``out/study.db``.
        resume: Continue an existing study.
        heartbeat: Seconds between running trials' heartbeats.
    """

    out: Path
    name: str
    storage: str | None = None
    resume: bool = False
    heartbeat: int = HEARTBEAT_S

    @property
    def url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / 'study.db').resolve()}"


class SearchSession:
    """One worker's search of a plan on its study: open, drive, write.

    Args:
        plan: The checked request (:func:`plan_search`).
        place: The study and run directory.
        config: What must not change when the study is resumed (checked against the saved one).
        trials: Total trials the study should reach.
        seed: Seed of the strategy, weights and data order.
        data: Dataset name or directory.
        device: Device of the evaluations.
        threads: torch CPU threads per evaluation (``None``: torch's setting).
        timeout: Seconds this worker may start trials for (``None``: no limit).
        worker: This worker's index (0 writes the outputs and shows progress).
        quiet: No progress bar or per-trial lines.
        join: Join the study if it exists (a shared storage, or a local worker > 0).
    """

    def __init__(self, plan: SearchPlan, place: StudyPlace, config: dict[str, Any], *, trials: int, seed: int,
                 data: str | None, device: str, threads: int | None = None, timeout: float | None = None,
                 worker: int = 0, quiet: bool = False, join: bool = False) -> None:
        self.plan, self.place, self.seed, self.worker = plan, place, seed, worker
        prepare_dir(place.out, "run directory", OUTPUTS)  # before the study: nothing is started that cannot end
        check_out(place.out, place.name)
        strategy, directions = plan.strategy, plan.directions
        self.study = open_study(place.url, place.name, directions, strategy.sampler(plan.space, seed + worker,
                                                                                     directions),
                                config, resume=place.resume, out=place.out, pruner=_pruner(plan.knobs),
                                join=join, heartbeat=place.heartbeat)
        done = len(self.study.get_trials(deepcopy=False))
        if done and self.study.sampler is not None:  # a resumed sampler must not replay its first proposals
            self.study.sampler = strategy.sampler(plan.space, sampler_seed(seed, worker, done), directions)
        context = RunContext(device=device, seed=seed, data=data, budget=plan.knobs, threads=threads,
                             needs=frozenset(plan.reward.required(plan.targets)), space=plan.space.name)
        self.driver = SearchDriver(self.study, plan.space, strategy, plan.reward, plan.targets, plan.evaluators,
                                   context, trials, timeout, worker=worker)
        objectives = plan.reward.objective_names(plan.targets)
        self.progress = SearchProgress(trials, trials - self.driver.remaining(), objectives, directions,
                                       quiet=quiet or worker > 0,
                                       study=lambda: (trials - self.driver.remaining(), self.driver.history()))
        self.driver.on_trial = self.progress.on_trial
        self.interrupted = False
        #: What the evaluators know of the found genome beyond its metrics, by evaluator (set by :meth:`write`).
        self.about: dict[str, dict[str, Any]] = {}

    @property
    def signum(self) -> int:
        """The signal that interrupted the search (``SIGINT`` or ``SIGTERM``), 0 if none."""
        return self.driver.interrupts.signum if self.interrupted else 0

    def run(self) -> bool:
        """Drive the strategy until the budget, the timeout or a signal ends it; ``True`` if a signal did."""
        retries = self.driver.pending_retries()
        if retries and not self.progress.quiet:
            print(f"re-running {retries} interrupted trial(s) first", file=sys.stderr)
        try:
            with self.driver.interrupts.installed():
                self.driver.run()
        except KeyboardInterrupt:
            self.interrupted = True
        except (optuna.exceptions.StorageInternalError, OSError) as err:
            raise StorageWriteError(self._write_failure(err)) from None
        finally:
            self.progress.close()
        return self.interrupted

    def _write_failure(self, err: BaseException) -> str:
        """One sentence for a storage write that failed mid-search (a full disk, a lost database)."""
        cause = err.__cause__ or err
        text = (getattr(cause, "strerror", None) or str(getattr(cause, "orig", None) or cause)).strip()
        text = text.splitlines()[0][:200] if text else type(cause).__name__
        return (f"study storage {safe_url(self.place.url)} could not be written ({text}); every trial finished before "
                f"is kept: fix the cause (free disk space, restart the database) and continue with --resume")

    def summary(self, space_name: str | None = None) -> SearchSummary:
        """How the search was set up, as ``found.yaml`` records it."""
        plan = self.plan
        targets = {k: v for k, v in (("macs", plan.targets.macs), ("latency_ms", plan.targets.latency_ms))
                   if v is not None}
        return SearchSummary(space_name or plan.space.name, plan.strategy.name, plan.reward.name,
                             tuple(plan.reward.objective_names(plan.targets)), plan.directions, self.seed, targets,
                             self.place.name, safe_url(self.place.url), plan.evaluator_names, plan.knobs,
                             plan.resolved_settings())

    def write(self, points: Mapping[str, float], plots: bool = True,
              space_name: str | None = None) -> optuna.trial.FrozenTrial | None:
        """Write found.yaml, trials.csv (pareto.yaml) and the plots from the study; the found trial.

        The evaluators' :meth:`~nas.evaluators.Evaluator.about` the found genome go into found.yaml
        and :attr:`about`.
        """
        return write_outputs(self.study, self.place.out, self.summary(space_name), points, plots=plots,
                             about=self._about)

    def _about(self, genome: Network) -> dict[str, dict[str, Any]]:
        ctx = self.driver.context
        self.about = {e.name: facts for e in self.plan.evaluators if (facts := e.about(genome, ctx))}
        return self.about
