"""v1 HyperDriveConfig: a sweep of one training script over a parameter space, submitted with
Experiment.submit like a run."""

from __future__ import annotations

import enum
import warnings

from runyard.errors import HyperDriveConfigException, received
from runyard.train.hyperdrive.policy import EarlyTerminationPolicy, NoTerminationPolicy
from runyard.train.hyperdrive.sampling import BayesianParameterSampling, HyperParameterSampling

MAX_TOTAL_RUNS = 1000
MAX_CONCURRENT_RUNS = 100
MAX_PARENT_RUNS = 5  # resume_from


class PrimaryMetricGoal(enum.Enum):
    """Whether the primary metric is to be maximized or minimized."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @staticmethod
    def from_str(goal: str) -> PrimaryMetricGoal:
        for member in PrimaryMetricGoal:
            if isinstance(goal, str) and goal.upper() == member.value:
                return member
        raise HyperDriveConfigException(
            f"A primary metric goal is 'MAXIMIZE' or 'MINIMIZE'. Received: {received(goal)}")


class HyperDriveConfig:
    """Example (v1):
        HyperDriveConfig(run_config=src, hyperparameter_sampling=RandomParameterSampling({...}),
                         policy=BanditPolicy(evaluation_interval=2, slack_factor=0.1),
                         primary_metric_name="validation_acc",
                         primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                         max_total_runs=8, max_concurrent_runs=4)
    """

    def __init__(self, hyperparameter_sampling, primary_metric_name, primary_metric_goal,
                 max_total_runs, max_concurrent_runs=None, max_duration_minutes=10080, policy=None,
                 estimator=None, run_config=None, resume_from=None, resume_child_runs=None,
                 pipeline=None, debug_flag=None, custom_run_id=None):
        if pipeline is not None:
            raise HyperDriveConfigException(
                "pipeline=: sweeps over pipelines are not available; sweep a ScriptRunConfig "
                "(run_config=) instead.")
        if (estimator is None) == (run_config is None):
            raise HyperDriveConfigException(
                "HyperDriveConfig takes exactly one of run_config (a ScriptRunConfig) or estimator. "
                f"Received: run_config={received(run_config)}, estimator={received(estimator)}")
        if estimator is not None:
            if not hasattr(estimator, "to_script_run_config"):
                raise HyperDriveConfigException(
                    f"estimator must be one of runyard.train's estimators. Received: {received(estimator)}")
            run_config = estimator.to_script_run_config()
        from runyard.runs.config import ScriptRunConfig

        if not isinstance(run_config, ScriptRunConfig):
            raise HyperDriveConfigException(
                f"run_config must be a ScriptRunConfig. Received: run_config={received(run_config)}")
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise HyperDriveConfigException(
                "hyperparameter_sampling must be a RandomParameterSampling, GridParameterSampling "
                "or BayesianParameterSampling. "
                f"Received: hyperparameter_sampling={received(hyperparameter_sampling)}")
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise HyperDriveConfigException(
                "primary_metric_name is the name the script logs with run.log(name, value). "
                f"Received: primary_metric_name={received(primary_metric_name)}")
        if isinstance(primary_metric_goal, str):
            primary_metric_goal = PrimaryMetricGoal.from_str(primary_metric_goal)
        if not isinstance(primary_metric_goal, PrimaryMetricGoal):
            raise HyperDriveConfigException(
                "primary_metric_goal is PrimaryMetricGoal.MAXIMIZE or PrimaryMetricGoal.MINIMIZE. "
                f"Received: primary_metric_goal={received(primary_metric_goal)}")
        _count("max_total_runs", max_total_runs, MAX_TOTAL_RUNS)
        if max_concurrent_runs is not None:
            _count("max_concurrent_runs", max_concurrent_runs, MAX_CONCURRENT_RUNS)
        if isinstance(max_duration_minutes, bool) or not isinstance(max_duration_minutes, int | float) \
                or max_duration_minutes <= 0:
            raise HyperDriveConfigException(
                "max_duration_minutes is a positive number of minutes. "
                f"Received: max_duration_minutes={received(max_duration_minutes)}")
        policy = policy if policy is not None else NoTerminationPolicy()
        if not isinstance(policy, EarlyTerminationPolicy):
            raise HyperDriveConfigException(
                "policy must be a BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, "
                f"NoTerminationPolicy or None. Received: policy={received(policy)}")
        bayesian = isinstance(hyperparameter_sampling, BayesianParameterSampling)
        if bayesian and not isinstance(policy, NoTerminationPolicy):
            raise HyperDriveConfigException(
                "BayesianParameterSampling does not support early termination: pass policy=None "
                f"(or NoTerminationPolicy()). Received: policy={policy!r}")
        if bayesian:
            _bayesian_warnings(len(hyperparameter_sampling.parameter_space), max_total_runs,
                               max_concurrent_runs)
        resume_from = list(resume_from or [])
        if len(resume_from) > MAX_PARENT_RUNS:
            raise HyperDriveConfigException(
                f"resume_from takes at most {MAX_PARENT_RUNS} earlier sweeps. Received {len(resume_from)}.")
        for earlier in resume_from:
            if getattr(earlier, "type", None) != "hyperdrive":
                raise HyperDriveConfigException(
                    "resume_from takes earlier sweeps (HyperDriveRun objects). "
                    f"Received: {received(earlier)}")
        resume_child_runs = list(resume_child_runs or [])
        for child in resume_child_runs:
            if not hasattr(child, "get_properties") or \
                    "runyard.hyperparameters" not in child.get_properties():
                raise HyperDriveConfigException(
                    "resume_child_runs takes trials of earlier sweeps (their child runs). "
                    f"Received: {received(child)}")
        if len(resume_child_runs) > max_total_runs:
            raise HyperDriveConfigException(
                f"resume_child_runs ({len(resume_child_runs)}) is more than max_total_runs ({max_total_runs}).")
        self.run_config = run_config
        self.estimator = estimator
        self._hyperparameter_sampling = hyperparameter_sampling
        self._primary_metric_config = {"name": primary_metric_name, "goal": primary_metric_goal.value}
        self._policy = policy
        self._max_total_runs = max_total_runs
        self._max_concurrent_runs = max_concurrent_runs
        self._max_duration_minutes = max_duration_minutes
        self._resume_from = resume_from
        self._resume_child_runs = resume_child_runs
        self.source_directory = run_config.source_directory

    def _sweep(self) -> dict:
        """The sweep's settings for its controller (runyard/sweeps/spec.py), as JSON."""
        return {"sampling": self._hyperparameter_sampling.to_json(), "policy": self._policy.to_json(),
                "primary_metric": dict(self._primary_metric_config),
                "max_total_runs": self._max_total_runs, "max_concurrent_runs": self._max_concurrent_runs,
                "max_duration_minutes": self._max_duration_minutes,
                "resume_from": [run.id for run in self._resume_from],
                "resume_child_runs": [run.id for run in self._resume_child_runs]}

    primary_metric_name = property(lambda self: self._primary_metric_config["name"])
    primary_metric_goal = property(lambda self: PrimaryMetricGoal(self._primary_metric_config["goal"]))
    max_total_runs = property(lambda self: self._max_total_runs)
    max_concurrent_runs = property(lambda self: self._max_concurrent_runs)
    max_duration_minutes = property(lambda self: self._max_duration_minutes)
    policy = property(lambda self: self._policy)
    hyperparameter_sampling = property(lambda self: self._hyperparameter_sampling)


