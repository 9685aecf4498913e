"""The example genome files under experiments/configs stay equal to the zoo entries they copy."""

from __future__ import annotations

from pathlib import Path

import pytest

import search_spaces as ss

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_equals_its_zoo_entry(path: Path) -> None:
    genome = ss.load(path)
    if genome.name in ss.zoo.names():
        assert genome == ss.zoo.get(genome.name)
