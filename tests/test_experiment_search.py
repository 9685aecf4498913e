"""The search-vs-B0 experiment runs end to end (tiny settings) and resumes without redoing work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import search_vs_b0

TINY = ["--trials", "3", "--epochs", "0.05", "--subset", "256", "--val-size", "128", "--latency-repeats", "2",
        "--top", "2", "--seeds", "2", "--jobs", "1", "--reward", "flops-hard",
        *[x for k in ("steps=2", "subset=128", "val_size=64", "batch_size=32")
          for x in ("--search-set", k)]]


@pytest.mark.slow
def test_experiment_selects_on_held_out_images_and_reports_on_the_test_split(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--out", str(tmp_path), "--plot", str(tmp_path / "plot.png"), *TINY]
    assert search_vs_b0.main(args) == 0
    out = capsys.readouterr().out
    assert "| efficientnet_b0 |" in out and "| mnasnet_a1 |" in out and "(picked)" in out and "Goal" in out
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    select = [r for r in rows if r["step"] == "select"]
    final = [r for r in rows if r["step"] == "final"]
    assert 1 <= len(select) <= 2 and all(r["split"] == "val" and r["seed"] == 0 for r in select)
    assert len(final) == 3 * 2 and all(r["split"] == "test" and r["seed"] in (1, 2) for r in final)
    assert {r["genome"] for r in final} >= {"efficientnet_b0", "mnasnet_a1"}
    timed = {r["genome"] for r in rows if r["step"] == "latency"}
    assert timed == {r["genome"] for r in select} | {"efficientnet_b0", "mnasnet_a1"}
    assert all(r["latency_ms"] > 0 for r in rows if r["step"] == "latency")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert search_vs_b0.main(args) == 0  # resumes: nothing is trained or timed again
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == len(rows)
    # A second experiment sharing the rows file: the references' trainings (same recipe, same seeds) are
    # reused; everything is timed again (latencies compare only within one sitting).
    assert search_vs_b0.main(["--out", str(tmp_path / "again"), "--rows", str(tmp_path / "rows.jsonl"), *TINY]) == 0
    added = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()][len(rows):]
    assert not {r["genome"] for r in added if r["step"] != "latency"} & {"efficientnet_b0", "mnasnet_a1"}
    assert {r["genome"] for r in added if r["step"] == "latency"} >= {"efficientnet_b0", "mnasnet_a1"}


def test_bad_counts_are_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert search_vs_b0.main(["--out", str(tmp_path), "--top", "0"]) == 2
    assert capsys.readouterr().err.strip() == "experiments/search_vs_b0.py: error: --top must be at least 1, got 0"


@pytest.mark.parametrize(("found", "strict"), [
    ({"accuracy": 0.84, "macs": 180e6, "latency_ms": 10.0}, "Stricter goal met"),  # matches at half the MACs
    ({"accuracy": 0.839, "macs": 180e6, "latency_ms": 10.0}, "Stricter goal not met"),  # just below B0's mean
    ({"accuracy": 0.84, "macs": 250e6, "latency_ms": 10.0}, "Stricter goal not met"),  # above half the MACs
    ({"accuracy": 0.86, "macs": 380e6, "latency_ms": 16.0}, "Stricter goal met"),  # beats by > 2 standard errors
    ({"accuracy": 0.86, "macs": 380e6, "latency_ms": 18.0}, "Stricter goal not met"),  # but slower
])
def test_the_verdict_states_both_forms_of_the_goal(found: dict, strict: str) -> None:
    b0 = {"accuracy": 0.84, "macs": 386e6, "latency_ms": 17.0, "sd": 0.01, "runs": [0.0] * 5}
    lines = search_vs_b0._verdict({**found, "sd": 0.01, "runs": [0.0] * 5}, b0).splitlines()
    assert len(lines) == 2 and lines[0].startswith("Goal ") and lines[1].startswith(strict + ":")
