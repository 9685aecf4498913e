"""``nas.train``: recipes as data, checkpoints that resume to the same weights, pretrained starts, evaluation, export."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import search_spaces as ss
from nas.evaluate import main as evaluate_main
from nas.export import main as export_main
from nas.train import main as train_main
from nas.training.checkpoint import read_checkpoint
from nas.training.recipes import Recipe, load_recipe, recipe_names
from search_spaces.errors import UserInputError

#: A run small enough for the fast suite: 128 real Fashion-MNIST images at 16 px, batches of 32.
TINY = ["--resolution", "16", "--subset", "128", "--val-size", "64", "--batch-size", "32", "--threads", "1",
        "--quiet", "--checkpoint-minutes", "0"]
MODEL = "mobilenet_v3_small"
RECIPES = ["efficientnet", "efficientnetv2", "rsb-a1", "rsb-a2", "rsb-a3", "convnext"]


def _train(out: Path, *extra: str, recipe: str = "efficientnet", epochs: int = 2) -> int:
    return train_main([MODEL, "--recipe", recipe, "--epochs", str(epochs), "--out", str(out), *TINY, *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    ckpt = read_checkpoint(path)
    return {**ckpt.weights, **{f"ema.{k}": v for k, v in ckpt.ema.items()}}


def test_the_built_in_recipes_are_the_six_published_ones_with_their_provenance() -> None:
    assert recipe_names() == sorted(RECIPES)
    papers = {"efficientnet": "Rethinking Model Scaling", "efficientnetv2": "Smaller Models and Faster Training",
              "rsb-a1": "ResNet strikes back", "convnext": "A ConvNet for the 2020s"}
    for name, title in papers.items():
        assert title in load_recipe(name).provenance
    assert load_recipe("efficientnet").optimizer == "rmsproptf" and load_recipe("rsb-a2").loss == "bce"
    assert load_recipe("efficientnetv2").progressive == "efficientnetv2_s"


def test_the_learning_rate_follows_the_batch_size() -> None:
    assert load_recipe("efficientnet").lr_for(256) == pytest.approx(0.016)  # 0.256 at 4096, linear
    assert load_recipe("rsb-a1").lr_for(512) == pytest.approx(5e-3 / 2)  # LAMB: square root


def test_a_users_recipe_file_is_read_and_checked(tmp_path: Path) -> None:
    data = {**load_recipe("convnext").to_dict(), "name": "mine", "lr": 1e-3}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(data))
    assert load_recipe(tmp_path / "mine.yaml").lr == 1e-3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**data, "learning_rate": 1}))
    with pytest.raises(UserInputError, match=r"unknown field\(s\) learning_rate"):
        load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(UserInputError, match="did you mean 'convnext'"):
        load_recipe("convnex")
    with pytest.raises(UserInputError, match="optimizer must be one of"):
        Recipe.from_dict({**data, "optimizer": "adam"})
    with pytest.raises(UserInputError, match="crop_scale"):
        Recipe.from_dict({**data, "crop_scale": [0.5, 0.2]})


def test_posterize_with_no_bits_left_is_a_black_image_not_an_error() -> None:
    from PIL import Image

    from nas.training.timm_compat import _posterize

    img = Image.new("L", (8, 8), 200)
    assert max(_posterize(img, 0).getdata()) == 0
    assert max(_posterize(img, 2).getdata()) == 192


def test_a_run_writes_checkpoints_metrics_and_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path) == 0
    assert "best validation accuracy" in capsys.readouterr().out
    for name in ("last.safetensors", "best.safetensors", "metrics.csv", "curves.png", "genome.yaml", "recipe.yaml"):
        assert (tmp_path / name).is_file(), name
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,lr,train_loss,val_accuracy") and len(rows) == 3
    ckpt = read_checkpoint(tmp_path / "best.safetensors")
    assert ckpt.genome().num_classes == 10 and ckpt.genome().drop_path == 0.2  # the recipe's stochastic depth
    assert ckpt.meta["recipe"]["name"] == "efficientnet" and ckpt.meta["data"]["resolution"] == 16
    ckpt.model()  # loads strictly into the network its metadata describes
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_stopped_run_resumes_to_the_same_weights(tmp_path: Path, recipe: str) -> None:
    """Mixup/CutMix, RandAugment, erasing, EMA and progressive stages all replay after a resume."""
    assert _train(tmp_path / "whole", recipe=recipe) == 0
    assert _train(tmp_path / "cut", "--stop-after", "3", recipe=recipe) == 0  # mid-epoch (4 steps an epoch)
    assert not (tmp_path / "cut" / "best.safetensors").exists()
    assert _train(tmp_path / "cut", "--resume", "--stop-after", "2", recipe=recipe) == 0  # across the epoch end
    assert _train(tmp_path / "cut", "--resume", recipe=recipe) == 0
    whole, cut = _weights(tmp_path / "whole" / "last.safetensors"), _weights(tmp_path / "cut" / "last.safetensors")
    assert whole.keys() == cut.keys()
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    def learning(run: str) -> list[tuple[str, ...]]:  # every column but the timings
        with open(tmp_path / run / "metrics.csv") as handle:
            return [tuple(row[:6]) for row in csv.reader(handle)]
    assert learning("whole") == learning("cut")


def test_resume_refuses_other_settings_and_a_second_run_refuses_the_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path, "--stop-after", "1") == 0
    assert _train(tmp_path, "--resume", "--seed", "1") == 2
    assert "trained with other settings (seed)" in capsys.readouterr().err
    assert _train(tmp_path) == 2
    assert "already holds a training checkpoint; add --resume" in capsys.readouterr().err
    assert _train(tmp_path / "none", "--resume") == 2
    assert "holds no checkpoint to continue" in capsys.readouterr().err


def test_a_diverging_run_is_one_sentence_and_keeps_its_last_finite_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss is read every few steps, not every step, but always before a validation or checkpoint."""
    assert _train(tmp_path, "--stop-after", "2") == 0  # 4 steps an epoch
    kept = _weights(tmp_path / "last.safetensors")
    from nas.training import components

    monkeypatch.setattr(components, "loss_for", lambda *_: lambda logits, _target: logits.float().sum() * math.nan)
    assert _train(tmp_path, "--resume") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "the training loss became nan by step 4; lower the learning rate" in err and "checkpoint before it is kept" in err
    assert read_checkpoint(tmp_path / "last.safetensors").meta["step"] == 2
    after = _weights(tmp_path / "last.safetensors")
    assert all(torch.equal(kept[k], after[k]) for k in kept)
    assert not (tmp_path / "best.safetensors").exists()


