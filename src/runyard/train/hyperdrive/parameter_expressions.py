"""v1 `azureml.train.hyperdrive.parameter_expressions`: the distributions a hyperparameter is
drawn from. Each returns v1's expression, `[name, [arguments]]` (so code that inspects a
parameter space sees what it saw under v1); runyard/sweeps/space.py draws from them."""

from __future__ import annotations

from runyard.errors import HyperDriveConfigException, received


def _number(expression: str, label: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HyperDriveConfigException(
            f"{expression}(...): {label} must be a number. Received: {label}={received(value)}")


def _whole(expression: str, q) -> None:
    if isinstance(q, bool) or not (isinstance(q, int) or (isinstance(q, float) and q.is_integer())) or q <= 0:
        raise HyperDriveConfigException(
            f"{expression}(...): q must be a positive whole number. Received: q={received(q)}")


def _sigma(expression: str, sigma) -> None:
    _number(expression, "sigma", sigma)
    if sigma < 0:
        raise HyperDriveConfigException(
            f"{expression}(...): sigma must not be negative. Received: sigma={received(sigma)}")


def choice(*options) -> list:
    """One of `options`: separate values, one list, or one range."""
    if len(options) == 1 and isinstance(options[0], range | list):
        values = list(options[0])
    elif any(isinstance(o, range | list) for o in options):
        raise HyperDriveConfigException(
            "choice(...) takes separate values, one list or one range(), not a mix. "
            f"Received: {received(options)}")
    else:
        values = list(options)
    if not values:
        raise HyperDriveConfigException("choice(...) needs at least one value.")
    return ["choice", [values]]


def randint(upper) -> list:
    """A whole number in [0, upper)."""
    if isinstance(upper, bool) or not isinstance(upper, int) or upper <= 0:
        raise HyperDriveConfigException(
            f"randint(upper): upper must be a positive whole number. Received: upper={received(upper)}")
    return ["randint", [upper]]


def uniform(min_value, max_value) -> list:
    """A number drawn evenly from [min_value, max_value]."""
    _bounded("uniform", min_value, max_value, strict=True)
    return ["uniform", [min_value, max_value]]


def quniform(min_value, max_value, q) -> list:
    """round(uniform(min_value, max_value) / q) * q."""
    _bounded("quniform", min_value, max_value, strict=True)
    _whole("quniform", q)
    return ["quniform", [min_value, max_value, q]]


def loguniform(min_value, max_value) -> list:
    """exp(uniform(min_value, max_value)): the bounds are exponents (loguniform(-6, -1) covers
    about 0.0025 to 0.37)."""
    _bounded("loguniform", min_value, max_value, strict=False)
    return ["loguniform", [min_value, max_value]]


def qloguniform(min_value, max_value, q) -> list:
    """round(exp(uniform(min_value, max_value)) / q) * q."""
    _bounded("qloguniform", min_value, max_value, strict=False)
    _whole("qloguniform", q)
    return ["qloguniform", [min_value, max_value, q]]


def normal(mu, sigma) -> list:
    """A number normally distributed with mean mu and standard deviation sigma."""
    _number("normal", "mu", mu)
    _sigma("normal", sigma)
    return ["normal", [mu, sigma]]


def qnormal(mu, sigma, q) -> list:
    """round(normal(mu, sigma) / q) * q."""
    _number("qnormal", "mu", mu)
    _sigma("qnormal", sigma)
    _whole("qnormal", q)
    return ["qnormal", [mu, sigma, q]]


def lognormal(mu, sigma) -> list:
    """exp(normal(mu, sigma))."""
    _number("lognormal", "mu", mu)
    _sigma("lognormal", sigma)
    return ["lognormal", [mu, sigma]]


def qlognormal(mu, sigma, q) -> list:
    """round(exp(normal(mu, sigma)) / q) * q."""
    _number("qlognormal", "mu", mu)
    _sigma("qlognormal", sigma)
    _whole("qlognormal", q)
    return ["qlognormal", [mu, sigma, q]]


def _bounded(expression: str, low, high, strict: bool) -> None:
    _number(expression, "min_value", low)
    _number(expression, "max_value", high)
    if low > high or (strict and low == high):
        raise HyperDriveConfigException(
            f"{expression}(min_value, max_value): min_value must be {'below' if strict else 'at most'} "
            f"max_value. Received: min_value={received(low)}, max_value={received(high)}")
