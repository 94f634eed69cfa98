"""v1 `azureml.core.datastore`."""

from runyard.data.datastore import Datastore

__all__ = ["Datastore"]
