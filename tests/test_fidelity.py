"""The fidelity study resumes without redoing finished evaluations, and reports rank correlations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.fidelity import _main, candidates, traits
from search_spaces import cost, spaces, zoo

TINY = ["--genomes", "3", "--subset", "256", "--val-size", "128", "--batch-size", "64", "--resolution", "16",
        "--short-epochs", "0.25", "--long-epochs", "0.5"]


def test_candidates_lie_in_the_macs_band() -> None:
    for _, genome in candidates(3, 0.10):
        assert 360e6 <= cost(genome).macs <= 440e6


def test_candidates_restricted_to_ops_are_the_same_draws_with_the_others_skipped() -> None:
    kept = ("mbconv3", "mbconv6")
    chosen = candidates(3, 0.10, kept)
    space = spaces.get("mbconv")
    for seed, genome in chosen:
        assert genome == space.sample(seed) and 360e6 <= cost(genome).macs <= 440e6
        assert all(s.block == "mbconv" for s in genome.stages)
    skipped = range(chosen[0][0])  # every earlier seed's draw uses another op or lies outside the band
    assert all(any(s.block != "mbconv" for s in space.sample(seed).stages)
               or not 360e6 <= cost(space.sample(seed)).macs <= 440e6 for seed in skipped)


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
    assert _main([*TINY, "--report", "--out", str(out), "--traits"]) == 0
    table = capsys.readouterr().out.split("| trait | reference | train 0.25 epoch |")[1].splitlines()
    assert [line.split(" | ")[0] for line in table[2:9]] == [f"| {t}" for t in traits(candidates(1, 0.10)[0][1])]
    assert all(-1 <= float(cell) <= 1 for line in table[2:9] for cell in line.strip(" |").split(" | ")[1:])


def test_traits_count_what_the_genome_holds() -> None:
    t = traits(zoo.get("efficientnet_b0"))  # 16 blocks in 7 stages, SE and a skip in every one
    assert (t["layers"], t["SE stages"], t["skip stages"]) == (16, 7, 7)
    assert t["mean kernel"] == pytest.approx(27 / 7) and t["mean expansion"] == pytest.approx(37 / 7)
    assert t["MACs"] == pytest.approx(386e6, rel=0.01) and t["params"] == pytest.approx(5.29e6, rel=0.01)


def test_the_supernet_kind_scores_the_same_genomes_from_a_trained_supernet(tmp_path: Path, tiny_supernet: Path,
                                                                           capsys) -> None:
    out = tmp_path / "fid.jsonl"
    assert _main([*TINY, "--only", "long", "--long-epochs", "0.1", "--out", str(out)]) == 0
    assert _main([*TINY, "--only", "supernet", "--supernet", str(tiny_supernet), "--supernet-calibration", "16",
                  "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    scored = [r for r in records if r["kind"] == "supernet"]
    assert len(scored) == 3 and all(not r["failed"] and 0 <= r["accuracy"] <= 1 for r in scored)
    capsys.readouterr()
    assert _main([*TINY, "--report", "--long-epochs", "0.1", "--out", str(out)]) == 0
    assert "| supernet | 3 |" in capsys.readouterr().out


def test_the_supernet_kind_needs_a_supernet(tmp_path: Path) -> None:
    import pytest

    from search_spaces.errors import UserInputError

    with pytest.raises(UserInputError, match="needs --supernet DIR"):
        _main([*TINY, "--only", "supernet", "--out", str(tmp_path / "f.jsonl")])


def test_another_train_seed_retrains_the_same_genomes_and_records_the_seed(tmp_path: Path) -> None:
    runs = {}
    for train_seed in (0, 1):
        out = tmp_path / f"s{train_seed}.jsonl"
        assert _main([*TINY, "--only", "short", "--train-seed", str(train_seed), "--out", str(out)]) == 0
        runs[train_seed] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seed"] for r in runs[0]] == [r["seed"] for r in runs[1]]  # the same genomes
    assert "train_seed" not in runs[0][0]["budget"] and runs[1][0]["budget"]["train_seed"] == 1
    assert all(not r["failed"] for r in runs[0] + runs[1])
    assert [r["extra"]["train_loss"] for r in runs[0]] != [r["extra"]["train_loss"] for r in runs[1]]


def test_a_replicated_reference_reports_its_own_agreement_and_the_ceiling(tmp_path: Path, capsys) -> None:
    first, second = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl"
    assert _main([*TINY, "--genomes", "4", "--only", "short,long", "--out", str(first)]) == 0
    assert _main([*TINY, "--genomes", "4", "--only", "long", "--train-seed", "1", "--out", str(second)]) == 0
    capsys.readouterr()
    assert _main([*TINY, "--report", "--out", str(first), "--replicate", str(second)]) == 0
    text = capsys.readouterr().out
    assert f"({second}, 4 genomes in both)" in text and "Ceiling for any estimate's Spearman" in text
    row = next(line for line in text.splitlines() if line.startswith("| train 0.25 epoch | 4 |") and line.count("|") == 6)
    assert all(-1 <= float(cell) <= 1 for cell in row.strip(" |").split(" | ")[2:])


def test_a_replicate_without_the_same_genomes_is_refused(tmp_path: Path) -> None:
    from search_spaces.errors import UserInputError

    first, other = tmp_path / "s0.jsonl", tmp_path / "other.jsonl"
    assert _main([*TINY, "--only", "short,long", "--out", str(first)]) == 0
    other.write_text("")
    with pytest.raises(UserInputError, match="needs the reference"):
        _main([*TINY, "--report", "--out", str(first), "--replicate", str(other)])
