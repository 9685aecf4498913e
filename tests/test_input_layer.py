"""Every entry point's input layer, as a table of cases: input, exit code, the words of the one-sentence error.

Careless or hostile input to any CLI ends before any work starts in one line on stderr naming
the input, exit code 2, no traceback, and nothing already written is changed. Numbers are
bounded, paths are checked before the operating system sees them, output directories are
created and probed before the first trial, settings are typed, the data are checked, and
another run's results are never replaced.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from nas import evaluate, export, info, train
from nas.search.cli import main as search_main
from scaling import compound_cli, stagewise_cli
from scaling.laws import cli as laws_cli
from tests import toy  # noqa: F401  (registers the toy evaluator)

ROOT = Path(__file__).resolve().parents[1]
LONG = "a" * 300  # a path component longer than any file system's 255 bytes
SEARCH = ["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--trials", "2",
          "--quiet", "--no-plots"]
CLIS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "search": search_main, "evaluate": evaluate.main, "info": info.main, "compound": compound_cli.main,
    "stagewise": stagewise_cli.main, "train": train.main, "export": export.main, "laws": laws_cli.main,
}

#: (command, arguments ({tmp} is this test's directory), the words the error must hold).
CASES: list[tuple[str, list[str], list[str]]] = [
    # unbounded numbers
    ("search", [*SEARCH, "--out", "{tmp}/o", "--seed", "-1"], ["--seed", "from 0 to 4,294,967,295"]),
    ("search", [*SEARCH, "--out", "{tmp}/o", "--seed", str(2**32)], ["--seed"]),
    ("search", [*SEARCH, "--out", "{tmp}/o", "--workers", "1000"], ["--workers", "must be auto or an integer"]),
    ("search", [*SEARCH, "--out", "{tmp}/o", "--workers", "many"], ["--workers", "must be auto or an integer"]),
    ("search", [*SEARCH, "--out", "{tmp}/o", "--threads", "100000"], ["--threads"]),
    ("search", [*SEARCH, "--out", "{tmp}/o", "--trials", "abc"], ["--trials"]),
    ("search", [*SEARCH, "--out", "{tmp}/o", "--heartbeat", "0"], ["--heartbeat"]),
    ("compound", ["--base", "efficientnet_b0", "--grid", "--grid-step", "1e-6", "--out", "{tmp}/o"],
     ["--grid-step", "values per coefficient"]),
    ("compound", ["--base", "efficientnet_b0", "--alpha", "1e308", "--beta", "1.1", "--gamma", "1.1", "--out",
                  "{tmp}/o"], ["--alpha", "depth multiplier"]),
    ("compound", ["--base", "efficientnet_b0", "--alpha", "3", "--beta", "1.1", "--gamma", "1.1", "--out",
                  "{tmp}/o"], ["--alpha 3 at phi 5"]),
    ("compound", ["--base", "efficientnet_b0", "--resolution-divisor", "0", "--out", "{tmp}/o"],
     ["--resolution-divisor"]),
    ("stagewise", ["--base", "efficientnetv2_s", "--max-resolution", "0", "--out", "{tmp}/o"], ["--max-resolution"]),
    ("info", ["efficientnet_b0", "--resolution", "0"], ["--resolution"]),
    ("info", ["inception_v3", "--resolution", "8"], ["resolution 8 is too small", "stages[2] (inception_pool)"]),
    ("evaluate", ["{tmp}/tiny-input.yaml"], ["tiny-input.yaml", "resolution 2 is too small"]),
    # settings found only inside an evaluator before: the user's mistake, not a failed candidate
    ("search", ["--space", "mbconv", "--budget", "400M", "--evaluator", "zero-cost", "--reward", "zero-cost",
                "--set", "zero_cost_batch=abc", "--out", "{tmp}/o"], ["zero_cost_batch", "must be an integer"]),
    ("search", ["--space", "mbconv", "--budget", "400M", "--evaluator", "zero-cost", "--reward", "zero-cost",
                "--set", "zero_cost=bogus", "--out", "{tmp}/o"], ["zero_cost", "bogus"]),
    ("search", ["--space", "mbconv", "--budget", "400M", "--set", "val_size=70000", "--out", "{tmp}/o"],
     ["val_size=70000", "training images"]),
    ("search", ["--space", "mbconv", "--budget", "400M", "--set", "zero_cost_resolution=3000", "--out", "{tmp}/o"],
     ["zero_cost_resolution"]),
    ("evaluate", ["efficientnet_b0", "-e", "train", "--set", "val_size=70000"], ["val_size=70000"]),
    ("evaluate", ["efficientnet_b0", "-e", "zero-cost", "--set", "zero_cost_resolution=3000"],
     ["zero_cost_resolution", "1,024"]),
    # paths
    ("search", [*SEARCH, "--out", ""], ["--out", "empty"]),
    ("search", [*SEARCH, "--out", f"{{tmp}}/{LONG}"], ["--out", "255"]),
    ("search", [*SEARCH, "--out", "/proc/no-such/run"], ["/proc/no-such/run", "cannot be created"]),
    ("search", [*SEARCH, "--out", "{tmp}/a-file"], ["{tmp}/a-file", "cannot be created"]),
    ("search", [*SEARCH, "--out", "{tmp}/csv-dir"], ["trials.csv is a directory"]),
    ("search", [*SEARCH, "--out", "{tmp}/o", "--data", f"{{tmp}}/{LONG}"], ["255"]),
    ("evaluate", [f"{LONG}.yaml"], ["255"]),
    ("evaluate", [LONG], ["255"]),
    ("info", [f"{{tmp}}/{LONG}/x.yaml"], ["255"]),
    ("compound", ["--base", f"{LONG}.yaml", "--out", "{tmp}/o"], ["255"]),
    ("compound", ["--base", "efficientnet_b0", "--out", ""], ["--out", "empty"]),
    ("compound", ["--base", "efficientnet_b0", "--out", "/proc/no-such/family"], ["cannot be created"]),
    ("stagewise", ["--base", "efficientnetv2_s", "--out", ""], ["--out", "empty"]),
    # special and huge files as genome files
    ("info", ["/dev/zero"], ["/dev/zero", "not a regular file"]),
    ("evaluate", ["{tmp}/a-fifo.yaml"], ["a-fifo.yaml", "not a regular file"]),
    ("compound", ["--base", "{tmp}/huge.yaml", "--out", "{tmp}/o"], ["huge.yaml", "at most 4 MiB"]),
    ("compound", ["--base", "{tmp}/long-name.yaml", "--out", "{tmp}/o"], ["output file", "255"]),
    # genome errors found when the whole network is resolved name their file
    ("evaluate", ["{tmp}/bad-block.yaml"], ["{tmp}/bad-block.yaml", "stages[0]"]),
    ("info", ["{tmp}/bad-block.yaml"], ["{tmp}/bad-block.yaml"]),
    # training and export
    ("train", ["efficientnet_b0", "--epochs", "0", "--out", "{tmp}/o"], ["--epochs", "from 1"]),
    ("train", ["efficientnet_b0", "--epochs", "1", "--out", f"{{tmp}}/{LONG}"], ["--out", "255"]),
    ("train", [LONG, "--epochs", "1", "--out", "{tmp}/o"], ["255"]),
    ("train", ["efficientnet_b0", "--epochs", "1", "--out", "{tmp}/o", "--init", f"{{tmp}}/{LONG}.pth"], ["255"]),
    ("train", ["efficientnet_b0", "--epochs", "1", "--out", "{tmp}/o", "--init", "{tmp}/none.pth"],
     ["none.pth does not exist"]),
    ("train", ["efficientnet_b0", "--epochs", "1", "--out", "{tmp}/o", "--recipe", "{tmp}/huge.yaml"],
     ["huge.yaml"]),
    ("train", ["efficientnet_b0", "--epochs", "1", "--out", "{tmp}/o", "--checkpoint-minutes", "nan"],
     ["--checkpoint-minutes"]),
    ("train", ["efficientnet_b0", "--epochs", "1", "--out", "{tmp}/o", "--device", "cuda:9"], ["cuda:9"]),
    ("export", [f"{{tmp}}/{LONG}.safetensors"], ["255"]),
    ("export", ["{tmp}/none.safetensors"], ["none.safetensors does not exist"]),
    ("export", ["{tmp}/bad-block.yaml"], ["bad-block.yaml", "cannot read the checkpoint"]),
    ("export", ["{tmp}/none.safetensors", "--tolerance", "0"], ["tolerance"]),
    ("laws", ["fit", "--levels", "1,2,4", "--out", "{tmp}/o"], ["--levels", "at least 4 compute levels"]),
    ("laws", ["fit", "--levels", "1,2,4,1e9", "--out", "{tmp}/o"], ["--levels", "from 1 to 1024"]),
    ("laws", ["fit", "--base", "{tmp}/huge.yaml", "--out", "{tmp}/o"], ["huge.yaml"]),
    ("laws", ["analyse", "--strategies", "dollar:2", "--out", "{tmp}/o"], ["dollar:2", "between 0 and 1"]),
    ("laws", ["analyse", "--levels", "2,4", "--out", f"{{tmp}}/{LONG}/o"], ["255"]),
    ("laws", ["recommend", "--target", "nan", "--out", "{tmp}/o"], ["--target"]),
    ("laws", ["recommend", "--target", "4x", "--fit", "{tmp}/family", "--out", "{tmp}/o"], ["no fit in"]),
    # another run's results are never replaced
    ("compound", ["--base", "efficientnet_b0", "--out", "{tmp}/search-run", "--phi", "0-1"],
     ["search study 'mbconv-flops-tpe'"]),
    ("compound", ["--base", "efficientnet_b0", "--out", "{tmp}/family", "--alpha", "1.1", "--beta", "1.1",
                  "--gamma", "1.1", "--phi", "0-1"], ["already holds another family"]),
    ("stagewise", ["--base", "efficientnetv2_s", "--out", "{tmp}/family", "--phi", "0-1"],
     ["already holds another family"]),
]


def digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A search's run directory, a compound family, a plain file, a run directory with a directory in the way."""
    root = tmp_path_factory.mktemp("inputs")
    assert search_main([*SEARCH, "--out", str(root / "search-run")]) == 0
    assert compound_cli.main(["--base", "efficientnet_b0", "--out", str(root / "family"), "--phi", "0-1",
                              "--no-plots"]) == 0
    (root / "a-file").write_text("not a directory\n")
    (root / "csv-dir" / "trials.csv").mkdir(parents=True)
    os.mkfifo(root / "a-fifo.yaml")  # a reader would block on it forever (digest() skips it: not a regular file)
    (root / "huge.yaml").write_text("name: x\nstem: {channels: 8}\nstages:\n" +
                                    "- {block: conv, depth: 1, channels: 8}\n" * 120_000)
    (root / "tiny-input.yaml").write_text("name: t\nresolution: 2\nstem: {channels: 8, padding: valid}\n"
                                         "stages:\n- {block: conv, depth: 1, channels: 8}\n")
    (root / "long-name.yaml").write_text("name: " + "b" * 250 + "\nstem: {channels: 8}\nstages:\n"
                                         "- {block: conv, depth: 1, channels: 8}\n")
    (root / "bad-block.yaml").write_text(
        "name: bad\nstem: {channels: 16}\nstages:\n- {block: basic, depth: 1, channels: 16, group_width: 4}\n")
    return root


