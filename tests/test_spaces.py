"""Contract tests every registered search space must pass (parametrised over the registry)."""

from __future__ import annotations

import dataclasses
import hashlib
import random

import optuna
import pytest
import torch

import search_spaces as ss
from search_spaces import spaces
from search_spaces.errors import UserInputError
from search_spaces.rounding import round_channels
from search_spaces.spaces import Categorical, FloatRange, InfeasibleError, IntRange, MacsRange
from search_spaces.spaces.base import params_digest
from search_spaces.spaces.mbconv import MBConvSpace
from tests.conftest import counted_macs, n_params

SPACES = spaces.names()


@pytest.fixture(params=SPACES)
def space(request: pytest.FixtureRequest) -> spaces.SearchSpace:
    return spaces.get(request.param)


def test_registry_lists_the_required_spaces() -> None:
    assert {"mbconv", "fused"} <= set(SPACES)


def test_unknown_space_is_named_with_suggestions() -> None:
    with pytest.raises(UserInputError, match="unknown search space 'mbcnv'; did you mean 'mbconv'"):
        spaces.get("mbcnv")


def test_same_seed_same_genome(space: spaces.SearchSpace) -> None:
    assert space.sample(3) == space.sample(3)
    assert space.sample(random.Random(5)) == space.sample(random.Random(5))
    assert len({space.sample(s) for s in range(20)}) > 15


#: sha1 (first 16 hex digits) of the names of samples 0-29: a name is the digest of the sampled parameters,
#: so these pin every space's sample stream. RegNet's parameters are floats drawn through ``math.exp``;
#: its pin is of the parameters rounded to 6 digits, so a last-bit difference of another libm cannot fail it.
SAMPLE_PINS = {
    "fused": "f7fecc48a6161f49", "mbconv": "98c3ec7afc1e8a26", "nasnet": "6f12004969d25a74", "pnas": "0d7a3b01e695fe8f",
    "nb201": "37bc9ab1637522ee",
    "regnet": "3dc81c409c042676",
}


def _stream(space: spaces.SearchSpace) -> str:
    if space.name == "regnet":
        rows = [sorted((k, round(v, 6) if isinstance(v, float) else v) for k, v in space.sample_params(s).items())
                for s in range(30)]
        return repr(rows)
    return " ".join(space.sample(s).name for s in range(30))


def test_sample_streams_are_pinned(space: spaces.SearchSpace) -> None:
    assert hashlib.sha1(_stream(space).encode()).hexdigest()[:16] == SAMPLE_PINS[space.name]


@pytest.mark.parametrize("params", [
    {}, {"a": 1, "b": True, "c": 0.1}, {"it's": "say \"hi\"", "é\n": ("x", None), "z": -3e-12},
])
def test_a_params_digest_is_the_sha1_of_its_sorted_reprs(params: dict) -> None:
    text = repr(sorted((k, repr(v)) for k, v in params.items()))  # the definition the digest writes out by hand
    assert params_digest(params) == hashlib.sha1(text.encode()).hexdigest()[:10]


def test_a_sample_is_its_decoded_sample_params(space: spaces.SearchSpace) -> None:
    for seed in range(20):
        assert space.sample(seed) == space.decode(space.sample_params(seed))


def test_samples_respect_the_distributions(space: spaces.SearchSpace) -> None:
    for seed in range(50):
        params = space.sample_params(seed)
        space.check(params)
        assert set(params) == {d.name for d in space.active(params)}


def test_named_points_are_zoo_entries_exactly(space: spaces.SearchSpace) -> None:
    assert space.points()
    for name in space.points():
        assert space.point(name) == ss.zoo.get(name)


def test_decode_refuses_out_of_range_params(space: spaces.SearchSpace) -> None:
    params = space.sample_params(0)
    first = space.distributions()[0]
    with pytest.raises(UserInputError, match=f"parameter {first.name!r}"):
        space.decode({**params, first.name: "nonsense"})
    with pytest.raises(UserInputError, match="is missing"):
        space.decode({k: v for k, v in params.items() if k != first.name})


def test_distributions_drive_optuna_define_by_run(space: spaces.SearchSpace) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    study.optimize(lambda t: float(len(seen.append(space.suggest(t)) or seen)), n_trials=5)
    assert len(seen) == 5
    for trial, genome in zip(study.trials, seen):
        assert space.decode(trial.params) == genome


def test_distribution_kinds_are_plain_data(space: spaces.SearchSpace) -> None:
    for dist in space.distributions():
        assert isinstance(dist, (Categorical, IntRange, FloatRange))
        hash(dist)


@pytest.mark.parametrize("seed", range(10))
def test_samples_build_cost_exactly_and_round_trip(space: spaces.SearchSpace, seed: int) -> None:
    _check_sample(space, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 110))
def test_hundred_samples_build_cost_exactly_and_round_trip(space: spaces.SearchSpace, seed: int) -> None:
    _check_sample(space, seed)


