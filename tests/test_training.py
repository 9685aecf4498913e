"""The training loop and the ``train`` evaluator: schedules, reporting, failures, real data."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import search_spaces as ss
from nas.evaluators import Metrics, Pruned, RunContext, evaluate, get
from nas.training.loop import FINITE_CHECK_EVERY, TrainConfig, lr_at, train
from search_spaces.errors import UserInputError

TINY = dataclasses.replace(ss.zoo.get("mobilenet_v3_small"), resolution=16, num_classes=10)


def _batches(n: int = 4, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, 16, 16, generator=gen), torch.randint(0, 10, (8,), generator=gen)) for _ in range(n)]


def test_cosine_schedule_warms_up_then_decays_to_zero() -> None:
    config = TrainConfig(lr=0.1, warmup_steps=10)
    assert lr_at(0, 100, config) == pytest.approx(0.01)
    assert lr_at(9, 100, config) == pytest.approx(0.1)
    assert lr_at(10, 100, config) == pytest.approx(0.1)
    assert lr_at(55, 100, config) == pytest.approx(0.05)
    assert lr_at(100, 100, config) == pytest.approx(0.0, abs=1e-12)


def test_training_reports_each_evaluation_and_is_deterministic() -> None:
    seen: list[tuple[int, float]] = []
    def run(report=None) -> float:
        torch.manual_seed(0)
        model = ss.build(TINY)
        return train(model, _batches(), _batches(2, 1), TrainConfig(steps=6, evals=3), report=report).accuracy
    first = run(lambda step, acc: seen.append((step, acc)))
    assert [s for s, _ in seen] == [2, 4, 6]
    assert run() == first


def test_a_pruner_stops_training_by_raising() -> None:
    def prune(step: int, acc: float) -> None:
        raise Pruned(f"step {step}")
    with pytest.raises(Pruned):
        train(ss.build(TINY), _batches(), _batches(1), TrainConfig(steps=4, evals=2), report=prune)


def test_a_diverging_loss_is_an_error() -> None:
    batches = [(torch.full((8, 3, 16, 16), math.nan), torch.zeros(8, dtype=torch.long))]
    with pytest.raises(FloatingPointError, match="by step 2"):
        train(ss.build(TINY), batches, batches, TrainConfig(steps=2))


def test_a_long_run_stops_within_a_check_interval_of_a_nan() -> None:
    """The host reads the loss every FINITE_CHECK_EVERY steps (not every step, which would make a GPU wait)."""
    batches = [(torch.full((8, 3, 16, 16), math.nan), torch.zeros(8, dtype=torch.long))]
    with pytest.raises(FloatingPointError, match=f"by step {FINITE_CHECK_EVERY}$"):
        train(ss.build(TINY), batches, batches, TrainConfig(steps=10 * FINITE_CHECK_EVERY))


def test_the_reported_loss_is_the_mean_of_the_steps_losses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Summed on the device in float64, the mean is what reading each step's loss would give."""
    losses: list[float] = []
    original = torch.nn.CrossEntropyLoss.forward

    def spy(self: torch.nn.CrossEntropyLoss, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = original(self, logits, target)
        losses.append(loss.item())
        return loss

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", spy)
    result = train(ss.build(TINY), _batches(), _batches(1), TrainConfig(steps=5, bn_batches=0))
    assert len(losses) == 5
    assert result.train_loss == sum(losses) / len(losses)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adamw"])
def test_every_optimizer_trains(optimizer: str) -> None:
    model = ss.build(TINY)
    before = [p.detach().clone() for p in model.parameters()]
    train(model, _batches(), _batches(1), TrainConfig(steps=2, optimizer=optimizer, lr=0.01))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


def test_bad_schedules_are_named() -> None:
    with pytest.raises(UserInputError, match="optimizer"):
        TrainConfig(optimizer="adamm")
    with pytest.raises(UserInputError, match="lr"):
        TrainConfig(lr=0)


def test_failures_become_metrics_not_crashes() -> None:
    ctx = RunContext(budget={"steps": 1, "lr": float("nan"), "subset": 64, "val_size": 32, "batch_size": 16,
                             "resolution": 16})
    metrics = evaluate(TINY, [get("train"), get("cost")], ctx)
    assert metrics.failed and metrics.reason.startswith("train: setting 'lr' must be a number > 0")
    assert metrics.params is not None  # the evaluators after the failing one still ran


def test_pruning_passes_through_evaluate() -> None:
    def prune(step: int, acc: float) -> None:
        raise Pruned("stop")
    ctx = RunContext(budget={"steps": 2, "subset": 64, "val_size": 32, "batch_size": 16, "resolution": 16},
                     report=prune)
    with pytest.raises(Pruned):
        evaluate(TINY, [get("train")], ctx)


def test_metrics_merge_and_serialise() -> None:
    merged = Metrics(accuracy=0.5, wall_s=1.0).merge(Metrics(latency_ms=2.0, failed=True, reason="x", wall_s=2.0))
    assert (merged.accuracy, merged.latency_ms, merged.failed, merged.wall_s) == (0.5, 2.0, True, 3.0)
    assert Metrics(accuracy=math.nan).to_dict()["accuracy"] is None


def test_proxy_training_on_real_fashion_mnist_learns() -> None:
    """Integration: a few dozen SGD steps on real Fashion-MNIST beat chance (10%) clearly."""
    ctx = RunContext(seed=0, budget={"steps": 60, "subset": 3840, "val_size": 1000, "batch_size": 64,
                                     "resolution": 16, "lr": 0.1, "evals": 2})
    genome = dataclasses.replace(ss.zoo.get("mobilenet_v2"), drop_path=0.0)
    metrics = evaluate(genome, [get("train")], ctx)
    assert not metrics.failed, metrics.reason
    assert metrics.accuracy > 0.4
    assert metrics.extra["train_steps"] == 60


def test_bn_recalibration_sets_exact_averages_and_keeps_momentum() -> None:
    from nas.training.loop import recalibrate_bn

    bn = torch.nn.BatchNorm2d(3, momentum=0.01)
    batches = [(torch.randn(4, 3, 2, 2) + i, None) for i in range(3)]
    recalibrate_bn(torch.nn.Sequential(bn), batches, n=2)
    expected = torch.stack([x.mean((0, 2, 3)) for x, _ in batches[:2]]).mean(0)
    assert torch.allclose(bn.running_mean, expected, atol=1e-6)
    assert bn.momentum == 0.01 and int(bn.num_batches_tracked) == 2


def test_bn_recalibration_sees_the_network_as_evaluated_without_dropout() -> None:
    from nas.training.loop import recalibrate_bn

    model = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.BatchNorm2d(3))
    batches = [(torch.randn(4, 3, 2, 2) + 1, None)]
    recalibrate_bn(model, batches, n=1)
    assert torch.allclose(model[1].running_mean, batches[0][0].mean((0, 2, 3)), atol=1e-6)
    assert not model[0].training


