"""v1 `azureml.core.runconfig`."""

from runyard.distributed.configs import MpiConfiguration, TensorflowConfiguration
from runyard.runs.config import RunConfiguration

__all__ = ["RunConfiguration", "MpiConfiguration", "TensorflowConfiguration"]
