"""v1 `azureml.core.script_run_config`."""

from runyard.runs.config import ScriptRunConfig

__all__ = ["ScriptRunConfig"]
