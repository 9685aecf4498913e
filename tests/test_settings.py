"""Typed settings: every evaluator and strategy declares its knobs once, and ``--set`` is checked against them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas import evaluators, settings, strategies
from nas.evaluators import RunContext
from nas.search.cli import main as search_main
from nas.settings import SettingError, knob
from scaling.compound_cli import main as compound_main
from tests.toy import ToyAccuracy  # noqa: F401  (registers the "toy" evaluator)

EVALUATOR_SETTINGS = {n: evaluators.get(n).settings for n in evaluators.names()}
STRATEGY_SETTINGS = {n: type(strategies.get(n)).settings for n in strategies.names()}
DECLARED = {f"{kind} {n}": cls for kind, table in (("evaluator", EVALUATOR_SETTINGS), ("strategy", STRATEGY_SETTINGS))
            for n, cls in table.items() if cls is not None}


@pytest.mark.parametrize("owner", sorted(DECLARED))
def test_every_knob_has_a_type_a_help_line_and_a_default_it_accepts(owner: str) -> None:
    cls = DECLARED[owner]
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    for k in settings.knobs(cls):
        assert k.help and k.type in (int, float, bool, str)
        assert k.parse(k.default) == k.default  # the default is a value of the knob
        assert k.name in settings.describe([settings.Owner("x", "y", cls)])
    cls()  # the defaults pass the class's own cross-checks


@pytest.mark.parametrize("owner", sorted(DECLARED))
def test_numbers_outside_a_knobs_bounds_and_words_for_numbers_are_refused_naming_the_knob(owner: str) -> None:
    for k in settings.knobs(DECLARED[owner]):
        bad = ["many"] if k.type in (int, float) else ["maybe"] if k.type is bool else []
        if k.type in (int, float) and k.high is not None:
            bad.append(str(k.high * 10 + 1))
        if k.type in (int, float) and k.low is not None:
            bad.append(str(k.low - 1))
        for value in bad:
            with pytest.raises(SettingError, match=f"'{k.name}'"):
                k.parse(value)


def test_a_strategy_knob_never_shares_its_name_with_an_evaluator_knob() -> None:
    """``--set`` is one namespace: a shared name could not say whom it is for."""
    evaluator_knobs = {k.name for cls in EVALUATOR_SETTINGS.values() if cls for k in settings.knobs(cls)}
    for name, cls in STRATEGY_SETTINGS.items():
        shared = {k.name for k in settings.knobs(cls)} & evaluator_knobs if cls else set()
        assert not shared, f"strategy {name} declares {shared}, which evaluators declare too"


def test_evaluators_that_share_a_knob_agree_on_its_type() -> None:
    seen: dict[str, tuple[type, bool]] = {}
    for cls in filter(None, EVALUATOR_SETTINGS.values()):
        for k in settings.knobs(cls):
            assert seen.setdefault(k.name, (k.type, k.optional)) == (k.type, k.optional), k.name


def test_text_from_the_command_line_is_typed_by_the_knob() -> None:
    from nas.evaluators.train import TrainSettings

    s = settings.resolve(TrainSettings, {"epochs": "1", "steps": "3", "optimizer": "adamw", "eval_resolution": "fixres",
                                         "progressive": "efficientnetv2_s", "batch_size": 64})
    assert (s.epochs, s.steps, s.optimizer, s.eval_resolution, s.batch_size) == (1.0, 3, "adamw", "fixres", 64)
    assert isinstance(s.epochs, float) and isinstance(s.steps, int)
    with pytest.raises(SettingError, match="'steps' must be an integer"):
        settings.resolve(TrainSettings, {"steps": "2.5"})
    with pytest.raises(SettingError, match="did you mean 'adamw'"):
        settings.resolve(TrainSettings, {"optimizer": "adamz"})


def test_a_settings_class_cross_checks_its_knobs() -> None:
    from nas.evaluators.train import TrainSettings

    with pytest.raises(settings.UserInputError, match="epochs > 0 or steps > 0"):
        settings.resolve(TrainSettings, {"epochs": "0"})


def test_a_field_without_a_knob_declaration_is_a_bug_found_at_once() -> None:
    @dataclasses.dataclass(frozen=True)
    class Broken:
        fine: int = knob(1, "a knob")
        plain: int = 2

    with pytest.raises(TypeError, match="plain"):
        settings.knobs(Broken)


def test_unknown_and_unused_keys_name_their_close_matches_or_their_evaluator() -> None:
    train, cost = (settings.Owner("evaluator", n, EVALUATOR_SETTINGS[n]) for n in ("train", "cost"))
    zero = settings.Owner("evaluator", "zero-cost", EVALUATOR_SETTINGS["zero-cost"])
    with pytest.raises(SettingError, match="unknown setting 'epochz'; did you mean 'epochs'"):
        settings.check({"epochz": "5"}, [cost, train], [zero])
    with pytest.raises(SettingError, match="'zero_cost_batch' is read by evaluator 'zero-cost', which this run does"):
        settings.check({"zero_cost_batch": "8"}, [cost, train], [zero])
    with pytest.raises(SettingError, match="given twice"):
        settings.parse_pairs(["epochs=1", "epochs=2"])


def test_the_run_context_hands_each_evaluator_its_typed_settings_with_defaults() -> None:
    from nas.evaluators.train import TrainSettings
    from nas.evaluators.zero_cost import ZeroCostSettings

    ctx = RunContext(budget={"epochs": "3", "zero_cost_batch": "8"})
    assert ctx.settings(TrainSettings).epochs == 3.0 and ctx.settings(TrainSettings).subset == 6000
    assert ctx.settings(ZeroCostSettings).zero_cost_batch == 8
    assert ctx.settings(TrainSettings) is ctx.settings(TrainSettings)  # resolved once


def test_strategy_options_are_its_knobs() -> None:
    assert strategies.get("evolution", population_size="12").options.population_size == 12
    assert strategies.get("tpe").options.startup_trials == 10
    with pytest.raises(SettingError, match="unknown setting 'populaton_size'; did you mean 'population_size'"):
        strategies.get("evolution", populaton_size=12)
    with pytest.raises(SettingError, match="strategy 'random'"):
        strategies.get("random", population_size=12)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--set", "epochz=5"], "unknown setting 'epochz'; did you mean 'epochs'?"),
    (["--set", "epochs=many"], "setting 'epochs' must be a number"),
    (["--set", "zero_cost=naswot"], "read by evaluator 'zero-cost', which this run does not use"),
    (["--strategy", "evolution", "--set", "population_size=0"], "setting 'population_size' must be an integer"),
    (["--strategy", "tpe", "--set", "population_size=10"], "which this run does not use"),
    (["--set", "optimizer=adamz"], "did you mean 'adamw'"),
])
def test_a_bad_setting_stops_a_search_before_anything_is_written(extra: list[str], needle: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert search_main(["--space", "mbconv", "--budget", "400M", "--out", str(out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_bad_setting_stops_the_compound_grid_before_anything_is_written(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "family"
    assert compound_main(["--base", "efficientnet_b0", "--grid", "--set", "epochz=1", "--out", str(out),
                          "--quiet"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err and not out.exists()


def test_help_settings_lists_the_knobs_of_the_chosen_evaluators_and_strategy() -> None:
    proc = subprocess.run([sys.executable, "-m", "nas.search", "--strategy", "evolution", "--help-settings"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for words in ("evaluator train:", "epochs = 2.0", "strategy evolution:", "population_size", "train-step"):
        assert words in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "nas.evaluate", "--evaluator", "zero-cost", "--help-settings"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "zero_cost_batch = 64" in proc.stdout and "train:" not in proc.stdout


def test_found_yaml_records_every_resolved_setting_and_a_strategy_knob_takes_effect(tmp_path: Path) -> None:
    assert search_main(["--space", "mbconv", "--budget", "400M", "--reward", "flops", "--evaluator", "synthetic",
                        "--strategy", "evolution", "--set", "population_size=3", "--set", "synthetic_seconds=0",
                        "--trials", "4", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    recorded = yaml.safe_load((tmp_path / "found.yaml").read_text())["meta"]["search"]["settings"]
    assert recorded["strategy evolution"]["population_size"] == 3
    assert recorded["evaluator synthetic"] == {"synthetic_seconds": 0.0}
    assert recorded["evaluator cost"] == {"cost_resolution": None}
