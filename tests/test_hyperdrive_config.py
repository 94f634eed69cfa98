"""v1 HyperDrive's configuration (expressions, samplings, policies, HyperDriveConfig) and the
sweep's pure parts: drawing trials and the early-termination decisions, checked against
hand-computed cases."""

from __future__ import annotations

import math
import random
import warnings

import pytest

from runyard.core import ScriptRunConfig
from runyard.sweeps import policies, space
from runyard.train.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveConfigException,
    HyperDriveRunConfig,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TruncationSelectionPolicy,
    choice,
    loguniform,
    normal,
    qloguniform,
    quniform,
    randint,
    uniform,
)


def test_expressions_are_v1s_lists_and_refuse_bad_arguments():
    assert choice(1, 2, 3) == ["choice", [[1, 2, 3]]]
    assert choice([16, 32]) == ["choice", [[16, 32]]]
    assert choice(range(3)) == ["choice", [[0, 1, 2]]]
    assert loguniform(-6, -1) == ["loguniform", [-6, -1]]
    assert quniform(0, 10, 2) == ["quniform", [0, 10, 2]]
    for bad, match in [(lambda: choice(), "at least one value"),
                       (lambda: choice([1], 2), "not a mix"),
                       (lambda: randint(0), "positive whole number"),
                       (lambda: uniform(1, 1), "below max_value"),
                       (lambda: uniform("a", 2), "min_value must be a number"),
                       (lambda: quniform(0, 1, 0.5), "q must be a positive whole number"),
                       (lambda: normal(0, -1), "sigma must not be negative")]:
        with pytest.raises(HyperDriveConfigException, match=match):
            bad()


def test_samplings_accept_only_their_expressions():
    GridParameterSampling({"--a": choice(1, 2)})
    with pytest.raises(HyperDriveConfigException, match="GridParameterSampling supports choice only; "
                                                        "parameter '--lr' uses uniform"):
        GridParameterSampling({"--lr": uniform(0.1, 0.2)})
    BayesianParameterSampling({"--a": choice(1, 2), "--b": uniform(0, 1), "--c": quniform(0, 8, 2)})
    with pytest.raises(HyperDriveConfigException, match="supports choice, uniform, quniform only"):
        BayesianParameterSampling({"--lr": loguniform(-6, -1)})
    with pytest.raises(HyperDriveConfigException, match="non-empty dict"):
        RandomParameterSampling({})
    with pytest.raises(HyperDriveConfigException, match="needs an expression"):
        RandomParameterSampling({"--lr": 0.1})


def test_policies_check_their_settings():
    assert BanditPolicy(slack_factor=0.1).to_json() == {
        "name": "Bandit", "evaluation_interval": 1, "delay_evaluation": 0, "slack_factor": 0.1,
        "slack_amount": None}
    with pytest.raises(HyperDriveConfigException, match="one of slack_factor"):
        BanditPolicy()
    with pytest.raises(HyperDriveConfigException, match="one of slack_factor"):
        BanditPolicy(slack_factor=0.1, slack_amount=0.2)
    with pytest.raises(HyperDriveConfigException, match="evaluation_interval is a whole number of at least 1"):
        MedianStoppingPolicy(evaluation_interval=0)
    with pytest.raises(HyperDriveConfigException, match="from 1 to 99"):
        TruncationSelectionPolicy(truncation_percentage=100)


