"""v1 `azureml.core.workspace`."""

from runyard.workspace.workspace import Workspace

__all__ = ["Workspace"]
