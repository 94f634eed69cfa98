"""Trials' hyperparameters from a parameter space of v1 expressions ({"--lr": ["loguniform",
[-6, -1]], ...}): random draws, the grid of every combination, and the script's arguments."""

from __future__ import annotations

import itertools
import math
import random


def grid(space: dict) -> list[dict]:
    """Every combination of the choices (a grid sampling's space holds choices only), in the
    order the space lists them, the last parameter varying fastest."""
    names = list(space)
    options = [space[name][1][0] for name in names]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*options)]


def draw(space: dict, rng: random.Random) -> dict:
    """One trial's values, each parameter drawn independently."""
    return {name: _draw(expression[0], expression[1], rng) for name, expression in space.items()}


def _draw(kind: str, args: list, rng: random.Random):
    if kind == "choice":
        return rng.choice(args[0])
    if kind == "randint":
        return rng.randrange(args[0])
    if kind in ("uniform", "quniform", "loguniform", "qloguniform"):
        value = rng.uniform(args[0], args[1])
    else:  # normal, qnormal, lognormal, qlognormal
        value = rng.gauss(args[0], args[1])
    if kind in ("loguniform", "qloguniform", "lognormal", "qlognormal"):
        value = math.exp(value)
    if kind.startswith("q"):
        return quantized(value, args[2])
    return value


def quantized(value: float, q) -> int | float:
    """round(value / q) * q, as a whole number when it is one (so that a script's
    `type=int` argument accepts it)."""
    result = round(value / q) * q
    return int(result) if float(result).is_integer() else result


def grid_size(space: dict) -> int:
    return math.prod(len(space[name][1][0]) for name in space)


def arguments(base: list, values: dict) -> list:
    """The script's arguments with each sampled value after its name; a name already there has
    its value replaced (v1 removes the duplicate)."""
    out = list(base)
    for name, value in values.items():
        if name in out:
            at = out.index(name)
            del out[at:at + 2]
        out += [name, value]
    return out