def test_optuna_median_pruner_stops_a_poor_trial() -> None:
    optuna = pytest.importorskip("optuna")
    from nas.evaluators import optuna_context

    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    study.enqueue_trial({})
    for value in (0.9, 0.1):  # a good finished trial, then one reporting far below it
        trial = study.ask()
        ctx = optuna_context(trial)
        if value > 0.5:
            ctx.report(1, value)
            study.tell(trial, value)
        else:
            with pytest.raises(optuna.TrialPruned):
                ctx.report(1, value)
    assert ctx.propagate and optuna.TrialPruned in ctx.propagate


def test_progressive_stages_change_size_dropout_and_augmentation(tmp_path) -> None:
    """EfficientNetV2 sec. 4: each quarter of the steps trains with its stage's image size and regularisation."""
    from types import SimpleNamespace

    from nas.data import DataConfig, loaders

    stages = [SimpleNamespace(image_size=s, dropout=d, randaugment_magnitude=m, mixup_alpha=a)
              for s, d, m, a in ((12, 0.1, 0, 0.0), (16, 0.2, 5, 0.0), (20, 0.3, 10, 0.2))]
    train_batches, val_batches, _ = loaders(DataConfig(resolution=12, batch_size=16, subset=64, val_size=32))
    sizes: list[int] = []
    model = ss.build(dataclasses.replace(TINY, head=dataclasses.replace(TINY.head, dropout=0.05)))
    model.register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[-1]) if mod.training else None)
    train(model, train_batches, val_batches, TrainConfig(steps=9, bn_batches=0), stages=stages, num_classes=10)
    assert sizes == [12, 12, 12, 16, 16, 16, 20, 20, 20]
    assert all(m.p == 0.3 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert train_batches.augment is not None and train_batches.resolution == 20


def test_progressive_preset_through_the_train_evaluator() -> None:
    ctx = RunContext(budget={"steps": 4, "subset": 64, "val_size": 32, "batch_size": 16, "resolution": 16,
                             "progressive": "efficientnetv2_m", "eval_resolution": "fixres", "bn_batches": 1})
    metrics = evaluate(TINY, [get("train")], ctx)
    assert not metrics.failed, metrics.reason
    bad = evaluate(TINY, [get("train")], RunContext(budget={**ctx.budget, "progressive": "efficientnetv2_xl"}))
    assert bad.failed and "efficientnetv2_xl" in bad.reason


def test_evaluate_restores_the_callers_thread_count() -> None:
    before = torch.get_num_threads()
    evaluate(TINY, [get("cost")], RunContext(threads=1 if before != 1 else 2))
    assert torch.get_num_threads() == before



def test_zero_init_residuals_makes_every_residual_block_start_as_the_identity() -> None:
    from nas.training.init import zero_init_residuals
    from search_spaces.layers.plan import PlanModule

    torch.manual_seed(0)
    model = ss.build(dataclasses.replace(ss.zoo.get("efficientnet_b0"), resolution=32)).eval()
    blocks = [m for m in model.modules() if isinstance(m, PlanModule) and m.residual]
    assert zero_init_residuals(model) == len(blocks) > 0
    passed: list[bool] = []
    for block in blocks:
        block.register_forward_hook(lambda m, inp, out: passed.append(torch.equal(inp[0], out)))
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert len(passed) == len(blocks) and all(passed)  # each residual block passed its input through unchanged