@pytest.mark.parametrize(("flag", "message"), [
    (["--set", "lr=-1"], "lr must be a positive number"),
    (["--set", "lr"], "--set expects FIELD=VALUE"),
    (["--set", "lrr=1"], r"unknown field\(s\) lrr"),
    (["--recipe", "nope.yaml"], "recipe file nope.yaml does not exist"),
    (["--init-source", "timm_efficientnet"], "give --init FILE too"),
    (["--batch-size", "33", "--recipe", "convnext"], "batch size must be even"),
])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str],
                                              message: str) -> None:
    args = [MODEL, "--epochs", "1", "--out", str(tmp_path / "run"), *TINY, *flag]
    assert train_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas.train: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_init_from_a_reference_state_dict_remakes_the_classifier(tmp_path: Path) -> None:
    from search_spaces.interop import convert_state_dict
    from search_spaces.reference import reference_model

    reference = reference_model(MODEL)
    torch.save(reference.state_dict(), tmp_path / "ref.pth")
    assert _train(tmp_path / "run", "--init", str(tmp_path / "ref.pth"), "--stop-after", "1", epochs=1,
                  recipe="rsb-a3") == 0
    # one step of a tiny lr moves the weights a little: the start was the reference's, not a fresh init
    converted = convert_state_dict(reference.state_dict(), ss.zoo.get(MODEL), "torchvision_mobilenet")
    trained = read_checkpoint(tmp_path / "run" / "last.safetensors").weights
    stem = "stem.conv.weight"
    assert torch.allclose(trained[stem], converted[stem], atol=1e-3)
    assert trained["head.classifier.weight"].shape == (10, converted["head.classifier.weight"].shape[1])


