"""The ``train-step`` evaluator: measured training step time and its ratio to a reference (EfficientNetV2's S)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch

import search_spaces as ss
from nas.evaluators import RunContext, evaluate, get, train_step
from nas.evaluators.train_step import StepConfig, TrainStepEvaluator, clear_reference_cache, measure_train_step

TINY = dataclasses.replace(ss.zoo.get("efficientnet_b0"), resolution=32, num_classes=10)
BUDGET = {"step_batch": 2, "step_warmup": 1, "step_repeats": 2}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_reference_cache()
    yield
    clear_reference_cache()


def test_registered_under_its_name() -> None:
    assert isinstance(get("train-step"), TrainStepEvaluator)


def test_reports_a_positive_step_time_and_a_ratio() -> None:
    metrics = evaluate(TINY, [get("train-step")], RunContext(budget=BUDGET))
    assert not metrics.failed, metrics.reason
    assert metrics.train_step_ms > 0
    assert metrics.extra["train_step_ratio"] > 0 and metrics.extra["train_step_iqr_ms"] >= 0
    assert metrics.extra["train_step_ratio"] == pytest.approx(
        metrics.train_step_ms / metrics.extra["train_step_reference_ms"])


def test_reference_is_measured_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    timed: list[str] = []
    real = train_step.time_train_steps

    def counting(genome, config, device, seed):  # noqa: ANN001, ANN202  (spy with the same signature)
        timed.append(genome.name)
        return real(genome, config, device, seed)

    monkeypatch.setattr(train_step, "time_train_steps", counting)
    candidate = dataclasses.replace(ss.zoo.get("mobilenet_v3_small"), resolution=32, num_classes=10)
    first = evaluate(candidate, [get("train-step")], RunContext(budget=BUDGET))
    second = evaluate(candidate, [get("train-step")], RunContext(budget=BUDGET))
    assert timed == ["mobilenet_v3_small", "efficientnet_b0", "mobilenet_v3_small"]
    assert first.extra["train_step_reference_cached"] == 0.0 and second.extra["train_step_reference_cached"] == 1.0
    assert first.extra["train_step_reference_ms"] == second.extra["train_step_reference_ms"]
    evaluate(candidate, [get("train-step")], RunContext(budget={**BUDGET, "step_resolution": 40}))
    assert timed[-2:] == ["mobilenet_v3_small", "efficientnet_b0"]  # another resolution is another reference


def test_bad_reference_name_fails_cleanly_naming_it() -> None:
    metrics = evaluate(TINY, [get("train-step")], RunContext(budget={**BUDGET, "step_reference": "efficientnet_b99"}))
    assert metrics.failed and metrics.train_step_ms is None
    assert "efficientnet_b99" in metrics.reason and "step_reference" in metrics.reason


@pytest.mark.parametrize(("key", "value"), [("step_batch", 1), ("step_repeats", 0), ("step_resolution", "big"),
                                            ("amp", "maybe")])
def test_bad_budget_values_name_the_key(key: str, value: object) -> None:
    metrics = evaluate(TINY, [get("train-step")], RunContext(budget={**BUDGET, key: value}))
    assert metrics.failed and key in metrics.reason


def test_thread_count_is_restored() -> None:
    torch.set_num_threads(2)  # measure with fewer threads than set (more would oversubscribe a small CI machine)
    TrainStepEvaluator()(TINY, RunContext(budget=BUDGET, threads=1))
    assert torch.get_num_threads() == 2


def test_measuring_leaves_no_gradients() -> None:
    model = ss.build(TINY)
    times = measure_train_step(model, StepConfig(batch=2, resolution=32, warmup=0, repeats=2), torch.device("cpu"),
                               in_channels=3, num_classes=10)
    assert len(times) == 2 and all(t > 0 for t in times)
    assert model.training and all(p.grad is None for p in model.parameters())
