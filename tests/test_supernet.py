"""The weight-sharing supernet: exact export, shared gradients, coverage, training resume, the evaluator."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas.evaluators import RunContext, evaluate, get
from nas.supernet import Coverage, Supernet, SupernetConfig
from nas.supernet.space import ELASTIC
from nas.supernet.train import CHECKPOINT, WEIGHTS, TrainSettings, load_supernet, phase_at, train_supernet
from search_spaces import build, cost, zoo
from search_spaces.errors import UserInputError
from search_spaces.spaces.mbconv import OPS
from tests.conftest import TINY_SUPERNET

SMALL = SupernetConfig(resolution=16, ops=tuple(OPS))


@pytest.fixture(scope="module")
def supernet() -> Supernet:
    """A supernet with every weight, kernel transform and BN statistic randomised (slicing errors show)."""
    torch.manual_seed(0)
    net = Supernet(SMALL)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.add_(torch.randn_like(p) * (0.05 if name.startswith("transforms.") else 0.02))
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
    return net.eval()


def test_export_equals_supernet_on_100_random_configurations(supernet: Supernet) -> None:
    rng = random.Random(1)
    x = torch.randn(2, 3, 16, 16)
    worst = 0.0
    for _ in range(100):
        genome = supernet.coverage.sample(rng)
        proxy, state = supernet.subnet(genome)
        model = build(proxy).eval()
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            worst = max(worst, (supernet.run(x, genome) - model(x)).abs().max().item())
        params = sum(t.numel() for name, t in state.items() if name in dict(model.named_parameters()))
        assert params == cost(proxy).params  # the exported network's cost is the genome's
    assert worst <= 1e-5


def test_named_points_export_exactly(supernet: Supernet) -> None:
    x = torch.randn(2, 3, 16, 16)
    for genome in (supernet.largest(), supernet.smallest(), zoo.get("efficientnet_b0")):
        proxy, state = supernet.subnet(genome)
        model = build(proxy).eval()
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            assert torch.allclose(supernet.run(x, genome), model(x), atol=1e-5)


def test_a_configuration_trains_only_its_slice_of_the_shared_weights() -> None:
    torch.manual_seed(0)
    net = Supernet(SupernetConfig(resolution=16, ops=("mbconv3", "mbconv6"))).train()
    genome = net.proxy(net.coverage.space.decode(net.coverage.params(
        {"op": "mbconv3", "kernel": 3, "se": 0.25, "skip": "identity", "filters": 0.75, "layers": -1})))
    net.run(torch.randn(4, 3, 16, 16), genome).sum().backward()
    dw = net.paths["mbconv"].stages[1][0].dw.conv.weight  # stage 1, block 0: 5x5 depthwise over 6x the input
    mid = genome.stages[0].channels * 3  # expansion 3 over the stage's input (stage 0's width)
    assert dw.grad[:mid].abs().sum() > 0
    assert dw.grad[mid:].abs().sum() == 0  # channels beyond expansion 3: untouched
    assert net.paths["mbconv"].stages[1][2].dw.conv.weight.grad is None  # a block beyond the depth: unused
    transform = net.transforms["mbconv__stages__1__0__dw__conv__weight"]
    assert transform.grad is not None and transform.grad.abs().sum() > 0  # kernel 3 goes through OFA's transform


def test_reordering_middle_channels_keeps_the_largest_network_and_sorts_importance() -> None:
    torch.manual_seed(0)
    net = Supernet(SupernetConfig(resolution=16, ops=("mbconv6",))).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = torch.randn(2, 3, 16, 16)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net.run(x, net.largest()).sum().backward()
    optimizer.step()
    with torch.no_grad():
        before = net.run(x, net.largest())
    project = net.paths["mbconv"].stages[2][0].project.conv.weight
    momentum = optimizer.state[project]["momentum_buffer"].clone()
    importance = project.abs().sum(dim=(0, 2, 3))
    net.reorder_channels(optimizer)
    with torch.no_grad():
        after = net.run(x, net.largest())
    assert torch.allclose(before, after, atol=1e-5)
    sorted_importance = project.abs().sum(dim=(0, 2, 3))
    assert torch.all(sorted_importance[:-1] >= sorted_importance[1:])
    assert torch.equal(torch.sort(importance, descending=True).values, sorted_importance)
    order = importance.argsort(descending=True, stable=True)
    assert torch.equal(optimizer.state[project]["momentum_buffer"], momentum[:, order])


# -- coverage ---------------------------------------------------------------------------------------------------

def _stage(genome, i, **change):  # noqa: ANN001, ANN202 - a test helper
    stages = list(genome.stages)
    stages[i] = dataclasses.replace(stages[i], **change)
    return dataclasses.replace(genome, stages=tuple(stages))


@pytest.mark.parametrize(("ops", "make", "words"), [
    (("mbconv3", "mbconv6"), lambda c: zoo.get("efficientnet_b0"), ["stage 0", "'ds'", "mbconv3, mbconv6"]),
    (None, lambda c: zoo.get("resnet50"), ["stages"]),
    (None, lambda c: _stage(c.largest(), 3, channels=20), ["stage 3", "20 channels"]),
    (None, lambda c: _stage(c.largest(), 2, depth=7), ["stage 2", "depth 7"]),
    (None, lambda c: _stage(c.largest(), 4, kernel=7), ["stage 4", "kernel 7"]),
    (None, lambda c: _stage(c.largest(), 5, expand=4.0), ["stage 5", "expand 4"]),
    (None, lambda c: _stage(c.largest(), 1, stride=1), ["stage 1", "stride"]),
    (None, lambda c: dataclasses.replace(c.largest(), act="relu"), ["act", "relu"]),
    (None, lambda c: dataclasses.replace(c.largest(), width_mult=1.1), ["width_mult"]),
])
def test_a_genome_outside_the_coverage_is_refused_in_one_sentence(ops, make, words) -> None:  # noqa: ANN001
    coverage = Coverage(ops)
    with pytest.raises(UserInputError) as err:
        coverage.check(make(coverage))
    text = str(err.value)
    assert "\n" not in text
    for word in words:
        assert word in text


def test_every_point_of_the_space_is_covered_and_encodes_back() -> None:
    coverage = Coverage()
    rng = random.Random(0)
    for _ in range(200):
        genome = coverage.space.sample(rng)
        assert coverage.space.decode(coverage.encode(genome)).stages == genome.stages
    assert coverage.space.decode(coverage.encode(zoo.get("efficientnet_b0"))).stages == \
        zoo.get("efficientnet_b0").stages


def test_unknown_ops_are_refused() -> None:
    with pytest.raises(UserInputError, match="supernet ops must be"):
        Coverage(("mbconv9",))


def test_sampling_keeps_fixed_dimensions_at_the_largest_and_honours_a_macs_band() -> None:
    coverage = Coverage()
    rng = random.Random(0)
    largest = coverage.largest()
    kernels: set[int] = set()
    for _ in range(20):
        genome = coverage.sample(rng, elastic=("kernel",))
        assert all((s.depth, s.channels, s.block, s.se) == (b.depth, b.channels, b.block, b.se)
                   for s, b in zip(genome.stages, largest.stages))
        kernels.update(s.kernel for s in genome.stages)
    assert kernels == {3, 5}  # the elastic dimension does vary
    for _ in range(20):
        assert 300e6 <= cost(coverage.sample(rng, macs=(300e6, 500e6))).macs <= 500e6
    assert cost(coverage.smallest()).macs < cost(coverage.largest()).macs
    with pytest.raises(UserInputError, match="no supernet configuration"):
        coverage.sample(rng, macs=(1.0, 2.0), tries=5)


def test_progressive_shrinking_opens_kernel_then_depth_then_the_rest() -> None:
    phases = [phase_at(step, 8, "progressive") for step in range(8)]
    assert phases == [(), (), ("kernel",), ("kernel",), ("kernel", "layers"), ("kernel", "layers"),
                      tuple(ELASTIC), tuple(ELASTIC)]
    assert all(phase_at(step, 8, "sandwich") == tuple(ELASTIC) for step in range(8))


# -- training ---------------------------------------------------------------------------------------------------

def _settings(**change) -> TrainSettings:  # noqa: ANN003
    return dataclasses.replace(TINY_SUPERNET, **change)


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(directory / WEIGHTS))


@pytest.fixture(scope="module")
def trained(tiny_supernet: Path) -> Path:
    """An uninterrupted tiny run (8 steps)."""
    return tiny_supernet


def test_a_diverging_supernet_stops_before_it_saves_nan_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss is read every few steps (not every step), but always before a validation or a checkpoint."""
    from torch.nn import functional as F

    monkeypatch.setattr(F, "cross_entropy", lambda logits, *a, **k: logits.float().sum() * float("nan"))
    with pytest.raises(FloatingPointError, match="by step 4; lower --lr"):  # 4 steps an epoch: the first epoch end
        train_supernet(_settings(), tmp_path, progress=False, log=lambda _: None)
    assert not (tmp_path / CHECKPOINT).exists() and not (tmp_path / WEIGHTS).exists()