@pytest.mark.parametrize(("command", "args", "words"), CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_bad_input_is_one_sentence_exit_2_and_nothing_written(prepared: Path, capsys: pytest.CaptureFixture[str],
                                                             command: str, args: list[str], words: list[str]) -> None:
    before = digest(prepared)
    argv = [a.replace("{tmp}", str(prepared)) for a in args]
    code = CLIS[command](argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word.replace("{tmp}", str(prepared)) in lines[0], (word, lines[0])
    assert digest(prepared) == before
    assert not (prepared / "o").exists()


def test_a_full_standard_output_is_one_sentence_and_exit_2() -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "nas.info", "efficientnet_b0"], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "standard output" in proc.stderr and "Traceback" not in proc.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "nas.info", *(["efficientnet_b7"] * 200)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    proc.stdout.read(100)
    proc.stdout.close()  # like `| head -c 100`
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 141) and b"Traceback" not in err


def test_the_device_must_exist(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert evaluate.main(["efficientnet_b0", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert search_main([*SEARCH, "--out", os.devnull + "-never", "--device", "cuda"]) == 2


def test_a_full_disk_in_the_middle_of_a_search_is_one_sentence_and_keeps_what_was_finished(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna
    import sqlalchemy

    from nas.search.rdb import FastRDBStorage

    finish = FastRDBStorage.finish_trial
    calls = []

    def full_on_the_third(self: FastRDBStorage, *args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            try:
                raise sqlalchemy.exc.OperationalError("UPDATE trials", {}, Exception("database or disk is full"))
            except sqlalchemy.exc.OperationalError as err:
                raise optuna.exceptions.StorageInternalError("An exception is raised during the commit. e.g. "
                                                             "exceeding max length.") from err
        finish(self, *args, **kwargs)

    monkeypatch.setattr(FastRDBStorage, "finish_trial", full_on_the_third)
    args = ["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "toy", "--trials", "5",
            "--heartbeat", "1", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert search_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "database or disk is full" in err and "--resume" in err, err
    assert "max length" not in err
    monkeypatch.setattr(FastRDBStorage, "finish_trial", finish)
    # The two finished trials were kept; the resume waits out the lost write's trial (this process still lives,
    # so only its heartbeat can tell) and completes five.
    assert search_main([*args, "--resume"]) == 0
    trials = optuna.load_study(study_name="mbconv-flops-tpe", storage=f"sqlite:///{tmp_path / 'study.db'}").trials
    assert sum(t.state.name == "COMPLETE" for t in trials) == 5


class _Shaped:
    def __init__(self, *shape: int) -> None:
        self.shape = shape


@pytest.mark.parametrize(("given", "expected"), [
    ({"a": _Shaped(2), "b": _Shaped(3)}, ""),
    ({"a": _Shaped(2)}, "1 missing key (b)"),
    ({"a": _Shaped(2), "b": _Shaped(3), "c": _Shaped(1), "d": _Shaped(1), "e": _Shaped(1), "f": _Shaped(1)},
     "4 unexpected keys (c, d, e and 1 more)"),
    ({"a": _Shaped(4), "b": _Shaped(3, 1)}, "2 keys of the wrong shape (a is (4,), needs (2,); 1 more)"),
    ({"b": _Shaped(3), "z": _Shaped(1)}, "1 missing key (a); 1 unexpected key (z)"),
])
def test_a_state_dict_that_does_not_load_is_described_by_its_keys(given: dict, expected: str) -> None:
    from search_spaces.errors import state_dict_mismatch

    assert state_dict_mismatch({"a": _Shaped(2), "b": _Shaped(3)}, given) == expected