def _check_sample(space: spaces.SearchSpace, seed: int) -> None:
    genome = space.sample(seed)
    assert ss.from_yaml(ss.to_yaml(genome)) == genome
    model = ss.build(genome)
    assert ss.cost(genome).params == n_params(model)
    resolution = 64  # small: the contract is shape-independent, and tests stay fast
    analytic = ss.cost(genome, resolution).macs
    assert abs(analytic - counted_macs(model, (1, genome.in_channels, resolution, resolution))) <= 0.01 * analytic
    assert model(torch.randn(1, genome.in_channels, resolution, resolution)).shape == (1, genome.num_classes)


def test_macs_constraint_is_applied_with_bounded_retries() -> None:
    space = spaces.get("mbconv")
    band = MacsRange(350e6, 450e6)
    for seed in range(5):
        assert 350e6 <= ss.cost(space.sample(seed, constraint=band)).macs <= 450e6


def test_infeasible_constraint_fails_with_a_clear_error() -> None:
    with pytest.raises(InfeasibleError, match=r"no sample of space 'mbconv' satisfied MACs in \[1, 2\] in 20 tries"):
        spaces.get("mbconv").sample(0, constraint=MacsRange(1, 2), max_tries=20)


def test_settings_flow_into_every_genome() -> None:
    genome = spaces.get("mbconv", num_classes=10, resolution=64, in_channels=1).sample(0)
    assert (genome.num_classes, genome.resolution, genome.in_channels) == (10, 64, 1)


def test_mbconv_space_has_the_mnasnet_choices() -> None:
    dists = {d.name: d for d in spaces.get("mbconv").distributions()}
    assert len({name.split("_")[0] for name in dists}) == 7
    assert dists["b3_op"].choices == ("conv", "ds", "mbconv3", "mbconv6")
    assert dists["b3_kernel"].choices == (3, 5)
    assert dists["b3_se"].choices == (0.0, 0.25)
    assert dists["b3_skip"].choices == ("none", "identity")
    assert dists["b3_filters"].choices == (0.75, 1.0, 1.25)
    assert dists["b3_layers"].choices == (-1, 0, 1)


def test_mnasnet_a1_is_next_to_the_mbconv_space_not_in_it() -> None:
    a1 = ss.zoo.get("mnasnet_a1")
    widths = {ss.resolve(spaces.get("mbconv").sample(s)).stages[5][0].cout for s in range(200)}
    assert a1.stages[5].channels == 160 and 160 not in widths and widths == {144, 192, 240}


def test_fused_space_never_puts_se_in_fused_stages() -> None:
    space = spaces.get("fused")
    for seed in range(30):
        for stage in space.sample(seed).stages:
            assert (stage.se > 0) == (stage.block == "mbconv")


def test_mbconv_filter_sizes_round_as_the_backbone_rounds() -> None:
    b0 = MBConvSpace.backbone

    class Divisor4(MBConvSpace):
        backbone = dataclasses.replace(b0, quirks=dataclasses.replace(b0.quirks, channel_divisor=4, round_limit=0.0))

    params = {**MBConvSpace().encode_backbone(), "b0_filters": 0.75}  # 16 * 0.75 = 12
    assert MBConvSpace().decode(params).stages[0].channels == round_channels(16, 0.75, 8, 0.9) == 16
    assert Divisor4().decode(params).stages[0].channels == round_channels(16, 0.75, 4, 0.0) == 12


def test_a_restricted_space_offers_and_draws_only_the_kept_choices() -> None:
    full = spaces.get("mbconv")
    narrow = full.restrict({"b0_op": ("mbconv6", "mbconv3"), "b3_kernel": (5,)})
    dists = {d.name: d for d in narrow.distributions()}
    assert dists["b0_op"].choices == ("mbconv3", "mbconv6")  # the space's order, not the caller's
    assert dists["b3_kernel"].choices == (5,) and dists["b1_op"].choices == full.distributions()[6].choices
    for seed in range(20):
        params = narrow.sample_params(seed)
        assert params["b0_op"] in ("mbconv3", "mbconv6") and params["b3_kernel"] == 5
        assert narrow.decode(params) == full.decode(params)
    assert narrow.name == full.name and narrow.points() == full.points() and narrow.backbone is full.backbone
    assert narrow.restrict({"b1_op": ("ds",)}).distributions()[0].choices == ("mbconv3", "mbconv6")
    assert full.restrict({}) is full
    import copy
    import pickle

    for twin in (copy.deepcopy(narrow), pickle.loads(pickle.dumps(narrow))):
        assert twin.distributions() == narrow.distributions() and twin.sample(3) == narrow.sample(3)


@pytest.mark.parametrize(("choices", "words"), [
    ({"b0_width": (1,)}, "no categorical parameter 'b0_width'"),
    ({"b0_op": ("mbconv9",)}, "must keep a non-empty subset"),
    ({"b0_op": ()}, "must keep a non-empty subset"),
])
def test_a_bad_restriction_is_one_sentence(choices, words) -> None:  # noqa: ANN001
    with pytest.raises(UserInputError, match=words):
        spaces.get("mbconv").restrict(choices)
