"""EfficientNetV2 progressive learning (sec. 4.2, Algorithm 1, Table 6) and the FixRes test-size rule."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import search_spaces as ss
from nas.training import PRESETS, SIZE_RULES, ProgressiveSchedule, StageSettings, augmentations, fixres_resolution
from search_spaces.errors import UserInputError

#: Table 6 of the paper: (RandAugment, mixup alpha, dropout) at the first and last stage.
TABLE_6 = {
    "efficientnetv2_s": ((5, 0.0, 0.1), (15, 0.0, 0.3)),
    "efficientnetv2_m": ((5, 0.0, 0.1), (20, 0.2, 0.4)),
    "efficientnetv2_l": ((5, 0.0, 0.1), (25, 0.4, 0.5)),
}
#: The official code's per-stage train sizes (automl efficientnetv2/main.py, base 128, 4 stages).
OFFICIAL_SIZES = {
    "efficientnetv2_s": (171, 214, 257, 300),
    "efficientnetv2_m": (192, 256, 320, 384),
    "efficientnetv2_l": (192, 256, 320, 384),
}


def _regularisation(stage: StageSettings) -> tuple[float, float, float]:
    return stage.randaugment_magnitude, stage.mixup_alpha, stage.dropout


def test_presets_are_the_three_v2_models() -> None:
    assert PRESETS.names() == sorted(TABLE_6)


@pytest.mark.parametrize("name", sorted(TABLE_6))
def test_first_and_last_stage_regularisation_equal_table_6(name: str) -> None:
    schedule = ProgressiveSchedule.preset(name)
    first, last = schedule.settings(0), schedule.settings(schedule.stages - 1)
    assert (_regularisation(first), _regularisation(last)) == TABLE_6[name]
    assert schedule.min_image_size == 128 and last.image_size == schedule.max_image_size


@pytest.mark.parametrize("name", sorted(OFFICIAL_SIZES))
def test_image_sizes_follow_the_official_code(name: str) -> None:
    schedule = ProgressiveSchedule.preset(name)
    assert schedule.stages == 4 and schedule.size_rule == "official"
    assert tuple(s.image_size for s in schedule.plan()) == OFFICIAL_SIZES[name]


def test_paper_rule_includes_both_endpoints() -> None:
    schedule = dataclasses.replace(ProgressiveSchedule.preset("efficientnetv2_s"), size_rule="paper")
    assert [s.image_size for s in schedule.plan()] == [128, 185, 243, 300]


def test_regularisation_ramps_linearly_between_the_endpoints() -> None:
    schedule = ProgressiveSchedule.preset("efficientnetv2_l")
    assert [s.randaugment_magnitude for s in schedule.plan()] == pytest.approx([5, 5 + 20 / 3, 5 + 40 / 3, 25])
    assert [s.mixup_alpha for s in schedule.plan()] == pytest.approx([0, 0.4 / 3, 0.8 / 3, 0.4])


@settings(max_examples=60, deadline=None)
@given(stages=st.integers(1, 8), lo=st.integers(1, 400), extra=st.integers(0, 400),
       rule=st.sampled_from(SIZE_RULES.names()),
       dropout=st.tuples(st.floats(0, 0.9), st.floats(0, 0.9)).map(sorted),
       magnitude=st.tuples(st.floats(0, 30), st.floats(0, 30)).map(sorted))
def test_every_ramp_is_monotone_and_ends_at_its_maximum(stages: int, lo: int, extra: int, rule: str,
                                                        dropout: list[float], magnitude: list[float]) -> None:
    schedule = ProgressiveSchedule(stages=stages, epochs=10 * stages, min_image_size=lo, max_image_size=lo + extra,
                                   min_dropout=dropout[0], max_dropout=dropout[1], min_randaugment=magnitude[0],
                                   max_randaugment=magnitude[1], size_rule=rule)
    plan = schedule.plan()
    for field, lo_value, hi_value in (("image_size", lo, lo + extra), ("dropout", *dropout),
                                      ("randaugment_magnitude", *magnitude)):
        values = [getattr(s, field) for s in plan]
        assert values == sorted(values)
        assert lo_value <= values[0] and values[-1] == hi_value
    assert sum(s.epochs for s in plan) == schedule.epochs


def test_stages_split_350_epochs_as_the_official_code() -> None:
    schedule = ProgressiveSchedule.preset("efficientnetv2_s")
    assert [s.epochs for s in schedule.plan()] == [87, 88, 87, 88]
    assert [schedule.stage_start(i) for i in range(5)] == [0, 87, 175, 262, 350]


@pytest.mark.parametrize(("epoch", "stage"), [(0, 0), (86, 0), (86.99, 0), (87, 1), (174, 1), (175, 2), (262, 3),
                                              (349.5, 3)])
def test_stage_of_boundaries(epoch: float, stage: int) -> None:
    assert ProgressiveSchedule.preset("efficientnetv2_s").stage_of(epoch) == stage


@pytest.mark.parametrize("epoch", [-1, 350, 1000])
def test_stage_of_refuses_epochs_outside_training(epoch: float) -> None:
    with pytest.raises(UserInputError, match="epoch"):
        ProgressiveSchedule.preset("efficientnetv2_s").stage_of(epoch)


def test_proxy_schedule_scales_sizes_and_keeps_regularisation() -> None:
    full = ProgressiveSchedule.preset("efficientnetv2_s")
    proxy = full.scaled(32, epochs=8)
    assert (proxy.min_image_size, proxy.max_image_size) == (14, 32)  # 128 * 32 / 300 = 13.65
    assert [s.image_size for s in proxy.plan()] == [18, 23, 27, 32]
    assert [s.epochs for s in proxy.plan()] == [2, 2, 2, 2]
    assert [_regularisation(s) for s in proxy.plan()] == [_regularisation(s) for s in full.plan()]
    assert proxy.eval_image_size == 41  # 32 * 1.28 = 40.96
    assert full.scaled(32, min_image_size=16, stages=2, epochs=2).plan()[0].image_size == 24


@pytest.mark.parametrize("stage", range(4))
def test_augmentations_carry_the_stage_magnitude_and_alpha(stage: int) -> None:
    from torchvision.transforms import v2

    settings_ = ProgressiveSchedule.preset("efficientnetv2_l").settings(stage)
    aug = augmentations(settings_, num_classes=10)
    assert isinstance(aug.image, v2.RandAugment)
    assert aug.image.magnitude == round(settings_.randaugment_magnitude) and aug.image.num_ops == 2
    if stage == 0:
        assert aug.batch is None  # alpha 0: no mixup
    else:
        assert isinstance(aug.batch, v2.MixUp)
        assert aug.batch.alpha == pytest.approx(settings_.mixup_alpha) and aug.batch.num_classes == 10


def test_no_augmentation_at_zero_magnitude_and_alpha() -> None:
    aug = augmentations(StageSettings(image_size=32, dropout=0.0, randaugment_magnitude=0, mixup_alpha=0.0, epochs=1))
    assert aug.image is None and aug.batch is None
    with pytest.raises(UserInputError, match="randaugment_magnitude"):
        augmentations(StageSettings(image_size=32, dropout=0.0, randaugment_magnitude=31, mixup_alpha=0.0, epochs=1))


def test_stage_settings_drive_the_training_loop_stage() -> None:
    from nas.training.loop import apply_stage

    stage = ProgressiveSchedule.preset("efficientnetv2_m").scaled(32, epochs=4).settings(3)
    batches = SimpleNamespace(resolution=0, augment=None)
    model = ss.build(dataclasses.replace(ss.zoo.get("mobilenet_v3_small"), resolution=32, num_classes=10))
    mixup = apply_stage(model, batches, stage, num_classes=10)
    assert batches.resolution == 32 and batches.augment is not None and mixup is not None
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(m.p == pytest.approx(0.4) for m in dropouts)


def test_fixres_reproduces_efficientnetv2_test_sizes() -> None:
    assert fixres_resolution(300, 384 / 300) == 384
    assert fixres_resolution(384, 1.25) == 480
    assert fixres_resolution(300) == 375 and fixres_resolution(300, divisor=32) == 384
    assert [ProgressiveSchedule.preset(n).eval_image_size for n in sorted(TABLE_6)] == [480, 480, 384]
    with pytest.raises(UserInputError, match="ratio"):
        fixres_resolution(300, 0.9)


@pytest.mark.parametrize(("change", "word"), [({"size_rule": "cubic"}, "size_rule"), ({"epochs": 3}, "epochs"),
                                              ({"max_dropout": 1.0}, "dropout"), ({"min_image_size": 400}, "image"),
                                              ({"max_randaugment": 40.0}, "randaugment"),
                                              ({"min_mixup": 0.5}, "mixup"), ({"stages": 0}, "stages")])
def test_bad_schedules_name_the_field(change: dict, word: str) -> None:
    with pytest.raises(UserInputError, match=word):
        dataclasses.replace(ProgressiveSchedule.preset("efficientnetv2_s"), **change)


def test_unknown_preset_suggests_close_names() -> None:
    with pytest.raises(UserInputError, match="efficientnetv2_s"):
        ProgressiveSchedule.preset("efficientnetv2_xs")
