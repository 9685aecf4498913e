"""Scaling: compound scaling (B0 -> B7), the alpha/beta/gamma grid search, stage-wise scaling (V2-S -> M/L), CLIs."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import optuna
import pytest

import search_spaces as ss
from nas.evaluators import RunContext
from nas.evaluators import train as train_mod
from scaling import compound_cli, stagewise_cli
from scaling.compound import PAPER, compound, flops_factor, official, official_row
from scaling.grid import feasible_triples
from scaling.stagewise import V2_RULE, depth_multipliers, stagewise
from search_spaces import zoo
from search_spaces.errors import UserInputError
from nas.search.view import counts
from tests.toy import CALLS, INTERRUPT_AT

B0 = zoo.get("efficientnet_b0")
V2_S = zoo.get("efficientnetv2_s")


# ---------------------------------------------------------------------- compound scaling


@pytest.mark.parametrize("phi", range(8))
def test_official_table_from_b0_gives_the_zoo_family_exactly(phi: int) -> None:
    member = official(B0, phi, name=f"efficientnet_b{phi}")
    assert member == zoo.get(f"efficientnet_b{phi}")
    assert ss.cost(member) == ss.cost(zoo.get(f"efficientnet_b{phi}"))


def test_official_table_scales_another_base_by_the_same_rows() -> None:
    base = dataclasses.replace(B0, name="small", width_mult=0.5, resolution=112)
    b4 = official(base, 4)
    width, depth, resolution, dropout = official_row(4)
    assert b4.width_mult == 0.5 * width and b4.depth_mult == depth and b4.head.dropout == dropout
    assert b4.resolution == 192  # 112 * 380 / 224 = 190, rounded half up to a multiple of 4


def test_compound_formula_scales_depth_width_resolution_by_powers_of_phi() -> None:
    a, b, g = PAPER
    scaled = compound(B0, 3, a, b, g)
    assert scaled.depth_mult == pytest.approx(a ** 3) and scaled.width_mult == pytest.approx(b ** 3)
    assert scaled.resolution == 340  # 224 * 1.15^3 = 340.7, nearest multiple of 4
    assert compound(B0, 0, a, b, g).stages == B0.stages and compound(B0, 0, a, b, g).resolution == 224
    assert B0 == zoo.get("efficientnet_b0")  # the base is untouched


def test_compound_composes_with_the_bases_own_multipliers() -> None:
    base = dataclasses.replace(B0, width_mult=1.1, depth_mult=1.2)
    scaled = compound(base, 1, 1.2, 1.1, 1.15)
    assert scaled.width_mult == pytest.approx(1.21) and scaled.depth_mult == pytest.approx(1.44)


def test_paper_coefficients_grow_macs_about_two_per_phi() -> None:
    a, b, g = PAPER
    macs = [ss.cost(compound(B0, phi, a, b, g)).macs for phi in range(8)]
    per_phi = (macs[7] / macs[0]) ** (1 / 7)
    assert flops_factor(a, b, g) == pytest.approx(1.92, abs=1e-3)
    assert per_phi == pytest.approx(2.0, rel=0.1)
    assert all(1.6 < later / earlier < 2.4 for earlier, later in zip(macs[1:], macs[2:]))


def test_pure_formula_differs_from_the_official_table() -> None:
    a, b, g = PAPER
    formula, table = compound(B0, 1, a, b, g), zoo.get("efficientnet_b1")
    assert (formula.width_mult, formula.resolution) != (table.width_mult, table.resolution)
    assert ss.cost(formula).macs > ss.cost(table).macs


@pytest.mark.parametrize("bad", [0.0, -1.2, math.nan, math.inf])
def test_non_positive_or_non_finite_coefficients_are_refused(bad: float) -> None:
    with pytest.raises(UserInputError, match="must be a positive number"):
        compound(B0, 1, bad, 1.1, 1.15)


# ---------------------------------------------------------------------- grid search


def test_feasible_triples_keep_the_constraint_and_include_the_papers() -> None:
    triples = feasible_triples(1.0, 1.4, 0.05, 2.0, 0.1)
    assert triples and all(abs(t.flops_factor - 2.0) <= 0.1 + 1e-9 for t in triples)
    assert all(1.0 <= x <= 1.4 for t in triples for x in (t.alpha, t.beta, t.gamma))
    assert (1.2, 1.1, 1.15) in [(t.alpha, t.beta, t.gamma) for t in triples]
    gaps = [abs(t.flops_factor - 2.0) for t in triples]
    assert gaps == sorted(gaps)  # closest to the target first


def test_a_grid_with_no_feasible_triple_is_refused() -> None:
    with pytest.raises(UserInputError, match="no \\(alpha, beta, gamma\\)"):
        feasible_triples(1.0, 1.05, 0.05, 2.0, 0.01)


def _grid(tmp_path: Path, *extra: str) -> int:
    return compound_cli.main(["--base", "efficientnet_b0", "--grid", "--grid-range", "1.0:1.3", "--grid-step", "0.1",
                              "--tolerance", "0.15", "--evaluator", "toy", "--phi", "0-3", "--out", str(tmp_path),
                              "--quiet", "--no-plots", *extra])


def test_grid_search_records_every_triple_in_a_study_and_scales_with_the_best(tmp_path: Path) -> None:
    triples = feasible_triples(1.0, 1.3, 0.1, 2.0, 0.15)
    assert _grid(tmp_path) == 0
    study = optuna.load_study(study_name="efficientnet_b0-compound-grid",
                              storage=f"sqlite:///{tmp_path / 'grid' / 'study.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(study.trials) == len(triples) and len(done) == len(triples)
    assert {(t.params["alpha"], t.params["beta"], t.params["gamma"]) for t in study.trials} == {
        (t.alpha, t.beta, t.gamma) for t in triples}
    best = max(done, key=lambda t: t.value)
    phi3, meta = ss.codec.load_with_meta(tmp_path / "efficientnet_b0_phi3.yaml")
    assert meta["scaling"]["alpha"] == best.params["alpha"] and meta["scaling"]["grid"]["trial"] == best.number
    assert phi3 == compound(B0, 3, best.params["alpha"], best.params["beta"], best.params["gamma"],
                            name="efficientnet_b0_phi3")
    assert ss.load(tmp_path / "grid" / "found.yaml") == compound(
        B0, 1, best.params["alpha"], best.params["beta"], best.params["gamma"],
        name=ss.load(tmp_path / "grid" / "found.yaml").name)


def test_grid_search_resumes_without_evaluating_a_triple_twice(tmp_path: Path) -> None:
    assert _grid(tmp_path) == 0
    first = len(CALLS)
    assert _grid(tmp_path, "--resume") == 0
    assert len(CALLS) == first  # everything was in the study already
    assert _grid(tmp_path) == 2  # starting over an existing study is refused


@pytest.mark.parametrize("interrupt_at", [1, 2, 4, 7])
def test_an_interrupted_grid_resumed_evaluates_every_feasible_triple_exactly_once(tmp_path: Path,
                                                                                interrupt_at: int) -> None:
    """Ctrl-C during the n-th evaluation, then --resume: each triple has one counted trial, none is left out."""
    triples = {(t.alpha, t.beta, t.gamma) for t in feasible_triples(1.0, 1.3, 0.1, 2.0, 0.15)}
    CALLS.clear()
    INTERRUPT_AT.append(interrupt_at)
    assert _grid(tmp_path) == 130
    INTERRUPT_AT.clear()
    assert _grid(tmp_path, "--resume") == 0
    study = optuna.load_study(study_name="efficientnet_b0-compound-grid",
                              storage=f"sqlite:///{tmp_path / 'grid' / 'study.db'}")
    counted = [t for t in study.trials if counts(t)]
    assert sorted((t.params["alpha"], t.params["beta"], t.params["gamma"]) for t in counted) == sorted(triples)
    assert all(t.state.name == "COMPLETE" for t in counted)


def test_grid_trains_the_proxy_at_the_scaled_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    class Stop(Exception):
        pass

    def loaders(data, device):  # noqa: ANN001, ANN202
        seen.append(data.resolution)
        raise Stop

    monkeypatch.setattr(train_mod, "loaders", loaders)
    scaled = compound(B0, 1, 1.0, 1.0, 1.25)  # 280 px
    for genome, budget in ((B0, {"reference_resolution": 224}), (scaled, {"reference_resolution": 224}),
                           (scaled, {})):
        with pytest.raises(Stop):
            train_mod.TrainEvaluator().run(genome, RunContext(budget={"resolution": 32, **budget}))
    assert seen == [32, 40, 32]


# ---------------------------------------------------------------------- stage-wise scaling


def test_official_v2_family_equals_the_zoo(tmp_path: Path) -> None:
    assert stagewise_cli.main(["--base", "efficientnetv2_s", "--official", "--out", str(tmp_path),
                               "--no-plots"]) == 0
    for name in ("efficientnetv2_m", "efficientnetv2_l"):
        genome, meta = ss.codec.load_with_meta(tmp_path / f"{name}.yaml")
        assert genome == zoo.get(name) and meta["scaling"]["official"] == name


@pytest.mark.parametrize(("phi", "official_name"), [(1, "efficientnetv2_m"), (2, "efficientnetv2_l")])
def test_stagewise_rule_lands_within_ten_percent_of_the_official_models(phi: int, official_name: str) -> None:
    ours, theirs = ss.cost(stagewise(V2_S, phi)), ss.cost(zoo.get(official_name))
    assert abs(ours.params / theirs.params - 1) <= 0.10
    assert abs(ours.macs / theirs.macs - 1) <= 0.10


def test_stagewise_grows_later_stages_more_and_caps_the_resolution() -> None:
    multipliers = depth_multipliers(6, V2_RULE.depth_first, V2_RULE.depth_last, 2)
    assert multipliers == sorted(multipliers) and multipliers[0] < multipliers[-1]
    big = stagewise(V2_S, 2)
    growth = [b.depth / a.depth for a, b in zip(V2_S.stages, big.stages)]
    assert growth[-1] > growth[0]
    assert big.resolution == 480 and stagewise(V2_S, 5).resolution == 480
    assert stagewise(V2_S, 0).stages == V2_S.stages


def test_stagewise_writes_depths_out_of_a_depth_multiplier() -> None:
    base = dataclasses.replace(V2_S, depth_mult=1.5)
    scaled = stagewise(base, 0)
    assert scaled.depth_mult == 1.0
    assert [s.depth for s in scaled.stages] == [math.ceil(1.5 * s.depth) for s in V2_S.stages]


# ---------------------------------------------------------------------- CLI outputs


def test_compound_cli_writes_loadable_members_a_table_and_a_plot(tmp_path: Path) -> None:
    assert compound_cli.main(["--base", "efficientnet_b0", "--official", "--out", str(tmp_path)]) == 0
    for phi in range(8):
        genome, meta = ss.codec.load_with_meta(tmp_path / f"efficientnet_b{phi}.yaml")
        assert genome == zoo.get(f"efficientnet_b{phi}")
        assert meta["scaling"]["phi"] == phi and meta["scaling"]["base"] == "zoo"
    rows = list(csv.DictReader((tmp_path / "family.csv").open()))
    assert [r["name"] for r in rows] == [f"efficientnet_b{phi}" for phi in range(8)]
    assert all(r["equals zoo"] == "yes" for r in rows)
    assert rows[4]["paper MACs"] == "4.2B" and int(rows[4]["MACs"]) == ss.cost(zoo.get("efficientnet_b4")).macs
    assert "| efficientnet_b7 | 7 |" in (tmp_path / "family.md").read_text()
    assert (tmp_path / "family.png").read_bytes()[:4] == b"\x89PNG"


def test_a_search_found_yaml_is_a_base_and_its_provenance_is_kept(tmp_path: Path) -> None:
    found = tmp_path / "found.yaml"
    base = dataclasses.replace(zoo.get("mnasnet_a1"), name="found")
    ss.codec.dump(base, found, {"search": {"space": "mbconv", "trial": 7}})
    out = tmp_path / "family"
    assert compound_cli.main(["--base", str(found), "--phi", "1-2", "--alpha", "1.2", "--beta", "1.1",
                              "--gamma", "1.15", "--out", str(out), "--no-plots"]) == 0
    genome, meta = ss.codec.load_with_meta(out / "found_phi2.yaml")
    assert genome == compound(base, 2, 1.2, 1.1, 1.15, name="found_phi2")
    assert meta["scaling"]["base"] == str(found) and meta["scaling"]["gamma"] == 1.15
    assert meta["base_meta"] == {"search": {"space": "mbconv", "trial": 7}}
    assert compound_cli.main(["--base", str(out / "found_phi2.yaml"), "--phi", "1", "--out", str(tmp_path / "again"),
                              "--no-plots"]) == 0  # a member is a valid base again


@pytest.mark.parametrize(("args", "needle"), [
    (["--alpha", "0", "--beta", "1.1", "--gamma", "1.15"], "--alpha must be a positive number"),
    (["--alpha", "1.2"], "--beta, --gamma missing"),
    (["--phi", "8"], "--phi must lie within 0-7"),
    (["--phi", "two"], "--phi must be an integer or a range"),
    (["--official", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15"], "cannot be combined"),
    (["--grid", "--grid-range", "1.0:1.05", "--tolerance", "0.01"], "no (alpha, beta, gamma) on the grid"),
    (["--grid", "--grid-range", "0.5"], "--grid-range must be LOW:HIGH"),
    (["--base", "no_such_model"], "is neither a zoo model nor a genome file"),
    (["--grid", "--quiet", "--set", "eval_split=test"], "would choose architectures on the test split"),
])
def test_compound_bad_input_is_one_sentence_and_exit_code_2(args: list[str], needle: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    argv = ["--base", "efficientnet_b0", "--out", str(tmp_path / "out"), "--no-plots", *args]
    if args[0] == "--base":
        argv = [*args, "--out", str(tmp_path / "out")]
    assert compound_cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_base_file_that_does_not_load_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "found.yaml"
    bad.write_text("stages: !!python/object/apply:os.system ['echo no']\n")
    assert compound_cli.main(["--base", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "refused YAML tag" in capsys.readouterr().err
    bad.write_text("name: x\nstages: [{block: mbconv, depth: -1}]\n")
    assert stagewise_cli.main(["--base", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--base", "efficientnet_b0", "--official"], "from efficientnetv2_s only"),
    (["--base", "efficientnetv2_s", "--official", "--phi", "0-3"], "--phi must lie within 0-2"),
    (["--base", "efficientnetv2_s", "--beta", "-1"], "--beta must be a positive number"),
])
def test_stagewise_bad_input_is_one_sentence_and_exit_code_2(args: list[str], needle: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    assert stagewise_cli.main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_sigterm_on_a_grid_exits_143_with_the_resume_command_and_the_resume_finishes_it(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "scaling.compound", "--base", "efficientnet_b0", "--grid", "--grid-range",
           "1.0:1.3", "--grid-step", "0.1", "--tolerance", "0.15", "--evaluator", "synthetic", "--set",
           "synthetic_seconds=1", "--phi", "0-1", "--out", str(tmp_path), "--quiet", "--no-plots"]
    proc = subprocess.Popen(cmd, cwd=root, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "grid" / "study.db").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)  # a few triples in
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Continue with: python -m scaling.compound" in err and "--resume" in err and "Traceback" not in err
    resumed = subprocess.run([*cmd, "--resume"], cwd=root, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "family.md").exists()
