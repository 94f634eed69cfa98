"""v1 `azureml.core.compute`."""

from runyard.compute import LocalCompute

__all__ = ["LocalCompute"]
