"""v1 `azureml.core.conda_dependencies`."""

from runyard.environments.conda import CondaDependencies

__all__ = ["CondaDependencies"]
