"""v1 `azureml.core.compute`."""

from runyard.compute.targets import AmlCompute, ComputeTarget, LocalCompute, RayCompute

__all__ = ["ComputeTarget", "AmlCompute", "RayCompute", "LocalCompute"]
