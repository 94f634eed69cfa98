"""SDK v1 import path `azureml.core` -> `runyard.core`: re-exports only."""

from runyard.data.dataset import Dataset
from runyard.data.datastore import Datastore
from runyard.environments.environment import Environment
from runyard.runs.config import RunConfiguration, ScriptRunConfig
from runyard.runs.experiment import Experiment
from runyard.runs.run import Run
from runyard.workspace.workspace import Workspace

# Loaded on first use: they import SQLAlchemy, which a training job's imports must not need.
_LAZY = {"Model": "runyard.models.model", "Webservice": "runyard.serving.webservice",
         "ComputeTarget": "runyard.compute.targets"}

__all__ = ["Workspace", "Experiment", "Run", "ScriptRunConfig", "RunConfiguration", "Environment",
           "Dataset", "Datastore", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'runyard.core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
