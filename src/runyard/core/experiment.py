"""v1 `azureml.core.experiment`."""

from runyard.runs.experiment import Experiment

__all__ = ["Experiment"]
