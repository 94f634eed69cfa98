"""v1 `azureml.core.run`."""

from runyard.runs.run import Run

__all__ = ["Run"]
