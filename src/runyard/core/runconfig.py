"""v1 `azureml.core.runconfig`."""

from runyard.runs.config import RunConfiguration

__all__ = ["RunConfiguration"]
