"""Search progress: a tqdm bar (trials done, best reward, ETA) and one concise line per trial."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from tqdm import tqdm

from search_spaces.units import human
from nas.search.driver import TrialRecord
from nas.strategies.base import Outcome

__all__ = ["SearchProgress", "trial_line"]


def trial_line(record: TrialRecord, objectives: Sequence[str]) -> str:
    """``trial  12  reward 0.8123  acc 0.8420  MACs 398M  params 4.12M  S 1.03  12.3s  mbconv_ab12``."""
    m = record.metrics
    parts = [f"trial {record.number:4d}"]
    if record.values is not None and len(record.values) == 1:  # several objectives show up in the metrics below
        parts.append(f"reward {record.values[0]:.4f}")
    for key, label in (("accuracy", "acc"), ("macs", "MACs"), ("params", "params"), ("latency_ms", "lat"),
                       ("train_step_ratio", "S")):
        if key in m:
            parts.append(f"{label} {_fmt(key, m[key])}")
    if "wall_s" in m and record.cached_from is None:
        parts.append(f"{m['wall_s']:.1f}s")
    if record.genome is not None:
        parts.append(record.genome.name)
    if record.cached_from is not None:
        parts.append(f"(same genome as trial {record.cached_from}: not re-evaluated)")
    if record.reason:
        parts.append(f"FAILED: {record.reason}" if not record.reason.startswith("pruned") else record.reason)
    return "  ".join(parts)


def _fmt(key: str, value: float) -> str:
    if key in ("macs", "params"):
        return human(int(value))
    if key == "latency_ms":
        return f"{value:.2f}ms"
    return f"{value:.4f}" if key == "accuracy" else f"{value:.3g}"


class SearchProgress:
    """Bar and log lines on stderr; ``quiet`` silences both.

    Args:
        total: Trials the study should reach.
        done: Trials already in the study (a resumed search).
        objectives: Names of the trial values.
        directions: Their Optuna directions (the bar shows the best single reward).
        quiet: Print nothing.
        study: Returns the study's counted trials and the outcomes of every trial known so far,
            other workers' included, so that with ``--workers`` the bar shows the whole study;
            without it the bar counts this process's trials.
    """

    def __init__(self, total: int, done: int, objectives: Sequence[str], directions: Sequence[str],
                 quiet: bool = False,
                 study: Callable[[], tuple[int, Sequence[Outcome]]] | None = None) -> None:
        self.objectives, self.directions, self.quiet, self.study = tuple(objectives), tuple(directions), quiet, study
        self.best: float | None = None
        self._seen = 0  # outcomes of ``study`` already looked at: it only grows
        self.bar = None if quiet else tqdm(total=total, initial=min(done, total), unit="trial", file=sys.stderr,
                                           dynamic_ncols=True, desc="search")

    def _see(self, values: tuple[float, ...] | None) -> None:
        if values is not None and len(values) == 1:
            sign = 1.0 if self.directions[0] == "maximize" else -1.0
            if self.best is None or sign * values[0] > sign * self.best:
                self.best = values[0]

    def on_trial(self, record: TrialRecord) -> None:
        if self.bar is None:
            return
        self.bar.write(trial_line(record, self.objectives), file=sys.stderr)
        if self.study is None:
            self._see(record.values)
            self.bar.update(1)
        else:
            counted, known = self.study()
            for outcome in known[self._seen:]:
                self._see(outcome.values)
            self._seen = len(known)
            self.bar.update(max(0, min(counted, self.bar.total) - self.bar.n))
        if self.best is not None:
            self.bar.set_postfix_str(f"best {self.best:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
