"""runyard: train TensorFlow and Keras models the Azure ML SDK v1 way, on your own machines.

The v1 names are importable from here and from runyard.core. They load on first use, so
`import runyard` stays fast (no MLflow, no TensorFlow).
"""

from __future__ import annotations

from runyard._version import __version__

_EXPORTS = {
    "Workspace": "runyard.workspace.workspace",
    "Experiment": "runyard.runs.experiment",
    "Run": "runyard.runs.run",
    "ScriptRunConfig": "runyard.runs.config",
    "RunConfiguration": "runyard.runs.config",
    "Environment": "runyard.environments.environment",
    "CondaDependencies": "runyard.environments.conda",
    "LocalCompute": "runyard.compute.targets",
    "ComputeTarget": "runyard.compute.targets",
    "AmlCompute": "runyard.compute.targets",
    "RayCompute": "runyard.compute.targets",
    "Dataset": "runyard.data.dataset",
    "Datastore": "runyard.data.datastore",
    "Model": "runyard.models.model",
    "InferenceConfig": "runyard.serving.configs",
    "Webservice": "runyard.serving.webservice",
    "RunyardError": "runyard.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runyard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
