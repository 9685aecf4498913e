"""The fidelity study resumes without redoing finished evaluations, and reports rank correlations."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.fidelity import _main, candidates

TINY = ["--genomes", "3", "--subset", "256", "--val-size", "128", "--batch-size", "64", "--resolution", "16",
        "--short-epochs", "0.25", "--long-epochs", "0.5"]


def test_candidates_lie_in_the_macs_band() -> None:
    from search_spaces import cost

    for _, genome in candidates(3, 0.10):
        assert 360e6 <= cost(genome).macs <= 440e6


def test_study_resumes_and_reports(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fid.jsonl"
    assert _main([*TINY, "--only", "short", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 3
    assert _main([*TINY, "--only", "short,long", "--out", str(out)]) == 0  # only the missing kind runs
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["seed"], r["kind"]) for r in records) == sorted(
        (seed, kind) for seed, _ in candidates(3, 0.10) for kind in ("short", "long"))
    capsys.readouterr()
    assert _main([*TINY, "--report", "--out", str(out), "--plot", str(tmp_path / "f.png")]) == 0
    text = capsys.readouterr().out
    assert "| train 0.25 epoch | 3 |" in text and (tmp_path / "f.png").is_file()
