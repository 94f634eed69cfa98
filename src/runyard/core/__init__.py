"""SDK v1 import path `azureml.core` -> `runyard.core`: re-exports only.

Each name loads on first use: `from runyard.core import Run` in a training script imports the
run's logging API alone (no datasets, no environments, no SQLAlchemy)."""

from runyard._version import __version__ as VERSION  # noqa: N812  (v1: azureml.core.VERSION; notebooks print it)

_EXPORTS = {"Workspace": "runyard.workspace.workspace", "Experiment": "runyard.runs.experiment",
            "Run": "runyard.runs.run", "ScriptRunConfig": "runyard.runs.config",
            "RunConfiguration": "runyard.runs.config", "Environment": "runyard.environments.environment",
            "Dataset": "runyard.data.dataset", "Datastore": "runyard.data.datastore",
            "Model": "runyard.models.model", "Webservice": "runyard.serving.webservice",
            "ComputeTarget": "runyard.compute.targets"}

__all__ = [*_EXPORTS, "VERSION"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'runyard.core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
