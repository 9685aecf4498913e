"""Each block type declares the stage fields it reads; a stage sets no other, so none is silently ignored."""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

import pytest

import search_spaces as ss
from search_spaces import GenomeError, Network, Stage
from search_spaces.blocks import BLOCKS, BlockType
from search_spaces.genome import COMMON_STAGE_FIELDS
from search_spaces.layers import Plan
from search_spaces.testing import FIELDS, random_genotype, random_network

#: Other values to try for each stage field (a field absent here is one every block type reads).
OTHER_VALUES: dict[str, tuple[Any, ...]] = {
    **{name: tuple(dict.fromkeys(values)) for name, values in FIELDS.items()},
    "cell": (random_genotype(random.Random(0)),),
    "branches": ((4, 4, 4, 4), (8, 8, 8, 8, 8, 8)),
    "edges": (("nor_conv_3x3",) * 6, ("skip_connect", "avg_pool_3x3", "nor_conv_1x1")),
}


def _changed(genome: Network, index: int, name: str, value: Any) -> Network:
    """``genome`` with stage ``index``'s field ``name`` set to ``value``, past the refusal of unread fields."""
    stage = copy.copy(genome.stages[index])
    object.__setattr__(stage, name, value)
    return dataclasses.replace(genome, stages=genome.stages[:index] + (stage,) + genome.stages[index + 1:])


def _edits(block: str, names: list[str], seeds: range) -> Any:
    """``(field, genome, resolved stages, the genome with that field of a stage of ``block`` changed)``."""
    for seed in seeds:
        genome = random_network(seed, blocks=(block,))
        before = ss.resolve(genome).stages
        for i, stage in enumerate(genome.stages):
            if stage.block != block:
                continue
            for name in names:
                for value in OTHER_VALUES[name]:
                    if value != getattr(stage, name):
                        yield name, before, _changed(genome, i, name, value)


def test_every_stage_field_is_common_or_has_values_to_draw() -> None:
    assert set(OTHER_VALUES) | set(COMMON_STAGE_FIELDS) == {f.name for f in dataclasses.fields(Stage)}


@pytest.mark.parametrize("block", BLOCKS.names())
def test_a_field_its_block_type_does_not_declare_never_changes_a_stage(block: str) -> None:
    reads = set(COMMON_STAGE_FIELDS) | set(BLOCKS.get(block).stage_fields)
    unread = [name for name in OTHER_VALUES if name not in reads]
    for name, before, changed in _edits(block, unread, range(3)):
        assert ss.resolve(changed).stages == before, name


@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_field_its_block_type_declares_is_read(block: str) -> None:
    unseen = set(BLOCKS.get(block).stage_fields)
    for name, before, changed in _edits(block, sorted(unseen), range(8)):
        if name in unseen:
            try:
                if ss.resolve(changed).stages != before:
                    unseen.discard(name)
            except GenomeError:  # refused: read all the same
                unseen.discard(name)
    assert not unseen


def test_a_field_the_block_does_not_read_is_refused_not_ignored() -> None:
    with pytest.raises(GenomeError, match=r"^growth is not read by block 'mbconv' \(it reads kernel, expand, "
                                          r"mid_channels, se, act, skip\); leave it out or at its default 0, got 4$"):
        Stage("mbconv", 1, 16, growth=4)
    text = ("name: x\nstem: {channels: 8}\nstages:\n- {block: conv, depth: 1, channels: 8}\n"
            "- {block: van_norm, depth: 1, channels: 8, act: relu}\n")
    with pytest.raises(GenomeError, match=r"^f\.yaml: stages\[1\]\.act is not read by block 'van_norm' \(it reads "
                                          r"only block, depth, channels, stride\); leave it out or at its default '', "
                                          r"got 'relu'$"):
        ss.from_yaml(text, "f.yaml")


def test_channels_is_required_of_every_stage_but_free_where_the_width_follows_the_input() -> None:
    genome = ss.zoo.get("googlenet")
    assert {s.channels for s in genome.stages if s.block == "pool_ceil"} == {1}  # as the zoo records it
    widened = dataclasses.replace(genome, stages=tuple(dataclasses.replace(s, channels=999) if s.block == "pool_ceil"
                                                       else s for s in genome.stages))
    assert ss.resolve(widened).stages == ss.resolve(genome).stages
    with pytest.raises(TypeError):
        Stage("pool", 1)  # type: ignore[call-arg]


class _Declares(BlockType):
    def resolve(self, stage: Stage, ctx: Any) -> Any:
        raise NotImplementedError

    def plan(self, spec: Any) -> Plan:
        raise NotImplementedError


@pytest.mark.parametrize(("fields", "se_bases", "message"), [
    (("colour",), (), r"stage_fields names no stage field: \['colour'\]"),
    (("channels",), (), r"stage_fields names no stage field: \['channels'\]"),  # every block type reads it
    (("se",), (), "se_bases must be given exactly when 'se' is a stage field"),
    (("kernel",), ("in",), "se_bases must be given exactly when 'se' is a stage field"),
])
def test_a_block_type_must_declare_real_fields_to_register(fields: tuple[str, ...], se_bases: tuple[str, ...],
                                                           message: str) -> None:
    kind = type("Bad", (_Declares,), {"stage_fields": fields, "se_bases": se_bases})()
    with pytest.raises(ValueError, match=message):
        BLOCKS.register("bad_block", kind)
    assert "bad_block" not in BLOCKS