@pytest.mark.parametrize("stop", [3, 4])
def test_a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(trained: Path, tmp_path: Path,
                                                                          stop: int) -> None:
    assert not train_supernet(_settings(), tmp_path, stop_after=stop, progress=False, log=lambda _: None)["finished"]
    assert (tmp_path / CHECKPOINT).is_file() and not (tmp_path / WEIGHTS).exists()
    train_supernet(_settings(), tmp_path, resume=True, progress=False, log=lambda _: None)
    whole, resumed = _weights(trained), _weights(tmp_path)
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_progressive_resume_across_the_channel_reordering_replays_it(tmp_path: Path) -> None:
    settings = _settings(schedule="progressive")
    whole = tmp_path / "whole"
    train_supernet(settings, whole, progress=False, log=lambda _: None)
    part = tmp_path / "part"
    train_supernet(settings, part, stop_after=6, progress=False, log=lambda _: None)  # step 6 reorders
    train_supernet(settings, part, resume=True, progress=False, log=lambda _: None)
    a, b = _weights(whole), _weights(part)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_are_never_overwritten_or_resumed_with_other_settings(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="already holds a supernet checkpoint"):
        train_supernet(_settings(), trained, progress=False)
    with pytest.raises(UserInputError, match=r"other settings \(lr\)"):
        train_supernet(_settings(lr=0.05), trained, resume=True, progress=False)
    with pytest.raises(UserInputError, match="holds no checkpoint"):
        train_supernet(_settings(), tmp_path, resume=True, progress=False)
    with pytest.raises(UserInputError, match="holds no trained supernet"):
        load_supernet(tmp_path)


