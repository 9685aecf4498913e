"""``python -m nas.info``: exact cost and stage table per model, one-line errors with exit code 2."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tomllib
import torch

import search_spaces as ss
from nas.info import MACS_NOTE, main
from search_spaces.units import human

ROOT = Path(__file__).resolve().parents[1]
SMALL = "mobilenet_v3_small"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    assert main([*args, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def assert_one_line_error(code: int, err: str, *expected: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nas.info: error: ")
    for text in expected:
        assert text in lines[0], (text, lines[0])


# --- output ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v2", "efficientnet_b0"])
def test_json_numbers_equal_cost(capsys: pytest.CaptureFixture[str], name: str) -> None:
    genome = ss.zoo.get(name)
    [info] = run_json(capsys, name)
    expected = ss.cost(genome)
    assert (info["params"], info["macs"], info["activations"]) == (expected.params, expected.macs,
                                                                   expected.activations)
    assert info["name"] == name and info["source"] == "zoo" and info["resolution"] == genome.resolution
    assert info["reference"] == ss.zoo.entry(name).reference


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_b0"])
def test_table_rows_sum_to_the_total_cost(capsys: pytest.CaptureFixture[str], name: str) -> None:
    [info] = run_json(capsys, name)
    for key in ("params", "macs", "activations"):
        assert sum(row[key] for row in info["table"]) == info[key]


def test_table_matches_the_resolved_spec(capsys: pytest.CaptureFixture[str]) -> None:
    spec = ss.resolve(ss.zoo.get("efficientnet_b0"))
    [info] = run_json(capsys, "efficientnet_b0")
    table = info["table"]
    assert [row["stage"] for row in table] == ["stem", *map(str, range(len(spec.stages))), "head", "classifier"]
    stages = table[1:-2]
    for row, blocks in zip(stages, spec.stages):
        first = blocks[0]
        assert (row["block"], row["repeats"], row["cin"], row["cout"], row["stride"], row["kernel"], row["se"]) == (
            first.kind, len(blocks), first.cin, first.cout, first.stride, first.kernel, first.se)
    assert [row["expand"] for row in stages] == [1, 6, 6, 6, 6, 6, 6]
    assert [row["output"] for row in table] == [[112, 112], [112, 112], [56, 56], [28, 28], [14, 14], [14, 14],
                                                [7, 7], [7, 7], [7, 7], [1, 1]]
    assert (table[0]["cin"], table[0]["cout"], table[-2]["cout"], table[-1]["cout"]) == (3, 32, 1280, 1000)
    assert (stages[1]["se"], stages[1]["se_rest"], stages[-1]["se_rest"]) == (4, 6, None)  # SE over block input


def test_resolution_changes_macs_not_params(capsys: pytest.CaptureFixture[str]) -> None:
    genome = ss.zoo.get(SMALL)
    [default] = run_json(capsys, SMALL)
    [small] = run_json(capsys, SMALL, "--resolution", "160")
    assert small["resolution"] == 160
    assert small["macs"] == ss.cost(genome, 160).macs < default["macs"]
    assert small["activations"] == ss.cost(genome, 160).activations
    assert small["params"] == default["params"]
    assert small["table"][0]["output"] == [80, 80]


def test_text_has_header_table_and_the_macs_note_once(capsys: pytest.CaptureFixture[str]) -> None:
    c = ss.cost(ss.zoo.get("efficientnet_b0"))
    assert main(["efficientnet_b0"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == (f"efficientnet_b0 (zoo), 224x224 input: params {c.params} (5.29M), "
                        f"MACs {c.macs} (385.8M), activations {c.activations} ({human(c.activations)})")
    assert lines[1].split()[:6] == ["stage", "block", "repeats", "kernel", "stride", "expand"]
    rows = {line.split()[0]: line.split() for line in lines[2:12]}
    assert list(rows) == ["stem", "0", "1", "2", "3", "4", "5", "6", "head", "classifier"]
    assert rows["1"][:6] == ["1", "mbconv", "2", "3", "2", "6"]
    assert " ".join(rows["1"][6:9]) == "16 -> 24" and rows["1"][9:12] == ["4/6", "swish", "56x56"]
    assert len({len(line) for line in lines[1:12]}) == 1  # aligned columns, right-aligned last one
    assert out.count(MACS_NOTE) == 1


def test_several_arguments_print_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert [info["name"] for info in run_json(capsys, SMALL, "mobilenet_v2", SMALL)] == [SMALL, "mobilenet_v2",
                                                                                           SMALL]
    assert main(["mobilenet_v2", SMALL, "-r", "96"]) == 0
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if " input: params " in line]
    assert [h.split()[0] for h in headers] == ["mobilenet_v2", SMALL]
    assert all("96x96 input" in h for h in headers)
    assert out.count(MACS_NOTE) == 1


def test_hidden_classifier_layer_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    [info] = run_json(capsys, SMALL)
    assert info["table"][-1]["block"] == "pool+fc+fc" and info["table"][-1]["mid"] == 1024
    main([SMALL])
    assert "576 -> 1024 -> 1000" in capsys.readouterr().out


def test_yaml_file_gives_the_same_numbers_as_the_zoo(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(ss.to_yaml(ss.zoo.get("mobilenet_v2")))
    no_suffix = tmp_path / "found"  # an existing file is read as a genome whatever its name
    no_suffix.write_text(path.read_text())
    from_file, from_plain, from_zoo = run_json(capsys, str(path), str(no_suffix), "mobilenet_v2")
    assert from_file["source"] == str(path) and from_file["reference"] is None
    for info in (from_file, from_plain):
        assert {k: info[k] for k in ("name", "params", "macs", "table")} == {
            k: from_zoo[k] for k in ("name", "params", "macs", "table")}


def test_info_builds_no_torch_module(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nas.info built a torch module")

    monkeypatch.setattr(torch.nn.Module, "__init__", refuse)
    assert main(["efficientnet_b7", "efficientnetv2_l"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(("n", "text"), [(928, "928"), (1450, "1.45K"), (5288548, "5.29M"), (385814752, "385.8M"),
                                         (37745884192, "37.75G")])
def test_human_numbers(n: int, text: str) -> None:
    assert human(n) == text


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ("NAME_OR_YAML", "--resolution R", "--json", ".yaml", "efficientnet_b0", "multiply-accumulates"):
        assert text in out


def test_console_script_points_at_a_wrapped_main(capsys: pytest.CaptureFixture[str]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = pkgutil.resolve_name(scripts["nas-info"])
    assert entry is main
    assert entry(["no_such_model"]) == 2  # the error wrapper is inside main, as console scripts need
    assert "no_such_model" in capsys.readouterr().err


# --- bad input ------------------------------------------------------------------------

def _good() -> str:
    return ss.to_yaml(ss.zoo.get("mobilenet_v2"), short=False)  # every field written: the edits below find theirs


def _replace(old: str, new: str) -> Callable[[Path], str]:
    def corrupt(tmp: Path) -> str:
        text = _good()
        assert old in text
        return text.replace(old, new, 1)
    return corrupt


BAD_FILES: dict[str, tuple[Callable[[Path], str] | None, tuple[str, ...]]] = {
    "missing_file": (None, ("no such file",)),
    "malformed_yaml": (_replace("stages:\n", "stages:\n  - [unclosed\n"), ("malformed YAML", "line 5")),
    "unknown_block": (_replace("block: mbconv", "block: mbconvv"), ("stages[0].block", "'mbconvv'", "'mbconv'")),
    "negative_channels": (_replace("channels: 24", "channels: -24"), ("stages[1].channels", "-24")),
    "zero_channels": (_replace("channels: 24", "channels: 0"), ("stages[1].channels", "positive")),
    "missing_stage_field": (_replace("depth: 2, ", ""), ("stages[1]", "missing required field 'depth'")),
    "missing_stem": (lambda tmp: "".join(line for line in _good().splitlines(keepends=True)  # whatever Stem holds
                                         if not line.startswith("stem: {")), ("missing required field 'stem'",)),
    "unknown_field": (_replace("stride: 1, kernel: 3", "stride: 1, kernal: 3"), ("stages[0]", "'kernal'", "'kernel'")),
    "bad_resolution_field": (_replace("resolution: 224", "resolution: 0"), ("resolution", "positive")),
    "empty_file": (lambda tmp: "", ("the file is empty",)),
    "python_tag": (lambda tmp: f'!!python/object/apply:os.system ["touch {tmp / "pwned"}"]\n',
                   ("python/object/apply:os.system",)),
    "python_tag_in_field": (lambda tmp: _replace("name: mobilenet_v2",
                                                 f'name: !!python/object/apply:os.system ["touch {tmp / "pwned"}"]')
                            (tmp), ("python/object/apply:os.system",)),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_genome_file_is_one_line_naming_file_and_field(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str) -> None:
    make, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.yaml"
    if make is not None:
        path.write_text(make(tmp_path))
    code = main([SMALL, str(path)])  # the good model first: nothing is printed unless all arguments are good
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_error(code, err, f"{path}:", *expected)
    assert not (tmp_path / "pwned").exists()  # safe loading: no Python object was constructed


@pytest.mark.parametrize(("arg", "expected"), [
    ("efficientnet_b9", ("'efficientnet_b9' is neither a zoo model nor a genome file", "did you mean 'efficientnet_b")),
    ("resnet49", ("'resnet49' is neither a zoo model nor a genome file", "did you mean 'resnet")),
    ("", ("'' is neither a zoo model nor a genome file",)),
])
def test_unknown_model_name_suggests_zoo_names(capsys: pytest.CaptureFixture[str], arg: str,
                                               expected: tuple[str, ...]) -> None:
    code = main([arg])
    assert_one_line_error(code, capsys.readouterr().err, *expected)


def test_directory_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main([str(tmp_path)])
    assert_one_line_error(code, capsys.readouterr().err, str(tmp_path), "directory")


@pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5"])
def test_bad_resolution_is_a_usage_error(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert main([SMALL, "--resolution", value]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert f"argument -r/--resolution: must be an integer from 1 to 10,000, got {value!r}" in err


def test_module_entry_point_and_exit_codes(tmp_path: Path) -> None:
    good = subprocess.run([sys.executable, "-m", "nas.info", SMALL, "--json", "-r", "128"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)[0]["macs"] == ss.cost(ss.zoo.get(SMALL), 128).macs
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(_good().replace("block: mbconv", "block: mbconvv", 1))
    bad = subprocess.run([sys.executable, "-m", "nas.info", str(bad_file)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert bad.stdout == ""
    assert_one_line_error(bad.returncode, bad.stderr, str(bad_file), "stages[0].block")
