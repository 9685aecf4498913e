"""What a search leaves in its run directory, all written atomically from the study.

- ``found.yaml``: the best genome with a ``meta`` mapping (metrics, reward, space,
  strategy, seed, targets, study name, trial number, and under ``about`` what evaluators know
  of it beyond its metrics: a tabular benchmark's row); ``search_spaces.load`` and
  ``python -m scaling.compound --base`` read it.
- ``trials.csv``: one row per trial (state, values, metrics, params, reason).
- ``pareto.yaml``: the Pareto front, for multi-objective searches.
- ``reward.png`` (reward per trial and best so far; for multi-objective searches, the
  accuracy) and ``tradeoff.png`` (accuracy against MACs, and against latency when
  measured, with the front and the space's published points marked at their MACs).

Everything is derived from the study, so rewriting the outputs after a resume or an
interruption loses nothing.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from nas.evaluators.base import Metrics
from nas.rewards import pareto_front
from search_spaces.codec import from_yaml, to_dict, to_yaml
from search_spaces.errors import UserInputError
from search_spaces.files import atomic_write, atomic_write_text
from search_spaces.genome import Network

__all__ = ["OUTPUTS", "SearchSummary", "best_trial", "finished", "front", "write_outputs"]

#: The files a search writes into its run directory.
OUTPUTS = ("found.yaml", "trials.csv", "pareto.yaml", "reward.png", "tradeoff.png")

_METRIC_COLUMNS = (*Metrics.ESTIMATES, "train_step_ratio", "wall_s")


@dataclass(frozen=True)
class SearchSummary:
    """How the search was set up (written into ``found.yaml``'s meta and used by the plots).

    ``budget`` holds the evaluator settings as given (search defaults, then ``--set``);
    ``settings`` every knob of the run's evaluators and strategy as resolved, defaults included.
    """

    space: str
    strategy: str
    reward: str
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    seed: int
    targets: dict[str, float]
    study: str
    storage: str
    evaluators: tuple[str, ...]
    budget: dict[str, Any]
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that ran to an end (complete, failed with a reason, pruned), in order."""
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and "reason" in t.user_attrs)]


