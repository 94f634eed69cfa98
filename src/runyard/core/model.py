"""SDK v1 import path `azureml.core.model`: re-exports only."""

from runyard.models.model import Model
from runyard.models.resource_configuration import ResourceConfiguration
from runyard.serving.configs import InferenceConfig

__all__ = ["Model", "InferenceConfig", "ResourceConfiguration"]
