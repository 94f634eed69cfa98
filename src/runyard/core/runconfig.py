"""v1 `azureml.core.runconfig` (which also re-exports CondaDependencies)."""

from runyard.data.data_reference import DataReferenceConfiguration
from runyard.distributed.configs import MpiConfiguration, TensorflowConfiguration
from runyard.environments.conda import CondaDependencies
from runyard.runs.config import DockerConfiguration, RunConfiguration

__all__ = ["RunConfiguration", "MpiConfiguration", "TensorflowConfiguration", "DockerConfiguration",
           "CondaDependencies", "DataReferenceConfiguration"]
