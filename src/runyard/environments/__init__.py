"""Environments: reproducible, cached per-run Python environments built with uv."""

from runyard.environments.conda import CondaDependencies
from runyard.environments.environment import Environment

__all__ = ["Environment", "CondaDependencies"]
