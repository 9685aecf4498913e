"""Zero-cost proxies: each paper's definition, determinism, the model left as found, and the ``zero-cost`` evaluator."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import search_spaces as ss
from nas.evaluators import RunContext, evaluate, get
from nas.evaluators import zero_cost as zc_eval
from nas.evaluators.zero_cost import ZeroCostEvaluator, ZeroCostSettings, proxy_names
from nas.zero_cost import PROXIES, grad_norm, naswot, snip, synflow, zico
from search_spaces.errors import UserInputError
from search_spaces.genome import Head, Network, Stage, Stem

#: Swish MBConv net with SE, dropout and drop-path: every pitfall a proxy must handle.
TINY = Network(name="tiny", stem=Stem(channels=8),
               stages=(Stage("mbconv", 1, 8, expand=1.0, se=0.25), Stage("mbconv", 2, 16, stride=2, expand=4.0)),
               head=Head(channels=32, dropout=0.2), resolution=16, num_classes=10, in_channels=1, act="swish",
               drop_path=0.2)
#: Plain ReLU net (no dropout): train mode equals the proxies' batch-statistics mode.
RELU = dataclasses.replace(TINY, name="relu", act="relu", drop_path=0.0, head=Head(channels=16),
                           stages=(Stage("conv", 1, 8), Stage("conv", 1, 12, stride=2)))


def _model(genome: Network = TINY, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return ss.build(genome)


def _batch(n: int = 8, channels: int = 1, resolution: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, resolution, resolution, generator=gen), torch.randint(0, 10, (n,), generator=gen)


@pytest.mark.parametrize("name", PROXIES.names())
def test_every_proxy_returns_a_finite_float(name: str) -> None:
    score = PROXIES.get(name)(_model(), *_batch(), F.cross_entropy)
    assert isinstance(score, float) and math.isfinite(score)


@pytest.mark.parametrize("name", PROXIES.names())
def test_scores_are_deterministic_for_a_seed_despite_dropout_and_drop_path(name: str) -> None:
    proxy = PROXIES.get(name)
    first, again = proxy(_model(seed=3), *_batch()), proxy(_model(seed=3), *_batch())
    model = _model(seed=3)
    assert first == again == proxy(model, *_batch()) == proxy(model, *_batch())


@pytest.mark.parametrize("name", PROXIES.names())
def test_model_is_left_exactly_as_found(name: str) -> None:
    model = _model()
    model.train()
    model(_batch()[0])  # non-trivial running statistics
    model.eval()
    model.stages[1].train()  # mixed modes must survive
    model.stem.conv.weight.requires_grad_(False)  # a frozen layer stays frozen
    old_grad = torch.ones_like(model.head.classifier.weight)
    model.head.classifier.weight.grad = old_grad  # a caller's gradient is kept, not accumulated into
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {n: m.training for n, m in model.named_modules()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}

    PROXIES.get(name)(model, *_batch(), F.cross_entropy)

    after = model.state_dict()
    assert all(torch.equal(state[k], after[k]) and state[k].dtype == after[k].dtype for k in state)
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert model.head.classifier.weight.grad is old_grad and torch.equal(old_grad, torch.ones_like(old_grad))
    assert all(p.grad is None for n, p in model.named_parameters() if n != "head.classifier.weight")


@pytest.mark.parametrize("name", PROXIES.names())
def test_proxies_work_inside_a_callers_no_grad(name: str) -> None:
    with torch.no_grad():
        assert math.isfinite(PROXIES.get(name)(_model(), *_batch(), F.cross_entropy))


def test_synflow_ranks_a_wider_deeper_network_above_a_much_smaller_one() -> None:
    small = dataclasses.replace(TINY, width_mult=0.25)
    big = dataclasses.replace(TINY, width_mult=2.0, depth_mult=2.0)
    x, y = _batch()
    assert synflow(_model(big), x, y) > 100 * synflow(_model(small), x, y)


def test_synflow_is_the_synaptic_flow_of_a_linear_chain() -> None:
    # Two bias-free linear layers: R = 1^T |W2| |W1| 1 and sum |theta dR/dtheta| = 2 R (each layer carries R).
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 5, bias=False), nn.ReLU(), nn.Linear(5, 3, bias=False))
    w1, w2 = model[1].weight.detach().double().abs(), model[3].weight.detach().double().abs()
    flow = (w2 @ w1 @ torch.ones(6, dtype=torch.float64)).sum().item()
    assert synflow(model, torch.randn(4, 6), torch.zeros(4, dtype=torch.long)) == pytest.approx(2 * flow, rel=1e-12)


def test_synflow_bypasses_batch_norm() -> None:
    # BN would rescale by its (here absurd) affine parameters; zero-cost-nas's synflow removes BN entirely.
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    with_bn = nn.Sequential(plain[0], nn.BatchNorm2d(4), *plain[1:])
    with torch.no_grad():
        with_bn[1].weight.fill_(-1e6)
        with_bn[1].running_var.fill_(1e-8)
    x, y = torch.randn(2, 1, 6, 6), torch.zeros(2, dtype=torch.long)
    assert synflow(with_bn, x, y) == synflow(plain, x, y)


def test_naswot_is_the_log_determinant_of_the_hamming_kernel() -> None:
    model, (x, y) = _model(RELU), _batch(6)
    codes: list[np.ndarray] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append((out > 0).flatten(1).numpy()))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    model.train()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    c = np.concatenate(codes, axis=1)  # one binary code per image over every ReLU unit
    n_units = c.shape[1]
    kernel = np.array([[n_units - np.count_nonzero(c[i] != c[j]) for j in range(6)] for i in range(6)], dtype=float)
    assert naswot(_model(RELU), x, y) == pytest.approx(math.log(abs(np.linalg.det(kernel))), rel=1e-9)


def test_gradient_proxies_follow_their_definitions() -> None:
    model, (x, y) = _model(RELU), _batch()
    model.train()
    F.cross_entropy(model(x), y).backward()
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    expect_norm = sum(m.weight.grad.double().norm().item() for m in layers)
    expect_snip = sum((m.weight.grad.double() * m.weight.double()).abs().sum().item() for m in layers)
    fresh = _model(RELU)
    assert grad_norm(fresh, x, y) == pytest.approx(expect_norm, rel=1e-6)
    assert snip(fresh, x, y) == pytest.approx(expect_snip, rel=1e-6)


def test_zico_is_the_log_inverse_coefficient_of_variation_per_layer() -> None:
    model, (x, y) = _model(RELU), _batch()
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    grads: list[list[np.ndarray]] = [[] for _ in layers]
    model.train()
    for xb, yb in ((x[:4], y[:4]), (x[4:], y[4:])):
        model.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        for store, m in zip(grads, layers):
            store.append(m.weight.grad.double().flatten().numpy())
    expect = 0.0
    for store in grads:
        g = np.array(store)
        std, keep = g.std(axis=0), g.std(axis=0) > 0
        expect += math.log((np.abs(g).mean(axis=0)[keep] / std[keep]).sum())
    assert zico(_model(RELU), x, y) == pytest.approx(expect, rel=1e-6)


def test_zico_needs_at_least_two_mini_batches() -> None:
    x, y = _batch(3)
    with pytest.raises(UserInputError, match="zico.*at least 4 inputs, got 3"):
        zico(_model(), x, y)
    with pytest.raises(UserInputError, match="zico needs at least 2 mini-batches"):
        zico(_model(), *_batch(), batches=1)


def test_zico_skips_gradients_that_do_not_vary() -> None:
    x, y = _batch(4)
    twice = torch.cat([x, x]), torch.cat([y, y])  # identical mini-batches: every std is 0, every layer skipped
    assert zico(_model(RELU), *twice) == 0.0


def _synthetic(ctx: RunContext, n: int, resolution: int, channels: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    return (*_batch(n, channels, resolution, seed=ctx.seed), 10)


@pytest.fixture()
def synthetic_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zc_eval, "real_batch", _synthetic)


def test_registered_under_its_name() -> None:
    assert isinstance(get("zero-cost"), ZeroCostEvaluator)


@pytest.mark.usefixtures("synthetic_data")
def test_evaluator_reports_each_requested_proxy_in_extra_not_accuracy() -> None:
    ctx = RunContext(budget={"zero_cost": "synflow, naswot,zico", "zero_cost_batch": 8})
    metrics = evaluate(TINY, [ZeroCostEvaluator()], ctx)
    assert not metrics.failed, metrics.reason
    assert set(metrics.extra) == {"zc_synflow", "zc_naswot", "zc_zico"}
    assert all(math.isfinite(v) for v in metrics.extra.values()) and metrics.accuracy is None
    assert evaluate(TINY, [ZeroCostEvaluator()], ctx).extra == metrics.extra  # deterministic for a seed


@pytest.mark.usefixtures("synthetic_data")
def test_evaluator_runs_every_proxy_by_default() -> None:
    metrics = evaluate(TINY, [ZeroCostEvaluator()], RunContext(budget={"zero_cost_batch": 8}))
    assert sorted(metrics.extra) == [f"zc_{n}" for n in PROXIES.names()] and not metrics.reason


@pytest.mark.usefixtures("synthetic_data")
def test_evaluator_runs_only_the_proxies_the_run_reads_unless_told() -> None:
    reads_naswot = frozenset({"zc_naswot", "macs"})
    metrics = evaluate(TINY, [ZeroCostEvaluator()], RunContext(budget={"zero_cost_batch": 8}, needs=reads_naswot))
    assert sorted(metrics.extra) == ["zc_naswot"] and not metrics.reason
    named = RunContext(budget={"zero_cost_batch": 8, "zero_cost": "snip"}, needs=reads_naswot)
    assert sorted(evaluate(TINY, [ZeroCostEvaluator()], named).extra) == ["zc_snip"]  # the knob wins
    no_proxy_read = RunContext(budget={"zero_cost_batch": 8}, needs=frozenset({"accuracy"}))
    assert len(evaluate(TINY, [ZeroCostEvaluator()], no_proxy_read).extra) == len(PROXIES.names())


@pytest.mark.parametrize(("budget", "size"), [
    ({}, 28),  # the train evaluator's resolution setting, by default
    ({"resolution": 20}, 20),  # ... whatever the run sets it to
    ({"resolution": 20, "zero_cost_resolution": 24}, 24),
    ({"zero_cost_resolution": "genome"}, 224),
])
def test_proxies_see_the_train_resolution_unless_told(monkeypatch: pytest.MonkeyPatch, budget: dict,
                                                       size: int) -> None:
    seen: list[int] = []
    monkeypatch.setattr(zc_eval, "real_batch", lambda ctx, n, r, c: seen.append(r) or (*_batch(n, c, r), 10))
    genome = dataclasses.replace(TINY, resolution=224)
    metrics = evaluate(genome, [ZeroCostEvaluator()], RunContext(budget={**budget, "zero_cost": "naswot",
                                                                          "zero_cost_batch": 4}))
    assert not metrics.failed, metrics.reason
    assert seen == [size]


@pytest.mark.usefixtures("synthetic_data")
def test_proxies_score_on_one_thread_unless_told_to_use_the_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setitem(PROXIES._entries, "naswot", lambda *args: seen.append(torch.get_num_threads()) or 1.0)
    torch.set_num_threads(2)
    budget = {"zero_cost": "naswot", "zero_cost_batch": 4}
    evaluate(TINY, [ZeroCostEvaluator()], RunContext(budget=budget, threads=2))
    evaluate(TINY, [ZeroCostEvaluator()], RunContext(budget={**budget, "zero_cost_threads": 0}, threads=2))
    evaluate(TINY, [ZeroCostEvaluator()], RunContext(budget={**budget, "zero_cost_threads": 3}, threads=2))
    assert seen == [1, 2, 3] and torch.get_num_threads() == 2


def test_the_resolution_knob_is_trains_own_declaration() -> None:
    from nas import settings
    from nas.evaluators.train import TrainSettings

    (shared,) = [k for k in settings.knobs(ZeroCostSettings) if k.name == "resolution"]
    assert shared == next(k for k in settings.knobs(TrainSettings) if k.name == "resolution")
    zero_cost_only = [settings.Owner("evaluator", "zero-cost", ZeroCostSettings)]
    settings.check({"resolution": "32", "zero_cost_resolution": "genome"}, zero_cost_only)  # both accepted
    with pytest.raises(UserInputError, match="zero_cost_resolution"):
        settings.check({"zero_cost_resolution": "native"}, zero_cost_only)


def test_the_real_batch_is_read_once_per_process() -> None:
    zc_eval._cached_batch.cache_clear()
    ctx = RunContext(seed=4)
    first = zc_eval.real_batch(ctx, 6, 12, 1)
    again = zc_eval.real_batch(RunContext(seed=4, budget={"epochs": 3}), 6, 12, 1)
    assert all(a is b for a, b in zip(first, again))
    other = zc_eval.real_batch(RunContext(seed=5), 6, 12, 1)
    assert first[0].shape == (6, 1, 12, 12) and not torch.equal(first[0], other[0])
    zc_eval._cached_batch.cache_clear()


def test_evaluator_builds_for_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Network] = []
    monkeypatch.setattr(zc_eval, "real_batch", lambda ctx, n, r, c: (*_batch(n, 3, r), 7))
    monkeypatch.setattr(zc_eval, "build", lambda g: built.append(g) or ss.build(g))
    genome = dataclasses.replace(TINY, num_classes=1000, in_channels=3, resolution=224)
    metrics = evaluate(genome, [ZeroCostEvaluator()],
                       RunContext(budget={"zero_cost": "snip", "zero_cost_batch": 4, "zero_cost_resolution": 20}))
    assert not metrics.failed, metrics.reason
    assert (built[0].num_classes, built[0].in_channels, built[0].resolution) == (7, 3, 20)


def test_unknown_proxy_name_is_a_user_error_naming_it() -> None:
    with pytest.raises(UserInputError, match="'synflw'.*did you mean 'synflow'"):
        proxy_names("naswot,synflw")
    metrics = evaluate(TINY, [ZeroCostEvaluator()], RunContext(budget={"zero_cost": "bogus"}))
    assert metrics.failed and "bogus" in metrics.reason


@pytest.mark.usefixtures("synthetic_data")
def test_a_non_finite_proxy_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROXIES._entries, "synflow", lambda *args: math.inf)
    ctx = RunContext(budget={"zero_cost": "synflow,snip", "zero_cost_batch": 4})
    metrics = evaluate(TINY, [ZeroCostEvaluator()], ctx)
    assert not metrics.failed and "synflow" in metrics.reason and "not finite" in metrics.reason
    assert math.isnan(metrics.extra["zc_synflow"]) and math.isfinite(metrics.extra["zc_snip"])
    both_fail = evaluate(TINY, [ZeroCostEvaluator()], RunContext(budget={"zero_cost": "synflow,zico",
                                                                         "zero_cost_batch": 3}))
    assert both_fail.failed and "zero-cost zico" in both_fail.reason and "zero-cost synflow" in both_fail.reason


@pytest.mark.slow
def test_every_proxy_is_finite_on_real_fashion_mnist() -> None:
    data = pytest.importorskip("nas.data")
    if not hasattr(data, "fixed_batch"):
        pytest.skip("nas.data has no fixed_batch yet")
    ctx = RunContext(seed=1, budget={"zero_cost_resolution": 32})
    x, y = data.fixed_batch(ctx, 64, 32, 1)
    assert x.shape == (64, 1, 32, 32) and len(y.unique()) > 1
    metrics = evaluate(dataclasses.replace(TINY, resolution=32), [ZeroCostEvaluator()], ctx)
    assert not metrics.failed and not metrics.reason, metrics.reason
    assert sorted(metrics.extra) == [f"zc_{n}" for n in PROXIES.names()]
    assert all(math.isfinite(v) for v in metrics.extra.values())


@pytest.mark.slow
def test_synflow_stays_finite_where_float32_would_overflow() -> None:
    # EfficientNet-B4 at 380 px: the all-ones flow through |weights| exceeds float32's range (~3e38).
    score = synflow(_model(dataclasses.replace(ss.zoo.get("efficientnet_b4"), num_classes=10)),
                    torch.zeros(2, 3, 380, 380), torch.zeros(2, dtype=torch.long))
    assert math.isfinite(score) and score > 3.4e38
