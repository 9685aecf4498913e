"""``rl``: the MnasNet reinforcement-learning controller, an LSTM policy trained with PPO.

MnasNet (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture Search for
Mobile", sec. 4.1 and 5) samples each model as a sequence of tokens from an RNN
controller (Zoph & Le 2017; NASNet, Zoph et al. 2018, appendix A.2), gets its reward
``R(m)`` and updates the controller parameters to maximise the expected reward with
Proximal Policy Optimization (Schulman et al. 2017). Here:

- **Decisions**: the space's distributions, in order, one token each. ``Categorical``: its
  choices; ``IntRange`` with at most ``max_choices`` grid values: every value; a larger
  ``IntRange`` or any ``FloatRange``: ``levels`` values spread over the range (log-spaced
  when ``log``, snapped to ``step``), see :func:`decision_values`. A distribution with a
  ``when`` condition is sampled only when the condition holds on the values sampled so
  far; a skipped decision neither advances the LSTM nor counts in the log-probability, so
  the params handed on are exactly the active ones.
- **Controller**: one-layer LSTM (NASNet's controller is one layer); its input is a learned
  start vector, then the embedding of the previous token; one linear head per decision
  (stored as one padded tensor); every weight initialised uniformly in [-0.1, 0.1]
  (NASNet A.2, ENAS sec. 3). Optionally ENAS's logit shaping ``tanh_constant *
  tanh(logits / temperature)`` (Pham et al. 2018 use temperature 5.0 and tanh constant
  2.5; off by default, as in NASNet/MnasNet).
- **Update**: every ``batch`` models. Baseline: an exponential moving average of the
  rewards, decay 0.95 (NASNet A.2); advantage ``(R - baseline) / std`` where ``std`` is the
  standard deviation of every successful reward seen so far. ``ppo``: ``epochs`` Adam steps
  on the clipped surrogate, clip 0.2 (Schulman et al. 2017); ``reinforce``: one Adam step
  on ``-advantage * log p`` (Williams 1992, as in Zoph & Le 2017). Both add an entropy
  bonus (weight 1e-4, ENAS sec. 3).

Deviations, because our searches run 20..1000 trials instead of MnasNet's ~8K (and
NASNet's 20K): learning rate 5e-3 instead of NASNet/ENAS's 3.5e-4; hidden size 64 (ENAS's
``lstm_size``, NNI's default) instead of 100; advantages divided by the reward's standard
deviation so the step does not depend on the reward's units; one synchronous batch of
``batch`` models instead of NASNet's asynchronous work queue.

Failures: a failed (or non-finite) outcome gets the lowest successful reward seen so far
minus one standard deviation of those rewards (1 when that is 0), so the controller learns
to avoid it; before any success has been seen it is left out of the update. Rewards of a
``minimize`` study are negated.

Resume: outcomes already in ``driver.history()`` whose params map onto the controller's
tokens (categorical and enumerated values exactly, level decisions to the nearest level of
a value the distribution contains; at most the last ``history_limit``) are replayed, oldest
first, through the same update in at most ``pretrain_updates`` (16) batches of at least
``batch`` outcomes. They set the baseline and reward statistics and move the policy roughly
where the earlier run left it (measured on a toy space: a controller warmed on 48 PPO trials
samples a mean reward of 2.1 against 0.9 for a fresh one), so a resumed study does not
start from a uniform policy.

Determinism: the controller is initialised and samples from a private ``torch.Generator``
seeded with ``driver.seed``; the global torch RNG and thread settings are left untouched.

Cost: a few milliseconds of controller time per trial (sampling plus updates; measured in
docs/BENCHMARKS.md, "Search overhead per trial"). On a machine whose cores are busy with
other processes, several torch intra-op threads can make every small op wait for a
descheduled thread; the caller's thread setting is kept regardless.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from nas.settings import knob
from nas.strategies.base import Driver, Outcome, Strategy
from nas.strategies.levels import discretize, enumerates, nearest
from search_spaces.errors import UserInputError
from search_spaces.spaces.base import Categorical, Distribution, IntRange, SearchSpace, is_active

__all__ = ["Decision", "RLStrategy", "decision_values", "decisions"]


@dataclass(frozen=True)
class Decision:
    """One controller step: the distribution it sets and the values its tokens stand for."""

    dist: Distribution
    values: tuple[Any, ...]
    #: Whether a value maps to the nearest of ``values`` (levels of a range, float grids) or only exactly.
    nearest: bool = False

    def token(self, value: Any) -> int | None:
        """The token of ``value``, or ``None`` if it does not map onto this decision."""
        if not self.dist.contains(value):
            return None
        if not self.nearest:
            for i, v in enumerate(self.values):
                if v == value and isinstance(v, bool) == isinstance(value, bool):
                    return i
            return None
        return nearest(self.values, value, getattr(self.dist, "log", False))


def decision_values(dist: Distribution, levels: int = 16, max_choices: int = 32) -> tuple[tuple[Any, ...], bool]:
    """The values a decision's tokens stand for (:func:`nas.strategies.levels.discretize`), and whether
    other values map to the nearest of them (levels of a range, float grids) rather than only exactly."""
    values = discretize(dist, levels, max_choices)
    exact = isinstance(dist, Categorical) or (isinstance(dist, IntRange) and enumerates(dist, max_choices))
    return values, not exact


def decisions(space: SearchSpace, levels: int = 16, max_choices: int = 32) -> list[Decision]:
    """The controller's decisions for ``space``: its distributions in order (see :func:`decision_values`)."""
    out = []
    for dist in space.distributions():
        values, nearest = decision_values(dist, levels, max_choices)
        out.append(Decision(dist, values, nearest))
    return out


