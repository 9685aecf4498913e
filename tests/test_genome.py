"""Genomes are plain data: validated on construction, exact through YAML, errors name file and field."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
import yaml

import search_spaces as ss
from search_spaces import GenomeError, Network, Stage, Stem, spaces, zoo
from search_spaces.blocks import BLOCKS
from search_spaces.genome import COMMON_STAGE_FIELDS
from search_spaces.testing import random_network

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("short", [True, False], ids=["short", "long"])
@pytest.mark.parametrize("name", zoo.names())
def test_zoo_genomes_round_trip_through_yaml_exactly(name: str, short: bool, tmp_path: Path) -> None:
    genome = zoo.get(name)
    assert ss.from_yaml(ss.to_yaml(genome, short=short)) == genome
    path = ss.dump(genome, tmp_path / f"{name}.yaml")
    assert ss.load(path) == genome
    assert hash(ss.load(path)) == hash(genome)


@pytest.mark.parametrize("short", [True, False], ids=["short", "long"])
@pytest.mark.parametrize("seed", range(50))
def test_random_genomes_round_trip_through_yaml_exactly(seed: int, short: bool) -> None:
    genome = random_network(seed)
    again = ss.from_yaml(ss.to_yaml(genome, short=short))
    assert again == genome
    assert [type(getattr(s, "expand")) for s in again.stages] == [float] * len(genome.stages)


@pytest.mark.parametrize("short", [True, False], ids=["short", "long"])
@pytest.mark.parametrize("space", spaces.names())
def test_space_samples_round_trip_through_yaml_exactly(space: str, short: bool) -> None:
    for seed in range(10):
        genome = spaces.get(space).sample(seed)
        assert ss.from_yaml(ss.to_yaml(genome, short=short)) == genome


def _written(genome: Network) -> dict:
    return yaml.safe_load(ss.to_yaml(genome))


@pytest.mark.parametrize("genome", [zoo.get(name) for name in zoo.names()] + [random_network(s) for s in range(20)],
                         ids=lambda g: g.name)
def test_a_written_stage_holds_only_fields_its_block_reads_away_from_their_defaults(genome: Network) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(Stage)}
    for stage in _written(genome)["stages"]:
        reads = set(COMMON_STAGE_FIELDS) | set(BLOCKS.get(stage["block"]).stage_fields)
        assert set(stage) <= reads, stage["block"]
        assert not any(k in defaults and v == defaults[k] for k, v in stage.items() if k != "block"), stage


def test_written_genomes_leave_defaults_out_everywhere() -> None:
    assert ss.to_yaml(zoo.get("efficientnet_b0")) == (
        "name: efficientnet_b0\n"
        "stem: {channels: 32}\n"
        "stages:\n"
        "- {block: ds, depth: 1, channels: 16, se: 0.25}\n"
        "- {block: mbconv, depth: 2, channels: 24, stride: 2, expand: 6, se: 0.25}\n"
        "- {block: mbconv, depth: 2, channels: 40, stride: 2, kernel: 5, expand: 6, se: 0.25}\n"
        "- {block: mbconv, depth: 3, channels: 80, stride: 2, expand: 6, se: 0.25}\n"
        "- {block: mbconv, depth: 3, channels: 112, kernel: 5, expand: 6, se: 0.25}\n"
        "- {block: mbconv, depth: 4, channels: 192, stride: 2, kernel: 5, expand: 6, se: 0.25}\n"
        "- {block: mbconv, depth: 1, channels: 320, expand: 6, se: 0.25}\n"
        "head: {dropout: 0.2}\n"
        "act: swish\n"
        "drop_path: 0.2\n"
        "norm: {eps: 0.001, momentum: 0.01}\n"
        "quirks: {padding: same}\n")
    assert "head" not in _written(dataclasses.replace(zoo.get("efficientnet_b0"), head=ss.Head()))


def test_the_long_form_lists_every_field_and_loads_to_the_same_genome() -> None:
    genome = zoo.get("mobilenet_v3_large")
    data = yaml.safe_load(ss.to_yaml(genome, short=False))
    assert all(set(stage) == {f.name for f in dataclasses.fields(Stage)} for stage in data["stages"])
    assert set(data["quirks"]) == {f.name for f in dataclasses.fields(ss.Quirks)}
    assert ss.from_dict(data) == genome


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_are_written_in_the_short_form(path: Path) -> None:
    genome, meta = ss.load_with_meta(path)
    assert path.read_text() == ss.to_yaml(genome, meta)


def test_same_seed_gives_same_random_genome() -> None:
    assert random_network(7) == random_network(7)
    assert random_network(7) != random_network(8)


def test_genomes_are_frozen_hashable_and_picklable() -> None:
    genome = zoo.get("efficientnet_b0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        genome.resolution = 256  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(genome)) == genome
    assert len({genome, dataclasses.replace(genome, name="efficientnet_b0")}) == 1


def test_ints_given_for_float_fields_are_normalised() -> None:
    stage = Stage("mbconv", depth=1, channels=16, expand=6, se=0)
    assert isinstance(stage.expand, float) and isinstance(stage.se, float)


def test_meta_travels_beside_the_genome(tmp_path: Path) -> None:
    genome = zoo.get("mnasnet_a1")
    meta = {"reward": 0.71, "trial": 12, "space": "mbconv"}
    ss.dump(genome, tmp_path / "found.yaml", meta=meta)
    loaded, loaded_meta = ss.load_with_meta(tmp_path / "found.yaml")
    assert loaded == genome and loaded_meta == meta


def test_dump_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    ss.dump(zoo.get("mobilenet_v2"), tmp_path / "a.yaml")
    ss.dump(zoo.get("mobilenet_v3_small"), tmp_path / "a.yaml")
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]
    assert ss.load(tmp_path / "a.yaml").name == "mobilenet_v3_small"


def _mutated(edit) -> str:  # noqa: ANN001
    data = ss.to_dict(zoo.get("mobilenet_v2"))
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["stages"][2].__setitem__("channels", -8), r"bad\.yaml: stages\[2\]\.channels must be a positive integer, got -8"),
    (lambda d: d["stages"][0].__setitem__("channels", 0), r"stages\[0\]\.channels must be a positive integer, got 0"),
    (lambda d: d["stages"][1].__setitem__("block", "mbconf"), r"stages\[1\]\.block: unknown block type 'mbconv?f'; did you mean 'mbconv'"),
    (lambda d: d["stages"][1].pop("channels"), r"stages\[1\] is missing required field 'channels'"),
    (lambda d: d["stages"][1].__setitem__("chanels", 3), r"stages\[1\] has unknown field 'chanels' \(did you mean 'channels'\?\)"),
    (lambda d: d.pop("stem"), r"bad\.yaml: the network is missing required field 'stem'"),
    (lambda d: d.__setitem__("act", "swsh"), r"act: unknown activation 'swsh'; did you mean 'swish'"),
    (lambda d: d["stem"].__setitem__("kernel", 4), r"stem\.kernel must be an odd kernel size, got 4"),
    (lambda d: d.__setitem__("stages", []), r"stages must be a non-empty list"),
    (lambda d: d["quirks"].__setitem__("padding", "valid"), r"quirks\.padding must be one of symmetric, same"),
    (lambda d: d["stages"][3].__setitem__("depth", "4"), r"stages\[3\]\.depth must be an integer, got '4'"),
    (lambda d: d["head"].__setitem__("dropout", 1.5), r"head\.dropout must be < 1\.0"),
    (lambda d: d.__setitem__("width_mult", float("nan")), r"width_mult must be a finite number"),
])
def test_bad_fields_are_named_with_file_and_path(edit, expected: str) -> None:  # noqa: ANN001
    with pytest.raises(GenomeError, match=expected):
        ss.from_yaml(_mutated(edit), source="bad.yaml")


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\nstages: [\n", r"f\.yaml: malformed YAML at line \d+"),
    ("- 1\n- 2\n", r"f\.yaml: the top level must be a mapping"),
    ("!!python/object/apply:os.system ['echo hi']\n", r"f\.yaml: refused YAML tag at line 1 .*python/object"),
    ("", r"f\.yaml: the file is empty"),
])
def test_unparsable_or_unsafe_yaml_is_refused(text: str, expected: str) -> None:
    with pytest.raises(GenomeError, match=expected):
        ss.from_yaml(text, source="f.yaml")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GenomeError, match="nope.yaml: no such file"):
        ss.load(tmp_path / "nope.yaml")


def test_direct_construction_validates_too() -> None:
    with pytest.raises(GenomeError, match="channels must be a positive integer"):
        Stem(channels=0)
    with pytest.raises(GenomeError, match="stages must be a non-empty list"):
        Network(name="x", stem=Stem(channels=8), stages=())
