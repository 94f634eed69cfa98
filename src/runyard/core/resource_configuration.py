"""SDK v1 import path `azureml.core.resource_configuration`: re-exports only."""

from runyard.models.resource_configuration import ResourceConfiguration

__all__ = ["ResourceConfiguration"]
