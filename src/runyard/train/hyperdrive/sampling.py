"""v1 samplings: how a sweep picks each trial's hyperparameters from a parameter space
({"--lr": loguniform(-6, -1), "--batch-size": choice(32, 64)}); the keys are the script's
argument names."""

from __future__ import annotations

from runyard.errors import HyperDriveConfigException, received

EXPRESSIONS = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal",
               "qnormal", "lognormal", "qlognormal")


class HyperParameterSampling:
    """The base of v1's samplings."""

    SAMPLING_NAME = ""
    ALLOWED: tuple[str, ...] = EXPRESSIONS

    def __init__(self, parameter_space, properties=None):
        self._parameter_space = _checked_space(type(self).__name__, parameter_space, self.ALLOWED)
        if properties is not None and not isinstance(properties, dict):
            raise HyperDriveConfigException(
                f"properties must be a dict. Received: properties={received(properties)}")
        self._properties = dict(properties or {})

    @property
    def parameter_space(self) -> dict:
        return self._parameter_space

    def to_json(self) -> dict:
        return {"name": self.SAMPLING_NAME, "parameter_space": self._parameter_space,
                "properties": self._properties}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._parameter_space!r})"


class RandomParameterSampling(HyperParameterSampling):
    """Each trial draws every hyperparameter independently (any expression; early termination
    allowed). properties={"seed": 42} makes the draws repeatable."""

    SAMPLING_NAME = "RANDOM"


class GridParameterSampling(HyperParameterSampling):
    """Every combination of the choices, in order; a sweep ends when the grid is exhausted."""

    SAMPLING_NAME = "GRID"
    ALLOWED = ("choice",)


class BayesianParameterSampling(HyperParameterSampling):
    """Each trial's values are picked from what the finished trials scored (Optuna's TPE
    sampler); choice, uniform and quniform only, and no early-termination policy."""

    SAMPLING_NAME = "BayesianOptimization"
    ALLOWED = ("choice", "uniform", "quniform")


def _checked_space(sampling: str, space, allowed: tuple[str, ...]) -> dict:
    if not isinstance(space, dict) or not space:
        raise HyperDriveConfigException(
            f"{sampling} takes a non-empty dict of argument name -> expression, e.g. "
            f"{{'--learning-rate': uniform(0.01, 0.1)}}. Received: {received(space)}")
    for name, expression in space.items():
        if not isinstance(name, str) or not name:
            raise HyperDriveConfigException(
                f"{sampling}: a parameter name is a non-empty string. Received: {received(name)}")
        if not (isinstance(expression, list) and len(expression) == 2 and expression[0] in EXPRESSIONS
                and isinstance(expression[1], list)):
            raise HyperDriveConfigException(
                f"{sampling}: parameter {name!r} needs an expression such as choice(...) or "
                f"uniform(...). Received: {received(expression)}")
        if expression[0] not in allowed:
            raise HyperDriveConfigException(
                f"{sampling} supports {', '.join(allowed)} only; parameter {name!r} uses "
                f"{expression[0]}(...). Use RandomParameterSampling for other distributions.")
    return dict(space)
