"""v1 `azureml.core.environment`."""

from runyard.environments.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, Environment

__all__ = ["Environment", "DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE"]