class _Controller(nn.Module):
    """The LSTM policy: previous token's embedding in, current decision's logits out.

    The per-decision heads are stored as one padded ``(decisions, widest, hidden)`` weight
    (choices a decision lacks are masked out), so scoring a batch is one LSTM call and one
    einsum per pattern of active decisions instead of a Python loop over decisions.
    """

    def __init__(self, sizes: Sequence[int], hidden: int, temperature: float, tanh_constant: float | None) -> None:
        super().__init__()
        self.hidden, self.temperature, self.tanh_constant = hidden, temperature, tanh_constant
        self.start = nn.Parameter(torch.zeros(1, 1, hidden))
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.embed = nn.Embedding(sum(sizes), hidden)  # decision t's token i is row offset[t] + i
        self.weight = nn.Parameter(torch.zeros(len(sizes), max(sizes), hidden))
        self.bias = nn.Parameter(torch.zeros(len(sizes), max(sizes)))
        self.register_buffer("offset", torch.tensor([sum(sizes[:t]) for t in range(len(sizes))]))
        self.register_buffer("valid", torch.arange(max(sizes))[None, :] < torch.tensor(sizes)[:, None])

    def _log_probs(self, h: torch.Tensor, steps: torch.Tensor | slice) -> torch.Tensor:
        """``(batch, len(steps), widest)`` log-probabilities of decisions ``steps`` from LSTM outputs ``h``."""
        logits = torch.einsum("blh,lch->blc", h, self.weight[steps]) + self.bias[steps]
        logits = logits / self.temperature
        if self.tanh_constant is not None:  # ENAS sec. 3
            logits = self.tanh_constant * torch.tanh(logits)
        return torch.log_softmax(logits.masked_fill(~self.valid[steps], -1e9), dim=-1)

    def sample(self, n: int, active_of: Callable[[int, torch.Tensor], list[bool]],
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample ``n`` token sequences step by step; ``active_of(t, tokens)`` says who takes step ``t``.

        Returns:
            tokens and active mask ``(n, decisions)`` and each sequence's log-probability.
        """
        steps = len(self.offset)
        tokens = torch.zeros(n, steps, dtype=torch.long)
        active = torch.zeros(n, steps, dtype=torch.bool)
        logp = torch.zeros(n)
        x = self.start[0].expand(n, self.hidden)
        h = c = torch.zeros(n, self.hidden)
        lstm = self.lstm
        for t in range(steps):
            on = active_of(t, tokens)
            if not any(on):
                continue
            # one step of self.lstm; the single-step cell op is ~3x cheaper than nn.LSTM on a length-1 sequence
            h_new, c_new = torch.lstm_cell(x, (h, c), lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                           lstm.bias_hh_l0)
            log_probs = self._log_probs(h_new[:, None], slice(t, t + 1))[:, 0]
            tok = torch.multinomial(log_probs.exp(), 1, generator=generator)
            step_logp = log_probs.gather(1, tok)[:, 0]
            x_new = self.embed(tok[:, 0] + int(self.offset[t]))
            if all(on):  # the common case: no condition, no masking
                h, c, x, logp = h_new, c_new, x_new, logp + step_logp
            else:  # a skipped decision leaves the LSTM state, input and log-probability as they were
                mask = torch.tensor(on, dtype=torch.bool)
                tok, step_logp = tok * mask[:, None], torch.where(mask, step_logp, 0.0)
                h, c = torch.where(mask[:, None], h_new, h), torch.where(mask[:, None], c_new, c)
                x, logp = torch.where(mask[:, None], x_new, x), logp + step_logp
            tokens[:, t], active[:, t] = tok[:, 0], torch.tensor(on, dtype=torch.bool)
        return tokens, active, logp

    def score(self, tokens: torch.Tensor, active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of each sequence, summed over its active decisions."""
        n = len(tokens)
        logp = entropy = torch.zeros(n)
        patterns, group = torch.unique(active, dim=0, return_inverse=True)
        for g, pattern in enumerate(patterns):
            rows = (group == g).nonzero()[:, 0]
            steps = pattern.nonzero()[:, 0]
            tok = tokens[rows][:, steps]
            previous = self.embed(self.offset[steps] + tok)[:, :-1]
            out, _ = self.lstm(torch.cat([self.start.expand(len(rows), 1, self.hidden), previous], dim=1))
            log_probs = self._log_probs(out, steps)
            logp = logp.index_add(0, rows, log_probs.gather(2, tok[..., None])[..., 0].sum(1))
            entropy = entropy.index_add(0, rows, -(log_probs.exp() * log_probs).sum((1, 2)))
        return logp, entropy


@dataclass(frozen=True)
class RLSettings:
    """Knobs of ``rl`` (see the module docstring for the sources of the defaults).

    The learning rate and PPO's epochs are ``controller_lr`` and ``ppo_epochs``: ``--set`` shares one
    namespace between the strategy and the evaluators, whose ``lr`` and ``epochs`` train the candidates.
    """

    algorithm: str = knob("ppo", "ppo (MnasNet, NASNet) or reinforce (Zoph & Le 2017)", choices=("ppo", "reinforce"))
    hidden: int = knob(64, "LSTM hidden and embedding size (ENAS/NNI: 64; NASNet: 100)", low=1, high=65_536)
    controller_lr: float = knob(5e-3, "the controller's Adam learning rate (NASNet/ENAS use 3.5e-4 over 20K models)",
                                low=0.0, low_open=True, high=10.0)
    batch: int = knob(8, "models sampled per controller update", low=1, high=100_000)
    entropy: float = knob(1e-4, "weight of the entropy bonus (ENAS)", low=0.0, high=100.0)
    baseline_decay: float = knob(0.95, "decay of the reward's moving-average baseline (NASNet)", low=0.0, high=0.999999)
    clip: float = knob(0.2, "PPO's clipping range epsilon (Schulman et al. 2017)", low=0.0, low_open=True, high=10.0)
    ppo_epochs: int = knob(4, "PPO optimisation steps per batch (reinforce always takes one)", low=1, high=10_000)
    temperature: float = knob(1.0, "logits are divided by it before tanh_constant (ENAS: 5.0)", low=0.0,
                              low_open=True, high=1e6)
    tanh_constant: float | None = knob(None, "ENAS's C * tanh(logits) clipping (ENAS: 2.5)", low=0.0, low_open=True,
                                       high=1e6, none="off")
    levels: int = knob(16, "values offered for a float or a wide int range", low=2, high=10_000)
    max_choices: int = knob(32, "an int range with at most this many values offers every value", low=1, high=10_000)
    history_limit: int = knob(512, "at most this many most recent earlier outcomes pretrain a resumed controller",
                              low=0, high=10_000_000)


class RLStrategy(Strategy):
    """MnasNet's controller: an LSTM policy over the space's decisions, trained with PPO or REINFORCE.

    See the module docstring for the algorithm, its sources and our deviations; the knobs
    are :class:`RLSettings` (``RLStrategy(batch=16)``, or ``--set batch=16``).
    """

    name: ClassVar[str] = "rl"
    summary: ClassVar[str] = "MnasNet RL controller (LSTM policy, PPO; Tan et al. 2019)"
    multi_objective: ClassVar[bool] = False
    settings: ClassVar[type | None] = RLSettings
    #: A resumed study's history is replayed in at most this many controller updates.
    pretrain_updates: ClassVar[int] = 16

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        self.algorithm, self.hidden, self.lr, self.batch = o.algorithm, o.hidden, o.controller_lr, o.batch
        self.entropy, self.baseline_decay, self.clip, self.epochs = o.entropy, o.baseline_decay, o.clip, o.ppo_epochs
        self.temperature, self.tanh_constant = o.temperature, o.tanh_constant
        self.levels, self.max_choices, self.history_limit = o.levels, o.max_choices, o.history_limit

    # -- set-up ---------------------------------------------------------------------------

    def _setup(self, driver: Driver) -> None:
        if len(driver.directions) != 1:
            raise UserInputError(f"strategy 'rl' optimises one reward, got {len(driver.directions)} objectives "
                                 f"(use tpe, nsga2 or random for the pareto reward)")
        self._sign = -1.0 if driver.directions[0] == "minimize" else 1.0
        self._decisions = decisions(driver.space, self.levels, self.max_choices)
        self._generator = torch.Generator().manual_seed(int(driver.seed) % 2**63)
        with torch.random.fork_rng(devices=[]):  # nn constructors draw from the global RNG
            self._controller = _Controller([len(d.values) for d in self._decisions], self.hidden,
                                           self.temperature, self.tanh_constant)
        with torch.no_grad():
            for p in self._controller.parameters():
                p.uniform_(-0.1, 0.1, generator=self._generator)
        self._optimizer = torch.optim.Adam(self._controller.parameters(), lr=self.lr)
        self._rewards: list[float] = []  # successful rewards seen (sign applied)
        self._baseline: float | None = None

    # -- policy ---------------------------------------------------------------------------

    def _sample(self, n: int) -> tuple[list[dict[str, Any]], torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` assignments of the active params, with their tokens, active mask and log-probabilities."""
        params: list[dict[str, Any]] = [{} for _ in range(n)]
        mask: list[bool] = []

        def active_of(t: int, tokens: torch.Tensor) -> list[bool]:
            if t > 0:  # record the previous step's values, then check this step's condition
                prev = self._decisions[t - 1]
                for b, on in enumerate(mask):
                    if on:
                        params[b][prev.dist.name] = prev.values[int(tokens[b, t - 1])]
            mask[:] = [is_active(self._decisions[t].dist, p) for p in params]
            return mask

        with torch.no_grad():
            tokens, active, logp = self._controller.sample(n, active_of, self._generator)
        last = self._decisions[-1]
        for b, on in enumerate(mask):  # the last step's values
            if on:
                params[b][last.dist.name] = last.values[int(tokens[b, -1])]
        return params, tokens, active, logp

    def _encode(self, params: Mapping[str, Any]) -> tuple[list[int], list[bool]] | None:
        """Tokens and active mask of an earlier trial's params, or ``None`` if they do not map."""
        mapped: dict[str, Any] = {}
        tokens, active = [], []
        for d in self._decisions:
            on = is_active(d.dist, mapped)
            token = d.token(params.get(d.dist.name)) if on else 0
            if token is None:
                return None
            if on:
                mapped[d.dist.name] = d.values[token]
            tokens.append(token)
            active.append(on)
        return tokens, active

    # -- learning -------------------------------------------------------------------------

    def _reward(self, outcome: Outcome) -> float | None:
        """The learning signal of one outcome (see the module docstring for failures)."""
        value = outcome.value
        if not outcome.failed and value is not None and math.isfinite(value):
            return self._sign * value
        if not self._rewards:
            return None
        spread = statistics.pstdev(self._rewards) if len(self._rewards) > 1 else 0.0
        return min(self._rewards) - (spread or 1.0)

    def _learn(self, tokens: torch.Tensor, active: torch.Tensor, rewards: list[float], baseline: float,
               steps: int) -> None:
        """``steps`` policy-gradient steps (clipped surrogate for ``ppo``) on one batch."""
        spread = statistics.pstdev(self._rewards) if len(self._rewards) > 1 else 0.0
        advantage = (torch.tensor(rewards) - baseline) / (spread or 1.0)
        old_logp = None
        for _ in range(steps):
            logp, entropy = self._controller.score(tokens, active)
            if self.algorithm == "ppo":
                if old_logp is None:
                    old_logp = logp.detach()
                ratio = torch.exp(logp - old_logp)
                objective = torch.min(ratio * advantage, ratio.clamp(1 - self.clip, 1 + self.clip) * advantage)
            else:
                objective = advantage * logp
            loss = -(objective + self.entropy * entropy).mean()
            self._optimizer.zero_grad()
            loss.backward()
            self._optimizer.step()

    def _update(self, tokens: torch.Tensor, active: torch.Tensor, outcomes: Sequence[Outcome]) -> None:
        """Score ``outcomes`` (rows of ``tokens``), learn from them and move the baseline."""
        for o in outcomes:
            if not o.failed and o.value is not None and math.isfinite(o.value):
                self._rewards.append(self._sign * o.value)
        scored = [(i, r) for i, r in enumerate(map(self._reward, outcomes)) if r is not None]
        if not scored:
            return
        rows = torch.tensor([i for i, _ in scored])
        rewards = [r for _, r in scored]
        if self._baseline is None:
            self._baseline = sum(rewards) / len(rewards)
        baseline = self._baseline
        for r in rewards:
            self._baseline = self.baseline_decay * self._baseline + (1 - self.baseline_decay) * r
        self._learn(tokens[rows], active[rows], rewards, baseline, self.epochs if self.algorithm == "ppo" else 1)

    def _pretrain(self, history: Sequence[Outcome]) -> None:
        """Replay a resumed study's earlier outcomes, oldest first, in at most ``pretrain_updates`` batches."""
        encoded = []
        for outcome in list(history)[-self.history_limit:] if self.history_limit else []:
            code = self._encode(outcome.params)
            if code is not None:
                encoded.append((code, outcome))
        if not encoded:
            return
        tokens = torch.tensor([e[0] for e, _ in encoded], dtype=torch.long)
        active = torch.tensor([e[1] for e, _ in encoded], dtype=torch.bool)
        size = max(self.batch, -(-len(encoded) // self.pretrain_updates))
        for start in range(0, len(encoded), size):
            rows = slice(start, start + size)
            self._update(tokens[rows], active[rows], [o for _, o in encoded[rows]])

    # -- the search -----------------------------------------------------------------------

    def run(self, driver: Driver) -> None:
        """Sample ``batch`` models, evaluate them, update the controller; until :class:`StopSearch`."""
        self._setup(driver)
        if not self._decisions:
            while True:
                driver.evaluate({})
        self._pretrain(driver.history())
        while True:
            n = max(1, min(self.batch, driver.remaining()))
            params, tokens, active, _ = self._sample(n)
            outcomes = [driver.evaluate(p) for p in params]  # StopSearch propagates
            self._update(tokens, active, outcomes)
