"""The search-vs-B0 experiment runs end to end (tiny settings) and resumes without redoing work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import search_vs_b0


@pytest.mark.slow
def test_experiment_searches_trains_three_models_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--out", str(tmp_path), "--trials", "2", "--epochs", "0.05", "--subset", "256", "--val-size", "128",
            "--latency-repeats", "2", "--plot", str(tmp_path / "plot.png"),
            *[x for k in ("steps=2", "subset=128", "val_size=64", "batch_size=32", "step_resolution=32",
                          "step_batch=4", "step_repeats=1") for x in ("--search-set", k)]]
    assert search_vs_b0.main(args) == 0
    out = capsys.readouterr().out
    assert "| found |" in out and "| efficientnet_b0 |" in out and "| mnasnet_a1 |" in out and "Goal" in out
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["name"] for r in rows] == ["found", "efficientnet_b0", "mnasnet_a1"]
    assert all(r["latency_ms"] > 0 and not r["failed"] for r in rows)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert search_vs_b0.main(args) == 0  # resumes: nothing is trained again
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3