def HyperDriveRunConfig(estimator, hyperparameter_sampling, primary_metric_name,  # noqa: N802
                        primary_metric_goal, max_total_runs, max_concurrent_runs=None,
                        max_duration_minutes=10080, policy=None):
    """The 2019 name: warns, and returns the HyperDriveConfig."""
    warnings.warn("HyperDriveRunConfig is deprecated; use HyperDriveConfig(run_config=..., ...).",
                  DeprecationWarning, stacklevel=2)
    return HyperDriveConfig(hyperparameter_sampling, primary_metric_name, primary_metric_goal,
                            max_total_runs, max_concurrent_runs, max_duration_minutes, policy,
                            estimator=estimator)


def _count(label: str, value, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise HyperDriveConfigException(
            f"{label} is a whole number from 1 to {most}. Received: {label}={received(value)}")


def _bayesian_warnings(parameters: int, total: int, concurrent: int | None) -> None:
    if total < 20 * parameters:
        warnings.warn(
            f"For best results with Bayesian sampling, max_total_runs should be at least 20 times "
            f"the number of hyperparameters ({20 * parameters} here); it is {total}.", stacklevel=3)
    if concurrent is None or concurrent > 20:
        warnings.warn(
            "Bayesian sampling learns from finished trials: with more than 20 concurrent runs "
            "(max_concurrent_runs) most trials start before it can.", stacklevel=3)
