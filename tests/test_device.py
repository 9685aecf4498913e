"""Every CUDA path, on a GPU: the proxy loop (AMP, channels_last, no per-step sync), latency, the training
step, a search whose workers share one GPU, the supernet and ``nas.train``.

Each test carries the ``device`` marker and is skipped where torch sees no CUDA GPU (CI has none); run
them on a GPU machine with ``python -m pytest -m device``. Their CPU twins are in the other files.
"""

from __future__ import annotations

import dataclasses
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import search_spaces as ss
from nas.evaluators import RunContext, evaluate, get
from nas.supernet import Coverage
from nas.training.loop import TrainConfig, autocast_dtype, train

pytestmark = pytest.mark.device

ROOT = Path(__file__).resolve().parents[1]
TINY = dataclasses.replace(ss.zoo.get("mobilenet_v3_small"), resolution=16, num_classes=10)
#: A proxy of a few steps on real Fashion-MNIST images.
PROXY = {"steps": 4, "subset": 256, "val_size": 64, "batch_size": 32, "resolution": 16}


def _batches(n: int, device: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 3, 16, 16, generator=gen).to(device), torch.randint(0, 10, (8,), generator=gen).to(device))
            for _ in range(n)]


def test_the_proxy_loop_trains_on_the_gpu_in_bf16_and_channels_last() -> None:
    device = torch.device("cuda")
    assert autocast_dtype(device) == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    model = ss.build(TINY)
    result = train(model, _batches(20, "cuda"), _batches(2, "cuda"), TrainConfig(steps=20, evals=2), "cuda")
    assert 0.0 <= result.accuracy <= 1.0 and math.isfinite(result.train_loss)  # read at the validations
    assert result.steps == 20 and result.images_per_s > 0
    weight = next(p for p in model.parameters() if p.dim() == 4)
    assert weight.is_cuda and weight.is_contiguous(memory_format=torch.channels_last)


def test_the_train_evaluator_on_the_gpu_keeps_the_data_there() -> None:
    metrics = evaluate(TINY, [get("train")], RunContext(device="cuda", budget=PROXY))
    assert not metrics.failed, metrics.reason
    assert 0.0 <= metrics.accuracy <= 1.0 and metrics.extra["train_steps"] == 4


def test_cpu_and_gpu_proxies_of_one_genome_agree_roughly() -> None:
    """Same seed, data and schedule: the accuracies differ by bf16 rounding only, not by a bug's margin."""
    budget = {**PROXY, "steps": 30, "subset": 960, "val_size": 500, "lr": 0.05}
    cpu = evaluate(TINY, [get("train")], RunContext(device="cpu", budget=budget)).accuracy
    gpu = evaluate(TINY, [get("train")], RunContext(device="cuda", budget=budget)).accuracy
    assert abs(cpu - gpu) < 0.1


def test_latency_and_the_training_step_are_measured_on_the_gpu() -> None:
    genome = dataclasses.replace(ss.zoo.get("efficientnet_b0"), resolution=32, num_classes=10)
    budget = {"latency_warmup": 1, "latency_repeats": 3, "latency_steady_allocator": False,
              "step_batch": 2, "step_warmup": 1, "step_repeats": 2}
    metrics = evaluate(genome, [get("latency"), get("train-step")], RunContext(device="cuda", budget=budget))
    assert not metrics.failed, metrics.reason
    assert metrics.latency_ms > 0 and metrics.train_step_ms > 0


def test_a_search_with_two_workers_shares_one_gpu(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator", "train",
           "--reward", "flops", "--trials", "6", "--workers", "2", "--device", "cuda", "--out", str(tmp_path),
           "--quiet", "--no-plots", *[f"--set={k}={v}" for k, v in PROXY.items()]]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "found.yaml").is_file()


def test_auto_workers_on_a_gpu_start_several(tmp_path: Path) -> None:
    from nas.search.workers import auto_workers

    workers = auto_workers(torch.device("cuda"))
    cmd = [sys.executable, "-m", "nas.search", "--space", "mbconv", "--budget", "400M", "--evaluator", "synthetic",
           "--reward", "flops", "--trials", "4", "--device", "cuda", "--out", str(tmp_path), "--quiet", "--no-plots"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert workers == 1 or f"{workers} workers share" in done.stderr


def test_the_supernet_scores_on_the_gpu(tiny_supernet: Path) -> None:
    ctx = RunContext(device="cuda", budget={"supernet": str(tiny_supernet), "supernet_calibration": 16},
                     space="mbconv")
    evaluator = get("supernet")
    evaluator.check(ctx)
    metrics = evaluate(Coverage().sample(random.Random(0)), [evaluator], ctx)
    assert not metrics.failed, metrics.reason
    assert 0.0 <= metrics.accuracy <= 1.0


def test_nas_train_trains_checkpoints_and_evaluates_on_the_gpu(tmp_path: Path) -> None:
    from nas.evaluate import main as evaluate_main
    from nas.train import main as train_main

    tiny = ["--resolution", "16", "--subset", "128", "--val-size", "64", "--batch-size", "32", "--quiet",
            "--checkpoint-minutes", "0"]
    assert train_main(["mobilenet_v3_small", "--recipe", "efficientnet", "--epochs", "2", "--device", "cuda",
                       "--out", str(tmp_path), *tiny]) == 0
    assert (tmp_path / "last.safetensors").is_file()
    assert evaluate_main([str(tmp_path / "last.safetensors"), "--evaluator", "cost", "--json"]) == 0
