"""v1 `azureml.core.compute_target`."""

from runyard.errors import ComputeTargetException

__all__ = ["ComputeTargetException"]
