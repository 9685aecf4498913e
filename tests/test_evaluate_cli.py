"""``python -m nas.evaluate``: evaluators by name, budget knobs, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas import evaluators, settings
from nas.evaluate import main
from search_spaces.errors import UserInputError


def test_the_issue_names_are_registered() -> None:
    assert {"cost", "train", "zero-cost", "latency", "latency-lut", "train-step"} <= set(evaluators.names())


def test_settings_are_text_until_a_knob_types_them() -> None:
    assert settings.parse_pairs(["epochs=2", "lr=0.1", "amp=false", "optimizer=adamw"]) == {
        "epochs": "2", "lr": "0.1", "amp": "false", "optimizer": "adamw"}
    with pytest.raises(UserInputError, match="KEY=VALUE"):
        settings.parse_pairs(["epochs"])


def test_cost_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["efficientnet_b0", "--evaluator", "cost", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == 5_288_548 and out["failed"] is False


def test_train_on_fashion_mnist(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["mobilenet_v3_small", "-e", "train,cost", "--device", "cpu", "--set", "steps=3", "--set", "subset=96",
            "--set", "val_size=64", "--set", "batch_size=32", "--set", "resolution=16"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "params" in out


def test_a_failed_candidate_exits_1_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["mobilenet_v3_small", "-e", "train", "--set", "lr=100", "--set", "weight_decay=1", "--set", "steps=10",
            "--set", "subset=64",
            "--set", "val_size=32", "--set", "resolution=16"]
    assert main(argv) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "needle"), [
    (["efficientnet_b0", "-e", "trian"], "did you mean 'train'"),
    (["efficientnet_b0", "-e", "cost,cost"], "twice"),
    (["efficientnet_b0", "-e", "cost,"], "comma-separated"),
    (["no_such_model"], "neither a zoo model"),
    (["efficientnet_b0", "-e", "train", "--data", "/no/such/dir"], "/no/such/dir"),
    (["efficientnet_b0", "--set", "epochs"], "KEY=VALUE"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], needle: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "nas.evaluate", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