def test_hyperdrive_config_refuses_what_v1_refuses(tmp_path):
    src = ScriptRunConfig(str(tmp_path), script="train.py")
    sampling = RandomParameterSampling({"--lr": loguniform(-6, -1)})
    ok = dict(hyperparameter_sampling=sampling, primary_metric_name="acc",
              primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4)
    config = HyperDriveConfig(run_config=src, **ok)
    assert (config.max_concurrent_runs, config.max_duration_minutes) == (None, 10080)
    assert isinstance(config.policy, NoTerminationPolicy)
    for changes, match in [({"run_config": None}, "exactly one of run_config"),
                           ({"max_total_runs": 0}, "max_total_runs is a whole number from 1 to 1000"),
                           ({"max_total_runs": 1001}, "from 1 to 1000"),
                           ({"max_concurrent_runs": 101}, "max_concurrent_runs is a whole number from 1 to 100"),
                           ({"primary_metric_name": ""}, "primary_metric_name is the name"),
                           ({"primary_metric_goal": "up"}, "'MAXIMIZE' or 'MINIMIZE'"),
                           ({"policy": "bandit"}, "policy must be"),
                           ({"pipeline": object()}, "pipelines are not available")]:
        with pytest.raises(HyperDriveConfigException, match=match):
            HyperDriveConfig(**{"run_config": src, **ok, **changes})
    bayesian = BayesianParameterSampling({"--lr": uniform(0.01, 0.1)})
    with pytest.raises(HyperDriveConfigException, match="does not support early termination"):
        HyperDriveConfig(run_config=src, **{**ok, "hyperparameter_sampling": bayesian,
                                            "policy": BanditPolicy(slack_factor=0.1)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        HyperDriveConfig(run_config=src, **{**ok, "hyperparameter_sampling": bayesian,
                                            "max_concurrent_runs": 2})
    assert any("at least 20 times" in str(w.message) for w in caught)
    assert HyperDriveConfig(run_config=src, **{**ok, "primary_metric_goal": "minimize"}) \
        .primary_metric_goal == PrimaryMetricGoal.MINIMIZE


def test_the_deprecated_hyperdrive_run_config_warns_and_works(tmp_path):
    from runyard.train.estimator import Estimator

    with pytest.warns(DeprecationWarning, match="'Estimator' estimator is deprecated"):
        estimator = Estimator(source_directory=str(tmp_path), entry_script="train.py")
    with pytest.warns(DeprecationWarning, match="HyperDriveRunConfig is deprecated"):
        config = HyperDriveRunConfig(estimator, RandomParameterSampling({"--a": choice(1, 2)}),
                                     "acc", PrimaryMetricGoal.MAXIMIZE, 2)
    assert isinstance(config, HyperDriveConfig) and config.run_config.script == "train.py"


def test_draws_follow_each_distribution():
    rng = random.Random(7)
    lr = [space.draw({"--lr": loguniform(-6, -1)}, rng)["--lr"] for _ in range(2000)]
    assert math.exp(-6) <= min(lr) and max(lr) <= math.exp(-1)
    assert min(lr) < 0.005 and max(lr) > 0.3  # the exponents span the range, not the values
    sizes = {space.draw({"--b": quniform(0, 100, 8)}, rng)["--b"] for _ in range(500)}
    assert all(isinstance(s, int) and s % 8 == 0 and 0 <= s <= 104 for s in sizes)
    assert {space.draw({"--s": randint(5)}, rng)["--s"] for _ in range(500)} == {0, 1, 2, 3, 4}
    assert all(space.draw({"--q": qloguniform(0, 3, 1)}, rng)["--q"] in range(1, 21) for _ in range(200))
    assert space.draw({"--lr": loguniform(-6, -1)}, random.Random(1)) == \
        space.draw({"--lr": loguniform(-6, -1)}, random.Random(1))


def test_the_grid_has_every_combination_in_order_and_values_become_arguments():
    grid = space.grid({"--a": choice(1, 2), "--b": choice("x", "y", "z")})
    assert grid == [{"--a": 1, "--b": "x"}, {"--a": 1, "--b": "y"}, {"--a": 1, "--b": "z"},
                    {"--a": 2, "--b": "x"}, {"--a": 2, "--b": "y"}, {"--a": 2, "--b": "z"}]
    assert space.grid_size({"--a": choice(1, 2), "--b": choice(range(5))}) == 10
    assert space.arguments(["--data", "d", "--a", 9], {"--a": 1, "--b": "x"}) == \
        ["--data", "d", "--a", 1, "--b", "x"]


def decide(policy, maximize, series, trial):
    return policies.decide(policy.to_json(), maximize, series, trial)


def test_bandit_stops_what_v1s_definition_stops():
    # Maximizing: B's best 0.7 with slack 0.1 reaches 0.77 < the best value at interval 2, 0.8.
    series = {"A": [0.5, 0.8], "B": [0.6, 0.7]}
    assert "0.77, below the best value at this interval, 0.8" in decide(BanditPolicy(slack_factor=0.1), True, series, "B")
    assert decide(BanditPolicy(slack_factor=0.2), True, series, "B") is None  # 0.84
    assert "is 0.75" in decide(BanditPolicy(slack_amount=0.05), True, series, "B")
    assert decide(BanditPolicy(slack_amount=0.1), True, series, "B") is None  # 0.8 is not below 0.8
    assert decide(BanditPolicy(slack_factor=0.1), True, series, "A") is None
    # Minimizing: 0.25 / 1.1 = 0.227 > 0.2 stops; 0.25 / 1.3 = 0.192 does not.
    low = {"A": [0.5, 0.2], "B": [0.4, 0.25]}
    assert "above the best value at this interval, 0.2" in decide(BanditPolicy(slack_factor=0.1), False, low, "B")
    assert decide(BanditPolicy(slack_factor=0.3), False, low, "B") is None
    # When it applies: every evaluation_interval-th value, from delay_evaluation on.
    assert decide(BanditPolicy(slack_factor=0.1, delay_evaluation=3), True, series, "B") is None
    assert decide(BanditPolicy(slack_factor=0.1, evaluation_interval=2), True,
                  {"A": [0.8], "B": [0.1]}, "B") is None
    assert [policies.evaluated_at({"evaluation_interval": 2, "delay_evaluation": 5}, n)
            for n in range(1, 10)] == [False, False, False, False, False, True, False, True, False]


def test_median_stopping_compares_the_best_value_with_the_median_of_running_averages():
    series = {"A": [0.2, 0.4, 0.6], "B": [0.5, 0.5, 0.5], "C": [0.1, 0.2, 0.3], "D": [0.45, 0.5, 0.46]}
    # Others' averages over 3 values: A 0.4, B 0.5, D 0.47 -> median 0.47; C's best 0.3 is below.
    assert "its best value 0.3 is below the median 0.47" in decide(MedianStoppingPolicy(), True, series, "C")
    assert decide(MedianStoppingPolicy(), True, series, "D") is None  # best 0.5 vs median of 0.4, 0.5, 0.2
    assert decide(MedianStoppingPolicy(), True, {"A": [0.1]}, "A") is None  # nobody to compare with
    # Minimizing: A's best 0.2 is not above the median of B 0.5 and C 0.2 (0.35); B's 0.5 is.
    low = {"A": [0.2, 0.4, 0.6], "B": [0.5, 0.5, 0.5], "C": [0.1, 0.2, 0.3]}
    assert decide(MedianStoppingPolicy(), False, low, "A") is None
    assert "above the median 0.3" in decide(MedianStoppingPolicy(), False, low, "B")


def test_truncation_selection_stops_the_lowest_percentage_at_each_interval():
    series = {"A": [0.9], "B": [0.1], "C": [0.5], "D": [0.3]}
    policy = TruncationSelectionPolicy(truncation_percentage=50)
    stopped = {t for t in series if decide(policy, True, series, t)}
    assert stopped == {"B", "D"}
    assert {t for t in series if decide(policy, False, series, t)} == {"A", "C"}
    # 25 % of 3 trials is 0 trials: nobody stops; a tie at the cut keeps the trial.
    assert not any(decide(TruncationSelectionPolicy(25), True, {"A": [1], "B": [2], "C": [3]}, t) for t in "ABC")
    assert decide(policy, True, {"A": [0.5], "B": [0.5]}, "A") is None


def test_bayesian_sampling_learns_from_the_finished_trials():
    """Told each trial's score, TPE's later picks sit closer to the optimum than random ones."""
    from runyard.sweeps.bayesian import BayesianSampler

    space_ = {"--x": uniform(0.0, 1.0), "--units": choice(8, 16, 32, 64), "--step": quniform(0, 40, 4)}
    sampler = BayesianSampler(space_, maximize=True, seed=11)
    picked = []
    for i in range(40):
        values = sampler.ask(str(i))
        assert 0 <= values["--x"] <= 1 and values["--units"] in (8, 16, 32, 64)
        assert isinstance(values["--step"], int) and values["--step"] % 4 == 0
        score = -(values["--x"] - 0.7) ** 2 - (values["--units"] != 32) * 0.05
        sampler.tell(str(i), score if i % 7 else None)  # some trials log nothing
        picked.append(values)
    early = sum(abs(v["--x"] - 0.7) for v in picked[:5]) / 5
    late = sum(abs(v["--x"] - 0.7) for v in picked[-10:]) / 10
    assert late < early / 2, (early, late)


def test_bayesian_sampling_warm_starts_from_earlier_trials():
    from runyard.sweeps.bayesian import BayesianSampler

    sampler = BayesianSampler({"--x": uniform(0.0, 1.0), "--units": choice(8, 16)}, maximize=True, seed=5)
    rng = random.Random(5)
    for _ in range(30):  # an earlier sweep's trials: best near x = 0.7
        x = rng.uniform(0, 1)
        sampler.add({"--x": x, "--units": 8}, -(x - 0.7) ** 2)
    sampler.add({"--x": 0.5, "--units": 99}, 1.0)  # a value this space does not have: ignored
    picks = [sampler.ask(str(i))["--x"] for i in range(8)]
    assert sum(abs(x - 0.7) for x in picks) / len(picks) < 0.15, picks