def front(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> list[FrozenTrial]:
    """The non-dominated complete trials (one per genome)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and "cached_from" not in t.user_attrs]
    return [complete[i] for i in pareto_front([t.values for t in complete], directions)]


def best_trial(trials: Sequence[FrozenTrial], summary: SearchSummary) -> FrozenTrial | None:
    """The trial ``found.yaml`` holds: the highest reward; for several objectives, the most accurate front
    member within the MACs budget (the most accurate front member when none is)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    if len(summary.directions) == 1:
        sign = 1.0 if summary.directions[0] == "maximize" else -1.0
        return max(complete, key=lambda t: (sign * t.values[0], -t.number))
    members = front(complete, summary.directions)
    budget = summary.targets.get("macs")
    within = [t for t in members if budget is None or _metric(t, "macs") <= budget]
    return max(within or members, key=lambda t: (_metric(t, "accuracy"), -t.number))


def _metric(trial: FrozenTrial, name: str) -> float:
    value = trial.user_attrs.get("metrics", {}).get(name)
    return float("nan") if value is None else float(value)


def _genome(trial: FrozenTrial) -> Network:
    return from_yaml(trial.user_attrs["genome"], f"trial {trial.number}")


def _found_meta(trial: FrozenTrial, summary: SearchSummary) -> dict[str, Any]:
    return {
        "search": {"space": summary.space, "strategy": summary.strategy, "reward": summary.reward,
                   "seed": summary.seed, "targets": dict(summary.targets), "study": summary.study,
                   "storage": summary.storage, "trial": trial.number, "evaluators": list(summary.evaluators),
                   "budget": dict(summary.budget), "settings": {k: dict(v) for k, v in summary.settings.items()}},
        "reward": dict(zip(summary.objectives, (float(v) for v in trial.values))),
        "metrics": {k: float(v) for k, v in trial.user_attrs.get("metrics", {}).items()},
    }


def _csv(trials: Sequence[FrozenTrial], summary: SearchSummary) -> str:
    params = list(dict.fromkeys(k for t in trials for k in t.params))
    extra = sorted({k for t in trials for k in t.user_attrs.get("metrics", {})} - set(_METRIC_COLUMNS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "state", *summary.objectives, "genome", *_METRIC_COLUMNS, *extra, "cached_from",
                     "strategy", "reason", *params])
    for t in trials:
        values = list(t.values) if t.state == TrialState.COMPLETE and t.values else [""] * len(summary.objectives)
        metrics = t.user_attrs.get("metrics", {})
        genome = t.user_attrs.get("genome", "")
        name = genome.split("\n", 1)[0].removeprefix("name: ") if genome else ""
        reason = t.user_attrs.get("reason", t.user_attrs.get("pruned", ""))
        writer.writerow([t.number, t.state.name, *values, name, *(metrics.get(c, "") for c in _METRIC_COLUMNS),
                         *(metrics.get(c, "") for c in extra), t.user_attrs.get("cached_from", ""),
                         t.user_attrs.get("strategy", ""), reason, *(t.params.get(p, "") for p in params)])
    return out.getvalue()


def _pareto_yaml(members: Sequence[FrozenTrial], summary: SearchSummary) -> str:
    entries = [{"trial": t.number, "values": dict(zip(summary.objectives, (float(v) for v in t.values))),
                "metrics": {k: float(v) for k, v in t.user_attrs.get("metrics", {}).items()},
                "genome": to_dict(_genome(t), short=True)} for t in sorted(members, key=lambda t: _metric(t, "macs"))]
    return yaml.safe_dump({"objectives": list(summary.objectives), "directions": list(summary.directions),
                           "front": entries}, sort_keys=False)


def check_out(out: Path, study: str) -> None:
    """Refuse a run directory whose ``found.yaml`` belongs to another study (its results would be overwritten).

    Raises:
        UserInputError: ``out/found.yaml`` exists and is not study ``study``'s.
    """
    found = out / "found.yaml"
    if not found.exists():
        return
    try:
        owner = yaml.safe_load(found.read_text())["meta"]["search"]["study"]
    except Exception:  # noqa: BLE001 (unreadable or edited: not this study's either)
        owner = None
    if owner != study:
        whose = f"study {owner!r}" if isinstance(owner, str) else "another search"
        raise UserInputError(f"{out} already holds the results of {whose} (found.yaml); choose another --out, "
                             f"or continue that study with its own settings and --resume")


def write_outputs(study: optuna.Study, out: Path, summary: SearchSummary, points: Mapping[str, float],
                  plots: bool = True, about: Callable[[Network], dict[str, Any]] | None = None) -> FrozenTrial | None:
    """Write found.yaml, trials.csv, pareto.yaml (several objectives) and the plots; return the found trial.

    Args:
        study: The search's study.
        out: The run directory.
        summary: The search's settings.
        points: Published architectures of the space by name -> MACs (marked on the trade-off plot).
        plots: Draw the PNGs (the slowest part, skipped by periodic saves).
        about: What is known of the found genome beyond its metrics, by evaluator (found.yaml's ``meta.about``).
    """
    trials = finished(study)
    best = best_trial(trials, summary)
    if best is not None:
        genome = _genome(best)
        meta = _found_meta(best, summary)
        facts = about(genome) if about is not None else {}
        if facts:
            meta["about"] = facts
        atomic_write_text(out / "found.yaml", to_yaml(genome, meta))
    atomic_write_text(out / "trials.csv", _csv(trials, summary))
    members = front(trials, summary.directions) if len(summary.directions) > 1 else []
    if members:
        atomic_write_text(out / "pareto.yaml", _pareto_yaml(members, summary))
    if plots and trials:
        _plot_reward(out / "reward.png", trials, summary)
        _plot_tradeoff(out / "tradeoff.png", trials, summary, points)
    return best


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    finally:
        plt.close(fig)


def _plot_reward(path: Path, trials: Sequence[FrozenTrial], summary: SearchSummary) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    single = len(summary.directions) == 1
    label = summary.objectives[0] if single else "accuracy"
    xs, ys = [], []
    for t in trials:
        if t.state == TrialState.COMPLETE:
            xs.append(t.number)
            ys.append(t.values[0] if single else _metric(t, "accuracy"))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.scatter(xs, ys, s=14, alpha=0.6, label="trial")
    best, running = -math.inf, []
    for y in ys:
        best = max(best, y)
        running.append(best)
    ax.step(xs, running, where="post", color="C3", label="best so far")
    failed = [t.number for t in trials if t.state != TrialState.COMPLETE]
    if failed and ys:
        ax.scatter(failed, [min(ys)] * len(failed), marker="x", color="grey", s=14, label="failed / pruned")
    ax.set_xlabel("trial")
    ax.set_ylabel(label)
    ax.set_title(f"{summary.space}: {summary.strategy}, reward {summary.reward}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save(fig, path)


def _plot_tradeoff(path: Path, trials: Sequence[FrozenTrial], summary: SearchSummary,
                   points: Mapping[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    complete = [t for t in trials if t.state == TrialState.COMPLETE and not math.isnan(_metric(t, "accuracy"))]
    axes_on = [("macs", 1e6, "MACs (M)")]
    if any(not math.isnan(_metric(t, "latency_ms")) for t in complete):
        axes_on.append(("latency_ms", 1.0, "latency (ms)"))
    fig, axes = plt.subplots(1, len(axes_on), figsize=(6.4 * len(axes_on), 4.4), squeeze=False)
    for ax, (metric, scale, label) in zip(axes[0], axes_on):
        pts = [(_metric(t, metric) / scale, _metric(t, "accuracy")) for t in complete
               if not math.isnan(_metric(t, metric))]
        if pts:
            ax.scatter(*zip(*pts), s=14, alpha=0.5, label="trial")
            idx = pareto_front(pts, ("minimize", "maximize"))
            fr = sorted(pts[i] for i in idx)
            ax.step([p[0] for p in fr], [p[1] for p in fr], where="post", color="C3", marker="o", ms=4,
                    label="Pareto front")
        target = summary.targets.get(metric)
        if target is not None:
            ax.axvline(target / scale, color="k", ls=":", lw=1, label="target")
        if metric == "macs":
            for name, macs in points.items():
                ax.axvline(macs / scale, color="C2", ls="--", lw=0.8, alpha=0.7)
                ax.annotate(name, (macs / scale, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                            fontsize=7, color="C2", ha="right", va="bottom")
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{summary.space}: accuracy vs cost ({len(complete)} trials)")
    fig.tight_layout()
    _save(fig, path)