def test_the_trained_supernet_loads_with_its_configuration(trained: Path) -> None:
    net = load_supernet(trained)
    assert net.config.ops == ("conv", "ds", "mbconv3", "mbconv6") and net.config.num_classes == 10
    assert len(net.meta["history"]) == 2  # validated at both epoch ends


def test_weights_that_do_not_fit_the_configuration_name_the_keys(trained: Path, tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    copy = shutil.copytree(trained, tmp_path / "copy")
    tensors = load_file(copy / WEIGHTS)
    first = next(iter(tensors))
    tensors[first] = torch.zeros(1)
    save_file(tensors, str(copy / WEIGHTS))
    with pytest.raises(UserInputError, match=rf"do not fit the supernet .*: 1 key of the wrong shape \({first} is \(1,\)"):
        load_supernet(copy)


# -- evaluator --------------------------------------------------------------------------------------------------

def test_the_supernet_evaluator_scores_covered_genomes_and_refuses_others(trained: Path) -> None:
    ctx = RunContext(budget={"supernet": str(trained), "supernet_calibration": 16}, space="mbconv")
    evaluator = get("supernet")
    evaluator.check(ctx)
    coverage = Coverage()
    metrics = evaluate(coverage.sample(random.Random(0)), [evaluator], ctx)
    assert not metrics.failed and 0.0 <= metrics.accuracy <= 1.0
    assert metrics.extra["supernet_val_images"] == 32
    refused = evaluate(_stage(coverage.largest(), 2, channels=20), [evaluator], ctx)
    assert refused.failed and "stage 2 has 20 channels" in refused.reason


def test_a_search_with_an_mbconv_only_supernet_proposes_only_its_ops(tmp_path: Path) -> None:
    import csv

    from nas.search.cli import main

    sn = tmp_path / "sn"
    train_supernet(_settings(config=SupernetConfig(resolution=16), epochs=1), sn, progress=False, log=lambda _: None)
    assert load_supernet(sn).config.ops == ("mbconv3", "mbconv6")  # the default coverage
    out = tmp_path / "search"
    assert main(["--space", "mbconv", "--budget", "400M", "--evaluator", "supernet", "--set", f"supernet={sn}",
                 "--set", "supernet_calibration=16", "--strategy", "random", "--trials", "8", "--out", str(out),
                 "--quiet", "--no-plots"]) == 0
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 8 and all(r["state"] == "COMPLETE" for r in rows)
    assert {r[f"b{i}_op"] for r in rows for i in range(7)} <= {"mbconv3", "mbconv6"}


@pytest.mark.parametrize(("budget", "space", "match"), [
    ({}, "mbconv", "needs --set supernet=DIR"),
    ({"supernet": "/nonexistent/dir"}, "mbconv", "holds no trained supernet"),
])
def test_the_supernet_evaluator_refuses_a_missing_supernet_before_any_trial(budget, space, match) -> None:  # noqa: ANN001
    with pytest.raises(UserInputError, match=match):
        get("supernet").check(RunContext(budget=budget, space=space))


def test_the_supernet_evaluator_refuses_another_space(trained: Path) -> None:
    with pytest.raises(UserInputError, match="scores mbconv networks"):
        get("supernet").check(RunContext(budget={"supernet": str(trained)}, space="regnet"))


@pytest.mark.parametrize(("args", "words"), [
    (["train", "--out", "{tmp}/x", "--ops", "mbconv9"], "supernet ops must be"),
    (["train", "--out", "{tmp}/x", "--budget", "lots"], "--budget must be a MACs count"),
    (["train", "--out", "{tmp}/x", "--epochs", "-1"], "must be a positive number"),
    (["train", "--out", "{tmp}/x", "--resume"], "holds no checkpoint"),
])
def test_the_command_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run([sys.executable, "-m", "nas.supernet", *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_the_command_says_in_one_line_that_the_supernet_diverged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from torch.nn import functional as F

    from nas.supernet.cli import main

    monkeypatch.setattr(F, "cross_entropy", lambda logits, *a, **k: logits.float().sum() * float("nan"))
    s = TINY_SUPERNET
    argv = ["train", "--out", str(tmp_path), "--resolution", "16", "--epochs", "1", "--batch-size", "16", "--subset",
            "64", "--val-size", "32", "--random-subnets", "1", "--checkpoint-minutes", "0", "--threads", "1", "--quiet",
            "--ops", ",".join(s.config.ops)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the supernet's loss became nan by step 4; lower --lr" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / CHECKPOINT).exists() and not (tmp_path / WEIGHTS).exists()


@pytest.mark.parametrize(("flag", "distill"), [([], False), (["--distill"], True), (["--no-distill"], False)])
def test_in_place_distillation_is_off_by_default_and_on_with_a_flag(flag: list[str], distill: bool, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.supernet.train as module
    from nas.supernet.cli import main

    seen: list[bool] = []

    def record(settings: TrainSettings, *args: object, **kwargs: object) -> None:
        seen.append(settings.distill)
        raise UserInputError("recorded")

    monkeypatch.setattr(module, "train_supernet", record)
    assert main(["train", "--out", str(tmp_path / "sn"), "--quiet", *flag]) == 2
    assert seen == [distill] and TrainSettings().distill is False


@pytest.mark.slow
def test_it_trains_under_torchrun_with_ddp(tmp_path: Path) -> None:
    """Two processes (gloo on the CPU) train one supernet; the weights written are a finished run's."""
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517",
               "-m", "nas.supernet", "train", "--out", str(out), "--resolution", "16", "--epochs", "1",
               "--batch-size", "8", "--subset", "64", "--val-size", "32", "--random-subnets", "1", "--quiet",
               "--threads", "1", "--checkpoint-minutes", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    net = load_supernet(out)
    assert net.meta["steps"] == 4  # 8 batches of 8, every second one per process
    assert "supernet trained" in done.stdout


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tiny_supernet: Path, tmp_path: Path) -> None:
    """The tiny run of conftest, killed once its first epoch's checkpoint is on disk, then resumed."""
    import os
    import signal
    import time

    s = TINY_SUPERNET
    command = [sys.executable, "-m", "nas.supernet", "train", "--out", str(tmp_path), "--resolution", "16",
               "--epochs", "2", "--batch-size", "16", "--subset", "64", "--val-size", "32", "--random-subnets", "1",
               "--checkpoint-minutes", "0", "--threads", "1", "--quiet", "--ops", ",".join(s.config.ops)]
    assert (s.resolution, s.epochs, s.batch_size, s.subset, s.val_size, s.random_subnets) == (16, 2, 16, 64, 32, 1)
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (tmp_path / CHECKPOINT).exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (tmp_path / WEIGHTS).exists(), "the run finished before it could be killed"
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    whole, resumed = _weights(tiny_supernet), _weights(tmp_path)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
