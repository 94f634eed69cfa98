"""SDK v1 import path `azureml.core` -> `runyard.core`: re-exports only."""

from runyard.data.dataset import Dataset
from runyard.data.datastore import Datastore
from runyard.environments.environment import Environment
from runyard.runs.config import RunConfiguration, ScriptRunConfig
from runyard.runs.experiment import Experiment
from runyard.runs.run import Run
from runyard.workspace.workspace import Workspace

__all__ = ["Workspace", "Experiment", "Run", "ScriptRunConfig", "RunConfiguration", "Environment",
           "Dataset", "Datastore"]