def test_init_from_our_own_checkpoint_and_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path / "a", epochs=1) == 0
    assert _train(tmp_path / "b", "--init", str(tmp_path / "a" / "best.safetensors"), "--stop-after", "1",
                  epochs=1) == 0
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert _train(tmp_path / "c", "--init", str(tmp_path / "junk.pth"), epochs=1) == 2
    assert "--init: cannot read" in capsys.readouterr().err


def test_evaluate_scores_a_checkpoint_on_the_test_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path, epochs=1) == 0
    capsys.readouterr()
    assert evaluate_main([str(tmp_path), "--evaluator", "cost", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["model"] == MODEL and 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["extra"]["test_images"] == 10_000 and metrics["params"] > 0
    assert evaluate_main([str(tmp_path), "--evaluator", "train"]) == 2


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_checks_its_output_before_it_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    assert _train(tmp_path, epochs=1) == 0
    capsys.readouterr()
    assert export_main([str(tmp_path), "--format", fmt, "--out", str(tmp_path / "m.bin")]) == 0
    assert "largest difference from PyTorch" in capsys.readouterr().out and (tmp_path / "m.bin").is_file()
    import nas.export

    writer = nas.export._WRITERS[fmt]
    def off_by_a_little(*args: object) -> object:  # an exporter that gets the logits slightly wrong
        run = writer(*args)
        return lambda x: run(x) + 1e-3
    monkeypatch.setitem(nas.export._WRITERS, fmt, off_by_a_little)
    assert export_main([str(tmp_path), "--format", fmt, "--out", str(tmp_path / "x.bin")]) == 2
    assert "differs from PyTorch by 0.001" in capsys.readouterr().err
    assert not list(tmp_path.glob("*x.bin*"))  # nothing written, not even a partial file


def test_export_refuses_what_is_not_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_main([str(tmp_path)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    assert export_main([str(tmp_path / "plain.safetensors")]) == 2
    assert "not a checkpoint written by nas.train" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sigkilled_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    """SIGKILL at a random moment (mid-step, mid-write), then --resume: bit-identical final weights."""
    command = [sys.executable, "-m", "nas.train", MODEL, "--recipe", "convnext", "--epochs", "3", *TINY,
               "--subset", "512"]  # 16 steps an epoch: long enough to be killed mid-run
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run([*command, "--out", str(tmp_path / "whole")], check=True, env=env, capture_output=True)
    cut = tmp_path / "cut"
    frequent = [*command, "--out", str(cut)]
    frequent[frequent.index("--checkpoint-minutes") + 1] = "0.0003"  # a checkpoint every few steps
    rng = random.Random(0)
    interrupted = 0
    for _ in range(3):
        proc = subprocess.Popen([*frequent, *(["--resume"] if (cut / "last.safetensors").exists() else [])],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (cut / "last.safetensors").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 1.5))
        interrupted += proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert interrupted >= 2 and read_checkpoint(cut / "last.safetensors").meta["step"] < 48
    subprocess.run([*frequent, "--resume"], check=True, env=env, capture_output=True)
    whole, resumed = _weights(tmp_path / "whole" / "last.safetensors"), _weights(cut / "last.safetensors")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


#: A tiny ConvNeXt: LayerNorm has no batch statistics, so 2 processes with half the batch each take
#: exactly the steps of one process with the whole batch (BatchNorm would normalise each half alone).
TINY_CONVNEXT = """\
name: tiny_convnext
stem: {channels: 8, kernel: 4, stride: 4, act: identity, padding: valid, bias: true}
stages:
- {block: convnext, depth: 1, channels: 8, kernel: 3, expand: 2}
- {block: convnext_down, depth: 1, channels: 16, stride: 2, kernel: 2}
- {block: convnext, depth: 1, channels: 16, kernel: 3, expand: 2}
head: {channels: 0, pool_norm: true}
act: gelu
norm: {name: layernorm, eps: 1.0e-06}
num_classes: 10
"""

#: No random augmentation, mixing or dropout: the two runs draw nothing that depends on the process.
PLAIN_RECIPE = {"name": "plain", "provenance": "test", "epochs": 1, "batch_size": 32, "optimizer": "sgd",
                "lr": 0.05, "weight_decay": 1e-4, "crop_scale": [1, 1], "hflip": 0.0, "drop_path": 0.0}


@pytest.mark.slow
def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(tmp_path: Path) -> None:
    (tmp_path / "net.yaml").write_text(TINY_CONVNEXT)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(PLAIN_RECIPE))
    args = [str(tmp_path / "net.yaml"), "--recipe", str(tmp_path / "plain.yaml"), "--epochs", "1", *TINY,
            "--stop-after", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one_process = subprocess.run([sys.executable, "-m", "nas.train", *args, "--out", str(tmp_path / "one")], env=env,
                                 capture_output=True, text=True)
    assert one_process.returncode == 0, one_process.stderr[-3000:]
    two_processes = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                                    "2", "-m", "nas.train", *args, "--out", str(tmp_path / "two")], env=env,
                                   capture_output=True, text=True)
    assert two_processes.returncode == 0, two_processes.stderr[-3000:]  # torchrun's and both ranks' messages
    assert "2 processes, 16 images each per step" in two_processes.stderr  # the batch really was split
    one, two = _weights(tmp_path / "one" / "last.safetensors"), _weights(tmp_path / "two" / "last.safetensors")
    assert read_checkpoint(tmp_path / "two" / "last.safetensors").meta["step"] == 3
    assert one.keys() == two.keys()
    assert all(torch.allclose(one[k], two[k], atol=1e-6, rtol=1e-5) for k in one), \
        max((one[k] - two[k]).abs().max().item() for k in one)


def test_a_final_model_trains_on_every_image_and_validates_on_the_test_split(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.data import DataConfig, loaders

    train, _, _ = loaders(DataConfig(resolution=16, eval_split="test", hold_out=False, val_size=64))
    assert len(train.labels) == 60_000
    with pytest.raises(UserInputError, match="needs eval_split=test"):
        DataConfig(hold_out=False)
    assert _train(tmp_path, "--eval-split", "test", "--stop-after", "1", epochs=1) == 0
    assert read_checkpoint(tmp_path / "last.safetensors").meta["data"]["eval_split"] == "test"
    capsys.readouterr()
    assert evaluate_main([str(tmp_path / "last.safetensors"), "--split", "val", "-e", "cost"]) == 2
    assert "no held-out images" in capsys.readouterr().err


def test_a_checkpoint_of_another_network_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path / "small", "--stop-after", "1", epochs=1) == 0
    capsys.readouterr()
    args = ["mnasnet_a1", "--epochs", "1", "--out", str(tmp_path / "other"), *TINY, "--init",
            str(tmp_path / "small" / "last.safetensors")]
    assert train_main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "does not fit mnasnet_a1" in err, err


def test_a_shorter_run_keeps_the_warm_up_share_and_the_decay_interval() -> None:
    from nas.training.components import schedule_epochs

    assert schedule_epochs(load_recipe("convnext"), 15) == (1.0, 0.0)  # 20 of 300 epochs -> 1 of 15
    warmup, decay = schedule_epochs(load_recipe("efficientnet"), 35)
    assert warmup == pytest.approx(0.5) and decay == 2.4  # 0.97 every 2.4 epochs, whatever the length


@pytest.mark.parametrize("name", ["squeezenet1_1", "regnetx_002", "shufflenet_v2_x1_0", "mobilenet_v3_small"])
def test_init_loads_every_reference_weight_but_a_remade_classifier(tmp_path: Path, name: str) -> None:
    import dataclasses

    from nas.training.pretrained import init_from
    from search_spaces.interop import convert_state_dict, source_for
    from search_spaces.reference import reference_model

    reference = reference_model(name)
    torch.save(reference.state_dict(), tmp_path / "ref.pth")
    genome = dataclasses.replace(ss.zoo.get(name), num_classes=10)
    model = ss.build(genome)
    notices: list[str] = []
    init_from(tmp_path / "ref.pth", genome, log=notices.append)(model)
    expected = convert_state_dict(reference.state_dict(), ss.zoo.get(name), source_for(ss.zoo.entry(name).reference))
    ours = model.state_dict()
    remade = {k for k in ours if ours[k].shape != expected[k].shape}
    assert remade and all(k.startswith("head.classifier") for k in remade)
    assert all(torch.equal(ours[k], expected[k]) for k in ours if k not in remade)
    assert notices == [f"--init: loaded {tmp_path / 'ref.pth'} ({source_for(ss.zoo.entry(name).reference)}); "
                       "the classifier is re-made for 10 classes"]
