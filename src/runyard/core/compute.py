"""v1 `azureml.core.compute`."""

from runyard.compute import LocalCompute
from runyard.compute.targets import AmlCompute, ComputeTarget, RayCompute

__all__ = ["ComputeTarget", "AmlCompute", "RayCompute", "LocalCompute"]
