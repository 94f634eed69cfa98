"""A sweep's settings as the controller reads them (the `sweep` key of its run's spec), checked
wherever they come from (a client of a server sends them as JSON)."""

from __future__ import annotations

from runyard.errors import HyperDriveConfigException

SAMPLINGS = {"RANDOM": None, "GRID": ("choice",), "BayesianOptimization": ("choice", "uniform", "quniform")}
POLICIES = ("Default", "Bandit", "MedianStopping", "TruncationSelection")


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise HyperDriveConfigException(f"The sweep's settings are not valid: {what}.")


def _whole(value, least: int, most: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least and \
        (most is None or value <= most)


def checked(sweep) -> dict:
    """The sweep settings, or HyperDriveConfigException naming what is wrong."""
    _require(isinstance(sweep, dict) and all(k in sweep for k in (
        "sampling", "policy", "primary_metric", "max_total_runs", "max_duration_minutes")),
        "sampling, policy, primary_metric, max_total_runs and max_duration_minutes are needed")
    sampling, policy, metric = sweep["sampling"], sweep["policy"], sweep["primary_metric"]
    _require(isinstance(sampling, dict) and sampling.get("name") in SAMPLINGS, "an unknown sampling")
    space = sampling.get("parameter_space")
    _require(isinstance(space, dict) and bool(space), "the parameter space is empty")
    allowed = SAMPLINGS[sampling["name"]]
    for name, expression in space.items():
        _require(isinstance(expression, list) and len(expression) == 2 and isinstance(expression[1], list),
                 f"parameter {name!r} has no expression")
        _require(allowed is None or expression[0] in allowed,
                 f"{sampling['name']} does not take {expression[0]}")
    _require(isinstance(policy, dict) and policy.get("name") in POLICIES, "an unknown policy")
    _require(_whole(policy.get("evaluation_interval"), 1) and _whole(policy.get("delay_evaluation"), 0),
             "evaluation_interval and delay_evaluation are whole numbers")
    _require(isinstance(metric, dict) and isinstance(metric.get("name"), str) and bool(metric["name"])
             and metric.get("goal") in ("MAXIMIZE", "MINIMIZE"), "the primary metric needs a name and a goal")
    _require(_whole(sweep["max_total_runs"], 1, 1000), "max_total_runs is 1 to 1000")
    concurrent = sweep.get("max_concurrent_runs")
    _require(concurrent is None or _whole(concurrent, 1, 100), "max_concurrent_runs is 1 to 100")
    minutes = sweep["max_duration_minutes"]
    _require(isinstance(minutes, int | float) and not isinstance(minutes, bool) and minutes > 0,
             "max_duration_minutes is positive")
    _require(all(isinstance(r, str) for r in sweep.get("resume_from") or []), "resume_from lists run ids")
    _require(isinstance(sweep.get("resume_from") or [], list) and len(sweep.get("resume_from") or []) <= 5,
             "resume_from lists at most 5 sweeps")
    _require(all(isinstance(r, str) for r in sweep.get("resume_child_runs") or []),
             "resume_child_runs lists run ids")
    return sweep
